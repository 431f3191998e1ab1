/**
 * Search in Chromium (issue 16, item 6), between two people through the sync server. Ben looks for
 * a message Ada wrote long ago in a busy channel: the search box finds it by a word, shows who wrote
 * it, where and when, with the word marked; a click opens the channel scrolled to the message and
 * marks it. The results follow the channel while they are open (Ada edits the message: its old word
 * finds nothing, its new one finds it), and a `from:` naming no member says so.
 */
import { describe, expect, it } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import {
	createSpace,
	dismissNotices,
	inviteLink,
	onboard,
	screenshot,
	send,
	useBrowser
} from './browser.js';

const stage = useBrowser('search');

const texts = async (page: Page) =>
	(await page.getByRole('log').locator('.text').allTextContents()).map((t) =>
		t.replace(/\s*\(edited\)$/, '')
	);

/** Whether `item` is inside the visible part of the message log. */
async function inView(page: Page, item: Locator): Promise<boolean> {
	if (!(await item.count())) return false;
	const log = await page.getByRole('log').boundingBox();
	const box = await item.boundingBox();
	return !!log && !!box && box.y >= log.y - 1 && box.y + box.height <= log.y + log.height + 1;
}

describe('search in Chromium', () => {
	it('✓ Ben finds an old message by a word, a click opens the channel at it; results follow an edit; an unknown member is named', async () => {
		const ada = await stage.open('ada');
		await onboard(ada.page, 'Ada');
		await createSpace(ada.page, 'Book club');
		const OLD = 'We meet at the lighthouse café, map at https://example.org/lighthouse';
		await send(ada.page, OLD);
		for (let i = 1; i <= 40; i++) await send(ada.page, `chapter ${i} notes`);
		await expect.poll(() => texts(ada.page).then((t) => t.at(-1))).toBe('chapter 40 notes');
		// and #books, where the message Ben looks for second is far up too
		await ada.page.getByRole('button', { name: 'Space settings' }).click();
		await ada.page.getByRole('tab', { name: 'Channels' }).click();
		await ada.page.getByLabel('New channel name').fill('books');
		await ada.page.getByRole('dialog').getByRole('button', { name: 'Create channel' }).click();
		await ada.page.getByText('#books created').waitFor();
		await ada.page.keyboard.press('Escape');
		await ada.page.getByRole('button', { name: 'books', exact: true }).click();
		await expect.poll(() => ada.page.getByTestId('channel-name').textContent()).toBe('books');
		await send(ada.page, 'Moby Dick is next month');
		for (let i = 1; i <= 30; i++) await send(ada.page, `page ${i} thoughts`);
		await expect.poll(() => texts(ada.page).then((t) => t.at(-1))).toBe('page 30 thoughts');
		await ada.page.getByRole('button', { name: 'general', exact: true }).click();
		const link = await inviteLink(ada.page);

		const ben = await stage.open('ben', { url: link });
		await onboard(ben.page, 'Ben');
		await ben.page.getByRole('button', { name: 'Join space' }).click();
		await expect
			.poll(() => texts(ben.page).then((t) => t.at(-1)), { timeout: 30_000 })
			.toBe('chapter 40 notes');
		const page = ben.page;
		const target = page.getByRole('log').locator('.message', { hasText: 'lighthouse café' });
		// the old message is far above what Ben sees
		expect(await inView(page, target)).toBe(false);

		// ✓ a word finds it, accent or not: who, where, and the word marked
		const box = page.getByTestId('search');
		await box.fill('lighthouse cafe');
		const results = page.getByTestId('search-result');
		await expect.poll(() => results.count(), { timeout: 10_000 }).toBe(1);
		const hit = results.first();
		expect(await hit.textContent()).toContain('Ada');
		expect(await hit.textContent()).toContain('#general');
		expect(await hit.locator('mark').allTextContents()).toEqual([
			'lighthouse',
			'café',
			'lighthouse'
		]);
		await dismissNotices(page);
		await box.focus();
		await page.mouse.move(0, 0);
		await screenshot(page, 'search-01-results');

		// ✓ a click opens the channel scrolled to the message, marked for a moment
		await hit.click();
		await expect.poll(() => inView(page, target), { timeout: 10_000 }).toBe(true);
		expect(await target.getAttribute('class')).toContain('found');
		await page.mouse.move(0, 0);
		await screenshot(page, 'search-02-opened');
		await expect.poll(() => page.getByTestId('search-results').count()).toBe(0);

		// ✓ a result in another channel opens that channel, scrolled to the message
		await box.fill('moby');
		await expect.poll(() => results.count()).toBe(1);
		expect(await results.first().textContent()).toContain('#books');
		await results.first().click();
		await expect.poll(() => page.getByTestId('channel-name').textContent()).toBe('books');
		const moby = page.getByRole('log').locator('.message', { hasText: 'Moby Dick' });
		await expect.poll(() => inView(page, moby), { timeout: 10_000 }).toBe(true);
		expect(await moby.getAttribute('class')).toContain('found');
		await page.getByRole('button', { name: 'general', exact: true }).click();

		// ✓ operators narrow, and a name that is no member is named
		await box.fill('notes from:ada has:link');
		await expect
			.poll(() => page.getByTestId('search-results').textContent())
			.toContain('No messages match');
		await box.fill('chapter 7 from:ada');
		await expect.poll(() => results.count()).toBe(1);
		await box.fill('lighthouse from:zelda');
		await expect
			.poll(() => page.getByTestId('search-problem').textContent())
			.toContain('no member called “zelda” in this space');

		// ✓ the open results follow the channel: Ada edits the message, its old words find nothing
		await box.fill('lighthouse');
		await expect.poll(() => results.count()).toBe(1);
		const mine = ada.page.getByRole('log').locator('.message', { hasText: 'lighthouse café' });
		await mine.scrollIntoViewIfNeeded();
		await mine.hover();
		await mine.getByRole('button', { name: 'Edit message' }).click();
		await ada.page
			.getByRole('textbox', { name: 'Edit message' })
			.fill('We meet at the harbour instead');
		await ada.page.getByRole('textbox', { name: 'Edit message' }).press('Enter');
		await expect
			.poll(() => page.getByTestId('search-results').textContent(), { timeout: 20_000 })
			.toContain('No messages match');
		await box.fill('harbour');
		await expect.poll(() => results.count()).toBe(1);
		expect(await results.first().textContent()).toContain('We meet at the harbour instead');
		// ✓ Escape clears the box
		await box.press('Escape');
		expect(await box.inputValue()).toBe('');
	});
});
