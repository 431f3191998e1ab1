/**
 * Ada opens the web client in Chromium: she creates an identity and sees her 24-word recovery
 * phrase, creates a space, sends a message, reloads (IndexedDB keeps everything), opens a second tab
 * (the two tabs sync through the sync server), and restores her identity on another browser profile,
 * where the space's history arrives as ciphertext from the sync server and opens with her keys.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launch, screenshot, watchProblems } from './browser.js';

let browser: Browser;
let laptop: BrowserContext;
let tab: Page;
/** Uncaught exceptions and console errors or warnings of every page: there must be none. */
const problems: string[] = [];
let tabProblems: string[] = [];
let phrase: string[] = [];
let userId = '';

beforeAll(async () => {
	browser = await launch();
	laptop = await browser.newContext();
	tab = await laptop.newPage();
	tabProblems = watchProblems(tab, 'tab 1');
});
afterAll(async () => {
	await browser?.close();
	expect([...tabProblems, ...problems]).toEqual([]);
});

const messages = (page: Page) => page.getByRole('log').locator('.text');

describe('the web client in Chromium', () => {
	it('✓ Ada creates an identity and sees her 24-word recovery phrase', async () => {
		await tab.goto(inject('baseUrl'));
		await tab.getByRole('button', { name: 'Create identity' }).waitFor();
		await screenshot(tab, '1-onboarding');
		await tab.getByRole('button', { name: 'Create identity' }).click();
		const words = tab.getByTestId('phrase').locator('li');
		await expect.poll(() => words.count()).toBe(24);
		phrase = await words.allTextContents();
		expect(phrase.every((w) => /^[a-z]+$/.test(w))).toBe(true);
		userId = (await tab.getByTestId('user-id').textContent()) ?? '';
		expect(userId).toMatch(/^user_[1-9A-HJ-NP-Za-km-z]+$/);
		await screenshot(tab, '2-recovery-phrase');
		await tab.getByRole('button', { name: 'I wrote it down' }).click();
		await expect.poll(() => tab.getByTestId('phrase').count()).toBe(0);
	});

	it('✓ she creates a space, sends a message, and it is listed', async () => {
		await tab.getByLabel('Space name').fill('Reading circle');
		await tab.getByRole('button', { name: 'Create space' }).click();
		await expect.poll(() => tab.getByTestId('space-name').textContent()).toBe('Reading circle');
		await tab.getByLabel('Message', { exact: true }).fill('hello from chromium');
		await tab.getByRole('button', { name: 'Send' }).click();
		await expect.poll(() => messages(tab).allTextContents()).toEqual(['hello from chromium']);
		await expect.poll(() => tab.getByTestId('status').textContent()).toContain('Online');
		await screenshot(tab, '3-space-with-message');
	});

	it('✓ after a reload everything is still there (IndexedDB)', async () => {
		await tab.reload();
		await expect
			.poll(() => messages(tab).allTextContents(), { timeout: 20_000 })
			.toEqual(['hello from chromium']);
		expect(await tab.getByTestId('space-name').textContent()).toBe('Reading circle');
		expect(await tab.getByTestId('user-id').textContent()).toBe(userId);
		await screenshot(tab, '4-after-reload');
	});

	it('✓ with the network cut, a reload still opens the app with its spaces and messages (PWA)', async () => {
		// a page of its own: while offline the browser reports failed WebSocket connections, as it should
		const page = await laptop.newPage();
		await page.goto(inject('baseUrl'));
		await messages(page).first().waitFor();
		await page.evaluate(async () => {
			const registration = await navigator.serviceWorker.ready;
			if (!navigator.serviceWorker.controller)
				await new Promise((r) =>
					navigator.serviceWorker.addEventListener('controllerchange', r, { once: true })
				);
			return registration.active?.state;
		});
		await laptop.setOffline(true);
		await page.reload();
		await messages(page).first().waitFor({ timeout: 20_000 });
		expect(await messages(page).allTextContents()).toContain('hello from chromium');
		await screenshot(page, '4b-offline-reload');
		await laptop.setOffline(false);
		await page.close();
	});

	it('✓ a second tab sees the message, and its reply reaches the first tab', async () => {
		const second = await laptop.newPage();
		const seen = watchProblems(second, 'tab 2');
		await second.goto(inject('baseUrl'));
		await expect
			.poll(() => messages(second).allTextContents(), { timeout: 20_000 })
			.toEqual(['hello from chromium']);
		await second.getByLabel('Message', { exact: true }).fill('reply from the second tab');
		await second.getByRole('button', { name: 'Send' }).click();
		await expect
			.poll(() => messages(tab).allTextContents(), { timeout: 20_000 })
			.toEqual(['hello from chromium', 'reply from the second tab']);
		await screenshot(tab, '5-reply-from-second-tab');
		await second.close();
		problems.push(...seen);
	});

	it('✓ on another browser profile, her phrase restores her, and the space opens with its history', async () => {
		const spaceId = (await tab.getByTestId('space-id').textContent()) ?? '';
		expect(spaceId).toMatch(/^space_/);
		const desktop = await browser.newContext();
		const page = await desktop.newPage();
		const seen = watchProblems(page, 'restore');
		await page.goto(inject('baseUrl'));
		await page.getByRole('button', { name: 'I have a recovery phrase' }).click();
		await page.getByLabel('Recovery phrase').fill(phrase.join(' '));
		await page.getByRole('button', { name: 'Restore identity' }).click();
		await expect.poll(() => page.getByTestId('user-id').textContent()).toBe(userId);
		await page.getByText('Open a space by id').click();
		await page.getByLabel('Space id').fill(spaceId);
		await page.getByRole('button', { name: 'Open space' }).click();
		await expect
			.poll(() => messages(page).allTextContents(), { timeout: 20_000 })
			.toEqual(['hello from chromium', 'reply from the second tab']);
		expect(await page.getByTestId('space-name').textContent()).toBe('Reading circle');
		const spaceList = page.getByRole('navigation', { name: 'Spaces' }).getByRole('listitem');
		await expect.poll(() => spaceList.allTextContents()).toEqual(['Reading circle']);
		await screenshot(page, '6-restored-device');
		await desktop.close();
		problems.push(...seen);
	});

	it('✓ a wrong phrase is refused with a clear message', async () => {
		const context = await browser.newContext();
		const page = await context.newPage();
		await page.goto(inject('baseUrl'));
		await page.getByRole('button', { name: 'I have a recovery phrase' }).click();
		await page.getByLabel('Recovery phrase').fill('abandon abandon abandon');
		await page.getByRole('button', { name: 'Restore identity' }).click();
		await expect.poll(() => page.getByRole('alert').textContent()).toContain('24 words');
		await context.close();
	});
});
