/**
 * Threads in Chromium (issue 16, item 1), between two people through the sync server. Ben asks a
 * question in #general; Ada opens a thread on it and answers there. Ben sees "1 reply" under his
 * question — and not the answer in #general — and his "Threads" indicator shows the thread unread;
 * he opens it, reads the answer, the indicator clears, and his reply in the thread reaches Ada's
 * open panel.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Locator, Page } from 'playwright-core';
import {
	adaInvitesBen,
	closeUsers,
	dismissNotices,
	launch,
	openUser,
	screenshot,
	send,
	type User
} from './browser.js';

let browser: Browser;
let users: User[] = [];

async function open(label: string, url = inject('baseUrl')): Promise<User> {
	const user = await openUser(browser, label, { url });
	users.push(user);
	return user;
}

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

beforeAll(async () => {
	browser = await launch();
});
afterEach(async (context) => {
	const problems = await closeUsers(users, 'threads', context.task.result?.state === 'fail');
	users = [];
	expect(problems).toEqual([]);
});
afterAll(async () => {
	await browser?.close();
});

describe('threads in Chromium', () => {
	it('✓ Ada answers Ben’s question in a thread: Ben sees "1 reply" and the thread unread, opens it, reads the answer, and it is read', async () => {
		const { ada, ben } = await adaInvitesBen(open, texts);
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
});
