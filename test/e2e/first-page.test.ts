/**
 * A person opens the web client: creates an identity, sees the 24-word phrase, creates a space,
 * sends a message, reloads, and the message is still there (IndexedDB).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { ARTIFACTS, launch } from './browser.js';

let browser: Browser;
beforeAll(async () => {
	browser = await launch();
});
afterAll(async () => {
	await browser?.close();
});

describe('the web client in Chromium', () => {
	it('✓ identity, space, message — and it survives a reload', async () => {
		const context = await browser.newContext();
		const page = await context.newPage();
		const errors: string[] = [];
		page.on('pageerror', (e) => errors.push(e.message));
		await page.goto(inject('baseUrl'));
		await page.getByRole('button', { name: 'Create identity' }).click();
		await expect.poll(() => page.getByTestId('phrase').locator('li').count()).toBe(24);
		await page.screenshot({ path: `${ARTIFACTS}/onboarding-phrase.png` });
		await page.getByRole('button', { name: 'I wrote it down' }).click();
		await page.getByLabel('Space name').fill('Reading circle');
		await page.getByRole('button', { name: 'Create space' }).click();
		await expect.poll(() => page.getByTestId('space-name').textContent()).toBe('Reading circle');
		await page.getByLabel('Message').fill('hello from chromium');
		await page.getByRole('button', { name: 'Send' }).click();
		await page.getByText('hello from chromium').waitFor();
		await page.screenshot({ path: `${ARTIFACTS}/space-with-message.png` });
		await page.reload();
		await page.getByText('hello from chromium').waitFor({ timeout: 20_000 });
		expect(await page.getByTestId('space-name').textContent()).toBe('Reading circle');
		expect(errors).toEqual([]);
		await context.close();
	});
});
