/**
 * Threads in Chromium (issue 16, item 1), between two people through the sync server. Ben asks a
 * question in #general; Ada opens a thread on it and answers there. Ben sees "1 reply" under his
 * question — and not the answer in #general — and his "Threads" indicator shows the thread unread;
 * he opens it, reads the answer, the indicator clears, and his reply in the thread reaches Ada's
 * open panel.
 */
import { describe, expect, it } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import {
	adaInvitesBen,
	composer,
	dismissNotices,
	screenshot,
	send,
	useBrowser
} from './browser.js';

const stage = useBrowser('threads');

/** The texts of the channel's list (the thread panel's are not among them). */
const texts = (page: Page) => page.getByTestId('messages').locator('.text').allTextContents();
/** The texts of the open thread: its root first, then its messages. */
const threadTexts = (page: Page) =>
	page.getByTestId('thread-panel').locator('.text').allTextContents();
const message = (page: Page, text: string): Locator =>
	page
		.getByTestId('messages')
		.locator('.message', { has: page.locator('.text', { hasText: text }) });
/** The line under a root: "2 replies · last reply 10:42 AM". */
const summary = (page: Page, text: string) =>
	message(page, text)
		.getByTestId('thread-summary')
		.textContent()
		.then((t) => t?.replace(/\s+/g, ' ').trim());
const threadsUnread = (page: Page) =>
	page
		.getByTestId('threads-unread')
		.count()
		.then(async (n) => (n ? await page.getByTestId('threads-unread').textContent() : ''));

describe('threads in Chromium', () => {
	it('✓ Ada answers Ben’s question in a thread: Ben sees "1 reply" and the thread unread, opens it, reads the answer, and it is read', async () => {
		const { ada, ben } = await adaInvitesBen(stage, texts);
		await send(ben.page, 'Which book first?');
		await expect
			.poll(() => texts(ben.page), { timeout: 20_000 })
			.toEqual(['Welcome!', 'Which book first?']);
		await expect
			.poll(() => texts(ada.page), { timeout: 30_000 })
			.toEqual(['Welcome!', 'Which book first?']);
		// Ada opens a thread on Ben's question and answers there
		const question = message(ada.page, 'Which book first?');
		await question.hover();
		await question.getByRole('button', { name: 'Reply in thread' }).click();
		const adaBox = ada.page.getByRole('textbox', { name: 'Message in thread' });
		await adaBox.fill('Dune, obviously');
		await adaBox.press('Enter');
		await expect
			.poll(() => threadTexts(ada.page), { timeout: 20_000 })
			.toEqual(['Which book first?', 'Dune, obviously']);

		// ✓ Ben: "1 reply" under his question, the answer not in #general, the thread unread
		await expect
			.poll(() => message(ben.page, 'Which book first?').getByTestId('thread-summary').count(), {
				timeout: 30_000
			})
			.toBe(1);
		expect(await summary(ben.page, 'Which book first?')).toMatch(/^1 reply · last reply /);
		expect(await texts(ben.page)).toEqual(['Welcome!', 'Which book first?']);
		await expect.poll(() => threadsUnread(ben.page), { timeout: 20_000 }).toBe('1');
		await dismissNotices(ben.page);
		await screenshot(ben.page, '60-thread-summary');

		// ✓ he opens it: the question and Ada's answer; the thread is read, the indicator clears
		await message(ben.page, 'Which book first?').getByTestId('thread-summary').click();
		await expect
			.poll(() => threadTexts(ben.page), { timeout: 20_000 })
			.toEqual(['Which book first?', 'Dune, obviously']);
		await expect.poll(() => threadsUnread(ben.page), { timeout: 20_000 }).toBe('');

		// ✓ his reply in the thread reaches Ada's open panel, and #general stays as it was
		const benBox = ben.page.getByRole('textbox', { name: 'Message in thread' });
		await benBox.fill('Agreed!');
		await benBox.press('Enter');
		await expect
			.poll(() => threadTexts(ada.page), { timeout: 30_000 })
			.toEqual(['Which book first?', 'Dune, obviously', 'Agreed!']);
		await expect
			.poll(() => summary(ada.page, 'Which book first?'), { timeout: 20_000 })
			.toMatch(/^2 replies · last reply /);
		expect(await texts(ada.page)).toEqual(['Welcome!', 'Which book first?']);
		await dismissNotices(ada.page);
		await screenshot(ada.page, '61-thread-panel');

		// ✓ the Threads indicator lists it for Ada too (she wrote in it), nothing unread
		await ada.page.getByTestId('threads-button').click();
		await expect
			.poll(() => ada.page.getByRole('list', { name: 'Your threads' }).getByRole('button').count())
			.toBe(1);
	});

	it('✓ from Ben’s card Ada messages him in a new thread: her message mentions him and opens as a thread; Ben follows it and his reply there reaches her', async () => {
		const { ada, ben } = await adaInvitesBen(stage, texts);
		// Ada opens Ben's card in the member list: "Message in a new thread"
		await ada.page
			.getByRole('complementary', { name: 'Members' })
			.getByTestId('member')
			.filter({ hasText: 'Ben' })
			.click();
		const card = ada.page.getByTestId('member-popover');
		await card.getByRole('button', { name: 'Message in a new thread' }).click();
		expect(await card.count()).toBe(0);
		// ✓ the composer says a thread with Ben starts, and mentions him
		await expect
			.poll(() => ada.page.getByTestId('new-thread').textContent())
			.toContain('New thread with Ben');
		await expect.poll(() => composer(ada.page).inputValue()).toBe('@Ben ');
		await composer(ada.page).pressSequentially('which chapter are you on?');
		await dismissNotices(ada.page);
		await screenshot(ada.page, '62-new-thread-from-card');
		await composer(ada.page).press('Enter');
		// ✓ sent in #general, it is the root of a thread that opens beside it, ready for the reply
		await expect
			.poll(() => threadTexts(ada.page), { timeout: 20_000 })
			.toEqual(['@Ben which chapter are you on?']);
		expect(await texts(ada.page)).toEqual(['Welcome!', '@Ben which chapter are you on?']);
		expect(await ada.page.getByTestId('new-thread').count()).toBe(0);
		await expect
			.poll(() => ada.page.evaluate(() => document.activeElement?.getAttribute('aria-label')))
			.toBe('Message in thread');
		await ada.page.keyboard.type('no spoilers please');
		await ada.page.keyboard.press('Enter');
		await expect
			.poll(() => threadTexts(ada.page), { timeout: 20_000 })
			.toEqual(['@Ben which chapter are you on?', 'no spoilers please']);

		// ✓ Ben: the root mentions him, and he follows the thread (mentioned in it): one unread
		await expect
			.poll(
				() => message(ben.page, '@Ben which chapter are you on?').getAttribute('data-mentions-me'),
				{ timeout: 30_000 }
			)
			.toBe('true');
		await expect.poll(() => threadsUnread(ben.page), { timeout: 20_000 }).toBe('1');
		// he opens it and answers there; Ada's open panel shows it
		await expect
			.poll(() =>
				message(ben.page, '@Ben which chapter are you on?').getByTestId('thread-summary').count()
			)
			.toBe(1);
		await message(ben.page, '@Ben which chapter are you on?').getByTestId('thread-summary').click();
		const benBox = ben.page.getByRole('textbox', { name: 'Message in thread' });
		await benBox.fill('Chapter 3');
		await benBox.press('Enter');
		await expect
			.poll(() => threadTexts(ada.page), { timeout: 30_000 })
			.toEqual(['@Ben which chapter are you on?', 'no spoilers please', 'Chapter 3']);
	});
});
