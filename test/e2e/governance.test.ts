/**
 * Governance in Chromium: a space changes hands, survives its owner, loses a member and ends.
 * - Ada hands the Studio over to Ben (the app asks first); every browser shows Ben as the owner.
 * - Ben names Ada and Cy his successors, both needed. Ada alone approving Cy moves nothing; once Cy
 *   approves too, Cy owns the Studio in every browser.
 * - Ada leaves: what Cy writes afterwards reaches Ben, never Ada.
 * - Cy deletes the Studio (the app asks first): Ben's browser drops it and shows it as deleted.
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import {
	createIdentity,
	screenshot,
	joinSpace,
	setProfile,
	type User,
	useBrowser
} from './browser.js';

const stage = useBrowser('governance', { per: 'file' });
const users: Record<string, User> = {};
let invite = '';

/** Opens a person's browser; the native dialogs it opens are in `dialogs` (there must be none). */
async function open(label: string): Promise<User> {
	return (users[label] = await stage.open(label));
}

const texts = async (page: Page) =>
	(await page.getByRole('log').locator('.text').allTextContents()).map((t) =>
		t.replace(/ \(edited\)$/, '').replace(/·.*$/, '')
	);
const send = async (page: Page, text: string) => {
	await page.getByLabel('Message', { exact: true }).fill(text);
	await page.getByLabel('Message', { exact: true }).press('Enter');
};
/** The app's own confirmation dialog. */
const confirmation = (page: Page) => page.getByRole('alertdialog');
async function closeDialogs(page: Page) {
	for (let i = 0; i < 3 && (await page.locator('dialog[open]').count()); i++)
		await page.keyboard.press('Escape');
}
/** The owner as the Overview tab of the space settings names them. */
async function ownerShown(page: Page): Promise<string> {
	await closeDialogs(page);
	await page.getByRole('button', { name: 'Space settings' }).click();
	const owner = (await page.getByTestId('owner').textContent()) ?? '';
	await page.keyboard.press('Escape');
	return owner.trim();
}

