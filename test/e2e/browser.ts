/** Debian's Chromium driven by playwright-core; never a downloaded browser. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Page } from 'playwright-core';
import { expect } from 'vitest';

export { chromiumPath, launch } from '../support/chromium.js';

/** Where screenshots go (git-ignored). */
export const ARTIFACTS = 'test-results/screenshots';
mkdirSync(ARTIFACTS, { recursive: true });
export const screenshot = (page: Page, name: string) =>
	page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

/**
 * Collects uncaught exceptions and console errors/warnings of a page, to assert there are none.
 * `offline`: the page's network will be cut, so the browser's own reports of failed WebSocket
 * connections are expected and ignored.
 */
export function watchProblems(page: Page, label = 'page', { offline = false } = {}): string[] {
	const problems: string[] = [];
	const expected = (text: string) =>
		offline && /WebSocket|ERR_INTERNET_DISCONNECTED|Failed to load resource/.test(text);
	page.on('pageerror', (e) => problems.push(`${label} uncaught: ${e.message}`));
	page.on('console', (m) => {
		if ((m.type() === 'error' || m.type() === 'warning') && !expected(m.text()))
			problems.push(`${label} console.${m.type()}: ${m.text()}`);
	});
	return problems;
}

/**
 * Creates an identity in the onboarding: shows the phrase, answers the three-word check and confirms.
 * Returns the 24 words. The display-name step comes next (each test decides what to do with it).
 * `shots` names the screenshots taken of the phrase and of the check, if wanted.
 */
export async function answerPhrase(
	page: Page,
	shots?: { phrase: string; check: string }
): Promise<string[]> {
	await page.getByRole('button', { name: 'Create identity' }).click();
	const words = page.getByTestId('phrase').locator('.w');
	await expect.poll(() => words.count()).toBe(24);
	const list = await words.allTextContents();
	if (shots) await screenshot(page, shots.phrase);
	await page.getByRole('button', { name: 'I wrote it down' }).click();
	const asked = page.getByRole('textbox', { name: /Word #\d+/ });
	await expect.poll(() => asked.count()).toBe(3);
	for (const input of await asked.all()) {
		const label = await input.evaluate((el) => el.closest('label')?.textContent ?? '');
		await input.fill(list[Number(/#(\d+)/.exec(label)![1]) - 1]!);
	}
	if (shots) await screenshot(page, shots.check);
	await page.getByRole('button', { name: 'Confirm' }).click();
	return list;
}

/** `answerPhrase`, then skips the display-name step (first-day-a.test.ts covers it). */
export async function createIdentity(
	page: Page,
	shots?: { phrase: string; check: string }
): Promise<string[]> {
	const list = await answerPhrase(page, shots);
	await page.getByRole('button', { name: 'Skip for now' }).click();
	await page.getByTestId('user-id').waitFor();
	return list;
}
