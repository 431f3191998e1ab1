/**
 * Presence and typing in Chromium (issue 16, item 7), between two people through the sync server.
 * Ada and Ben are in Ada's space: each sees the other's dot online in the member list. Ben types in
 * #general: under Ada's composer, "Ben is typing…"; he sends, and the line goes. Ben turns presence
 * off ("appear offline"): his dot goes grey on Ada's screen.
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { adaInvitesBen, composer, dismissNotices, screenshot, useBrowser } from './browser.js';

const stage = useBrowser('presence');

const texts = (page: Page) => page.getByRole('log').locator('.text').allTextContents();
/** The dot of a member in the member list (by the name shown). */
const dotOf = (page: Page, name: string) =>
	page
		.getByRole('complementary', { name: 'Members' })
		.locator('li', { hasText: name })
		.getByTestId('presence');

const setup = () => adaInvitesBen(stage, texts);

describe('presence and typing in Chromium', () => {
	it('✓ Ada sees Ben online and "Ben is typing…" while he types; it goes when he sends; he can appear offline', async () => {
		const { ada, ben } = await setup();
		// ✓ each sees the other online
		await expect
			.poll(() => dotOf(ada.page, 'Ben').getAttribute('aria-label'), { timeout: 30_000 })
			.toBe('online');
		await expect
			.poll(() => dotOf(ben.page, 'Ada').getAttribute('aria-label'), { timeout: 30_000 })
			.toBe('online');
		const typing = ada.page.getByTestId('typing');
		expect(await typing.textContent()).toBe('');

		// ✓ Ben types: Ada sees it under her composer
		await composer(ben.page).pressSequentially('I think the ending', { delay: 20 });
		await expect.poll(() => typing.textContent(), { timeout: 20_000 }).toBe('Ben is typing…');
		// ✓ Ben does not see his own typing
		expect(await ben.page.getByTestId('typing').textContent()).toBe('');
		await dismissNotices(ada.page);
		await ada.page.mouse.move(0, 0);
		await screenshot(ada.page, 'p01-typing-presence');

		// ✓ he sends: the message arrives and the line goes
		await composer(ben.page).press('Enter');
		await expect.poll(() => texts(ada.page), { timeout: 20_000 }).toContain('I think the ending');
		await expect.poll(() => typing.textContent(), { timeout: 5_000 }).toBe('');

		// ✓ Ben appears offline: his dot goes grey for Ada
		await ben.page.getByRole('button', { name: 'User settings' }).first().click();
		await ben.page.getByTestId('share-presence').uncheck();
		await ben.page.keyboard.press('Escape');
		await expect
			.poll(() => dotOf(ada.page, 'Ben').getAttribute('aria-label'), { timeout: 20_000 })
			.toBe('offline');
		// and his typing is no longer sent
		await composer(ben.page).pressSequentially('secret', { delay: 20 });
		await composer(ben.page).press('Enter');
		await expect.poll(() => texts(ada.page), { timeout: 20_000 }).toContain('secret');
		expect(await typing.textContent()).toBe('');
	});
});