describe('governance in the web client', () => {
	it('✓ Ada creates the Studio; Ben and Cy join with her invite', async () => {
		const { page } = await open('ada');
		await createIdentity(page);
		await setProfile(page, 'Ada');
		await page.getByRole('button', { name: 'Add a space' }).click();
		await page.getByLabel('Space name').fill('Studio');
		await page.getByRole('button', { name: 'Create space' }).click();
		await expect.poll(() => page.getByTestId('space-name').textContent()).toBe('Studio');
		await send(page, 'Welcome to the Studio');
		await page.getByRole('button', { name: 'Space settings' }).click();
		await page.getByRole('tab', { name: 'Invites' }).click();
		await page.getByLabel('Max uses (0 = no limit)').fill('5');
		await page.getByRole('button', { name: 'Create invite' }).click();
		invite = await page.getByTestId('invite-link').inputValue();
		await page.keyboard.press('Escape');
		for (const [label, name] of [
			['ben', 'Ben'],
			['cy', 'Cy']
		] as const) {
			const user = await open(label);
			await createIdentity(user.page);
			await setProfile(user.page, name);
			await joinSpace(user.page, invite, 'Studio');
			await expect
				.poll(() => texts(user.page), { timeout: 20_000 })
				.toContain('Welcome to the Studio');
		}
		const members = page.getByRole('complementary', { name: 'Members' });
		await expect.poll(() => members.textContent(), { timeout: 20_000 }).toContain('Cy');
	});

	it('✓ Ada hands the Studio over to Ben, after the app asks; every browser shows Ben as the owner', async () => {
		const { page } = users.ada!;
		await page.getByRole('button', { name: 'Space settings' }).click();
		await page.getByLabel('New owner').selectOption({ label: 'Ben' });
		await page.getByRole('button', { name: 'Hand over' }).click();
		await confirmation(page).getByRole('button', { name: 'Hand over' }).click();
		await page.getByText('Ben now owns Studio').waitFor();
		await page.keyboard.press('Escape');
		await expect.poll(() => ownerShown(page)).toBe('Ben');
		await expect.poll(() => ownerShown(users.ben!.page), { timeout: 20_000 }).toBe('Ben (you)');
		await expect.poll(() => ownerShown(users.cy!.page), { timeout: 20_000 }).toBe('Ben');
	});

	it('✓ Ben names Ada and Cy his successors, both needed: one approval moves nothing, the second makes Cy the owner everywhere', async () => {
		const ben = users.ben!.page;
		await closeDialogs(ben);
		await ben.getByRole('button', { name: 'Space settings' }).click();
		const form = ben.getByTestId('successors');
		await form.getByLabel('Ada').check();
		await form.getByLabel('Cy').check();
		await form.getByLabel('Approvals needed').fill('2');
		await form.getByRole('button', { name: 'Save successors' }).click();
		await ben.getByText('Successors saved').waitFor();
		await screenshot(ben, 'g01-successors');
		await ben.keyboard.press('Escape');
		// Ben loses every key (his browser stays away from here on); Ada approves Cy
		for (const [label, count] of [
			['ada', 1],
			['cy', 2]
		] as const) {
			const { page } = users[label]!;
			await closeDialogs(page);
			await page.getByRole('button', { name: 'Space settings' }).click();
			const succession = page.getByTestId('succession');
			await succession.waitFor({ timeout: 20_000 });
			await succession
				.getByLabel('Next owner')
				.selectOption({ label: label === 'cy' ? 'Cy (you)' : 'Cy' });
			await succession.getByRole('button', { name: 'Approve as owner' }).click();
			await confirmation(page).getByRole('button', { name: 'Approve' }).click();
			await page.getByText('You approved Cy').waitFor();
			if (count === 1) {
				await screenshot(page, 'g02-one-approval');
				await page.keyboard.press('Escape');
				// ✓ one approval of the two needed: Ben still owns the Studio, for everyone
				await expect
					.poll(
						async () => {
							await users.cy!.page.getByRole('button', { name: 'Space settings' }).click();
							const shown = await users.cy!.page.getByTestId('approvals').count();
							await users.cy!.page.keyboard.press('Escape');
							return shown;
						},
						{ timeout: 20_000 }
					)
					.toBe(1);
				expect(await ownerShown(page)).toBe('Ben');
				expect(await ownerShown(users.cy!.page)).toBe('Ben');
			} else await page.keyboard.press('Escape');
		}
		// ✓ the second approval: Cy owns the Studio in every browser
		await expect.poll(() => ownerShown(users.cy!.page), { timeout: 20_000 }).toBe('Cy (you)');
		await expect.poll(() => ownerShown(users.ada!.page), { timeout: 20_000 }).toBe('Cy');
		await expect.poll(() => ownerShown(ben), { timeout: 20_000 }).toBe('Cy');
	});

	it('✓ Ada leaves: what Cy writes afterwards reaches Ben, never Ada', async () => {
		const { page } = users.ada!;
		await closeDialogs(page);
		await page.getByRole('button', { name: 'Space settings' }).click();
		await page.getByRole('button', { name: 'Leave space' }).click();
		await confirmation(page).getByRole('button', { name: 'Leave space' }).click();
		await page.getByTestId('removed').waitFor({ timeout: 20_000 });
		const members = users.cy!.page.getByRole('complementary', { name: 'Members' });
		await expect.poll(() => members.textContent(), { timeout: 20_000 }).not.toContain('Ada');
		await send(users.cy!.page, 'Just the two of us now');
		// ✓ Ben reads it (sync caught up) ...
		await expect
			.poll(() => texts(users.ben!.page), { timeout: 20_000 })
			.toContain('Just the two of us now');
		// ... Ada does not: her browser holds no key it is sealed under
		expect(await page.getByRole('log').count()).toBe(0);
		expect(await page.getByText('Just the two of us now').count()).toBe(0);
		await screenshot(page, 'g03-left');
	});

	it('✓ Cy deletes the Studio, after the app asks: Ben’s browser drops it and shows it as deleted', async () => {
		const { page } = users.cy!;
		const ben = users.ben!.page;
		await closeDialogs(page);
		await closeDialogs(ben);
		await page.getByRole('button', { name: 'Space settings' }).click();
		await page.getByRole('button', { name: 'Delete space' }).click();
		await confirmation(page).waitFor();
		expect(await confirmation(page).textContent()).toContain('cannot be undone');
		await screenshot(page, 'g04-delete-space');
		await confirmation(page).getByRole('button', { name: 'Delete space' }).click();
		await page.getByText('Studio deleted').waitFor();
		// ✓ gone from both browsers, listed as deleted
		for (const p of [page, ben]) {
			await expect.poll(() => p.getByText('No spaces yet').count(), { timeout: 30_000 }).toBe(1);
			await p.getByTestId('deleted-space').waitFor();
		}
		await screenshot(ben, 'g05-space-deleted');
		await ben.getByTestId('deleted-space').click();
		expect(await confirmation(ben).textContent()).toContain('Studio was deleted');
		await confirmation(ben).getByRole('button', { name: 'Remove from list' }).click();
		await expect.poll(() => ben.getByTestId('deleted-space').count()).toBe(0);
		for (const user of Object.values(users)) expect(user.dialogs).toEqual([]);
	});
});
