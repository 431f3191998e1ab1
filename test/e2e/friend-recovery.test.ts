/**
 * Friend recovery in Chromium. Dana chooses Ana and Ben, members of her garden space, as recovery
 * friends (any two) in User settings → Recovery. Her browser is gone; in a fresh one she asks her
 * friends from the onboarding, Ana approves in her own browser (pasting the code, checking the
 * digits, naming who asks), Ben from his Node client — and Dana is back: same user id, her space and
 * its history.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { Page } from 'playwright-core';
import { Charter, type UserId } from '../../src/lib/index.js';
import { createIdentity, screenshot, setProfile, useBrowser } from './browser.js';

const stage = useBrowser('friend-recovery');
const open = (label: string) => stage.open(label);
const clients: Charter[] = [];

afterAll(async () => {
	for (const c of clients) await c.close();
});

const texts = (page: Page) => page.getByRole('log').locator('.text').allTextContents();

describe('friend recovery in the web client', () => {
	it('✓ Dana picks two friends; in a new browser, their two approvals bring her identity and space back', async () => {
		const dana = await open('dana');
		await createIdentity(dana.page);
		const danaId = ((await dana.page.getByTestId('user-id').textContent()) ?? '') as UserId;
		await setProfile(dana.page, 'Dana');
		await dana.page.getByRole('button', { name: 'Add a space' }).click();
		await dana.page.getByLabel('Space name').fill('Garden');
		await dana.page.getByRole('button', { name: 'Create space' }).click();
		await expect.poll(() => dana.page.getByTestId('space-name').textContent()).toBe('Garden');
		await dana.page.getByLabel('Message', { exact: true }).fill('tomatoes planted');
		await dana.page.getByLabel('Message', { exact: true }).press('Enter');
		await dana.page.getByRole('button', { name: 'Space settings' }).click();
		await dana.page.getByRole('tab', { name: 'Invites' }).click();
		await dana.page.getByRole('button', { name: 'Create invite' }).click();
		const invite = await dana.page.getByTestId('invite-link').inputValue();
		await dana.page.keyboard.press('Escape');

		// Ana joins in her browser, Ben with his Node client
		const ana = await open('ana');
		await createIdentity(ana.page);
		await setProfile(ana.page, 'Ana');
		await ana.page.getByRole('button', { name: 'Add a space' }).click();
		await ana.page.getByLabel('Invite link').fill(invite);
		await ana.page.getByRole('button', { name: 'Join space' }).click();
		await expect
			.poll(() => ana.page.getByTestId('space-name').textContent(), { timeout: 30_000 })
			.toBe('Garden');
		const ben = await Charter.open({ inMemory: true, syncServers: [inject('wsUrl')] });
		clients.push(ben);
		await ben.createIdentity();
		await ben.setProfile({ displayName: 'Ben' });
		await ben.joinSpace(invite);

		// Dana chooses them, any two of the two
		const members = dana.page.getByRole('complementary', { name: 'Members' });
		await expect.poll(() => members.textContent(), { timeout: 20_000 }).toContain('Ana');
		await expect.poll(() => members.textContent(), { timeout: 20_000 }).toContain('Ben');
		await dana.page.getByRole('button', { name: 'User settings' }).first().click();
		await dana.page.getByRole('tab', { name: 'Recovery' }).click();
		await dana.page.getByRole('checkbox', { name: /Ana/ }).check();
		await dana.page.getByRole('checkbox', { name: /Ben/ }).check();
		await dana.page.getByLabel('Approvals needed to restore').fill('2');
		await screenshot(dana.page, 'friend-recovery-01-choose');
		await dana.page.getByRole('button', { name: 'Save recovery friends' }).click();
		await dana.page.getByText('Recovery friends saved').waitFor({ timeout: 20_000 });
		expect(
			(await dana.page.getByTestId('recovery-status').textContent())?.replace(/\s+/g, ' ')
		).toMatch(/Any 2 of your 2 recovery friends can restore you: Ana, Ben/);
		await dana.context.close(); // her browser is gone

		// a fresh browser asks her friends
		const fresh = await open('dana-new');
		await fresh.page.getByRole('button', { name: 'Ask my recovery friends' }).click();
		const codeBox = fresh.page.getByTestId('recovery-request-code');
		await codeBox.waitFor();
		const code = await codeBox.inputValue();
		const check = (await fresh.page.getByTestId('recovery-check').textContent()) ?? '';
		expect(code.startsWith('charter-recover:')).toBe(true);
		await screenshot(fresh.page, 'friend-recovery-02-request');

		// Ana approves in her browser: the same digits, and she says who asks
		await ana.page.getByRole('button', { name: 'User settings' }).first().click();
		await ana.page.getByRole('tab', { name: 'Recovery' }).click();
		await ana.page.getByLabel('Recovery request code').fill(code);
		await expect.poll(() => ana.page.getByTestId('request-digits').textContent()).toContain(check);
		await ana.page.getByLabel('Who is asking?').selectOption({ label: 'Dana' });
		await ana.page
			.getByRole('checkbox', { name: 'I talked to them, and the digits match' })
			.check();
		await screenshot(ana.page, 'friend-recovery-03-approve');
		await ana.page.getByRole('button', { name: 'Approve recovery' }).click();
		await ana.page.getByText("Approved: your share went to Dana's new device.").waitFor();
		await expect
			.poll(() => fresh.page.getByTestId('recovery-progress').textContent(), { timeout: 20_000 })
			.toContain('1 of 2 approvals');

		// Ben approves from his client: Dana is back
		await ben.approveFriendRecovery(code, danaId);
		await expect
			.poll(() => fresh.page.getByTestId('user-id').textContent(), { timeout: 30_000 })
			.toBe(danaId);
		await expect
			.poll(() => fresh.page.getByTestId('space-name').textContent(), { timeout: 30_000 })
			.toBe('Garden');
		await expect.poll(() => texts(fresh.page), { timeout: 20_000 }).toEqual(['tomatoes planted']);
		await screenshot(fresh.page, 'friend-recovery-04-restored');
	});
});
