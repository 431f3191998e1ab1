/**
 * The web client in Chromium, as three people use it. Ada creates an identity (and confirms her
 * recovery phrase), a space and an invite; Ben joins with the link and they chat both ways; Ada bans
 * Ben, whose client shows the ban and reads nothing new. Ada links a second device, edits the space's
 * settings on both while both are offline, and both converge once back online. A reload with the
 * network cut still shows everything (PWA), and her phrase restores her spaces in a fresh browser.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { Page } from 'playwright-core';
import {
	createIdentity as create,
	screenshot,
	setProfile,
	watchProblems,
	type User,
	useBrowser
} from './browser.js';

// the story collects its pages' problems itself (some pages are cut off the network on purpose)
const stage = useBrowser('web-client', { per: 'file', checkProblems: false });
let ada: User;
let ben: User;
let laptop: User;
let phrase: string[] = [];
let adaId = '';
let invite = '';
const problems: string[] = [];

const open = (label: string, options: { offline?: boolean } = {}): Promise<User> =>
	stage.open(label, { ...options, onDialog: (d) => void d.accept() });

/** Creates an identity, answering the phrase check; returns the 24 words. */
const createIdentity = (page: Page, shots = false) =>
	create(page, shots ? { phrase: '02-recovery-phrase', check: '03-confirm-phrase' } : undefined);

const messages = (page: Page) => page.getByRole('log').locator('.text');
const texts = async (page: Page) =>
	(await messages(page).allTextContents()).map((t) => t.replace(/ \(edited\)$/, ''));
const send = async (page: Page, text: string) => {
	await page.getByLabel('Message', { exact: true }).fill(text);
	await page.getByLabel('Message', { exact: true }).press('Enter');
};

afterAll(() => {
	expect(problems).toEqual([]);
});

describe('the web client in Chromium', () => {
	it('✓ Ada creates an identity, confirms three words of her recovery phrase, and lands in the app', async () => {
		ada = await open('ada');
		await ada.page.getByRole('button', { name: 'Create identity' }).waitFor();
		await screenshot(ada.page, '01-onboarding');
		phrase = await createIdentity(ada.page, true);
		expect(phrase.every((w) => /^[a-z]+$/.test(w))).toBe(true);
		adaId = (await ada.page.getByTestId('user-id').textContent()) ?? '';
		expect(adaId).toMatch(/^user_[1-9A-HJ-NP-Za-km-z]+$/);
		await screenshot(ada.page, '04-no-spaces-yet');
	});

	it('✓ she names herself, creates a space and an invite link', async () => {
		const { page } = ada;
		await setProfile(page, 'Ada');
		await page.getByRole('button', { name: 'Add a space' }).click();
		await page.getByLabel('Space name').fill('Reading circle');
		await page.getByRole('button', { name: 'Create space' }).click();
		await expect.poll(() => page.getByTestId('space-name').textContent()).toBe('Reading circle');
		await send(page, 'Welcome to the reading circle!');
		await expect.poll(() => texts(page)).toEqual(['Welcome to the reading circle!']);
		await expect
			.poll(() => page.getByTestId('status').textContent(), { timeout: 15_000 })
			.toContain('Online');
		await page.getByRole('button', { name: 'Space settings' }).click();
		await page.getByRole('tab', { name: 'Invites' }).click();
		await page.getByLabel('Max uses (0 = no limit)').fill('5');
		await page.getByRole('button', { name: 'Create invite' }).click();
		invite = await page.getByTestId('invite-link').inputValue();
		expect(invite.startsWith(`${inject('baseUrl')}/#/join/`)).toBe(true);
		await expect.poll(() => page.getByTestId('invites').textContent()).toContain('0 / 5 uses');
		await screenshot(page, '06-settings-invites');
		await page.keyboard.press('Escape');
	});

	it('✓ Ben joins with the link, and they chat both ways', async () => {
		ben = await open('ben');
		await createIdentity(ben.page);
		await setProfile(ben.page, 'Ben');
		await ben.page.getByRole('button', { name: 'Add a space' }).click();
		await ben.page.getByLabel('Invite link').fill(invite);
		await ben.page.getByRole('button', { name: 'Join space' }).click();
		await expect
			.poll(() => ben.page.getByTestId('space-name').textContent(), { timeout: 30_000 })
			.toBe('Reading circle');
		await expect
			.poll(() => texts(ben.page), { timeout: 20_000 })
			.toEqual(['Welcome to the reading circle!']);
		await send(ben.page, 'Thanks Ada, happy to be here');
		await expect
			.poll(() => texts(ada.page), { timeout: 20_000 })
			.toEqual(['Welcome to the reading circle!', 'Thanks Ada, happy to be here']);
		await send(ada.page, 'First book: Middlemarch');
		await expect
			.poll(() => texts(ben.page), { timeout: 20_000 })
			.toContain('First book: Middlemarch');
		// the member list shows both, by their display names
		const members = ada.page.getByRole('complementary', { name: 'Members' });
		await expect.poll(() => members.textContent(), { timeout: 20_000 }).toContain('Ben');
		expect(await members.textContent()).toContain('Ada');
		await screenshot(ada.page, '05-chat');
	});

	it('✓ Ben edits and deletes his own message; Ada sees both', async () => {
		const { page } = ben;
		const mine = page.locator('.message', { hasText: 'happy to be here' });
		await mine.hover();
		await mine.getByRole('button', { name: 'Edit message' }).click();
		await page.getByLabel('Edit message').fill('Thanks Ada, very happy to be here');
		await page.getByLabel('Edit message').press('Enter');
		await expect
			.poll(() => ada.page.getByRole('log').textContent(), { timeout: 20_000 })
			.toMatch(/very happy to be here\s*\(edited\)/);
		await send(page, 'oops, wrong channel');
		await expect.poll(() => texts(ada.page), { timeout: 20_000 }).toContain('oops, wrong channel');
		const oops = page.locator('.message', { hasText: 'oops, wrong channel' });
		await oops.hover();
		await oops.getByRole('button', { name: 'Delete message' }).click();
		await expect
			.poll(() => texts(ada.page), { timeout: 20_000 })
			.not.toContain('oops, wrong channel');
		// a phone-sized screen: the channel fills it, the menu opens the spaces and channels
		await page.setViewportSize({ width: 390, height: 844 });
		await page.getByRole('button', { name: 'Hide members' }).click();
		await page.waitForTimeout(400); // the menu slides away
		await screenshot(page, '07-phone-chat');
		await page.getByRole('button', { name: 'Open spaces and channels' }).click();
		await page.waitForTimeout(400);
		await screenshot(page, '08-phone-menu');
		await page.keyboard.press('Escape');
		await page.setViewportSize({ width: 1280, height: 800 });
	});

	it('✓ Ada bans Ben: his client shows the ban, and he cannot read what comes after', async () => {
		const { page } = ada;
		await page.getByRole('button', { name: 'Space settings' }).click();
		await page.getByRole('tab', { name: 'Members' }).click();
		const row = page.getByTestId('members').locator('li', { hasText: 'Ben' });
		await row.getByRole('button', { name: 'Ban' }).click();
		await page.getByLabel('Reason (optional, visible to members)').fill('spoilers');
		await screenshot(page, '09-settings-members-ban');
		await page.getByRole('button', { name: 'Ban Ben' }).click();
		await page.getByRole('tab', { name: 'Bans' }).click();
		await expect.poll(() => page.getByTestId('bans').textContent()).toContain('spoilers');
		await page.keyboard.press('Escape');
		await expect.poll(() => ben.page.getByTestId('banned').count(), { timeout: 20_000 }).toBe(1);
		// nothing to write into: the channels are no longer his to see
		await expect.poll(() => ben.page.getByLabel('Message', { exact: true }).count()).toBe(0);
		await send(page, 'Chapter one discussion starts now');
		await expect.poll(() => texts(page)).toContain('Chapter one discussion starts now');
		await new Promise((r) => setTimeout(r, 2500));
		expect(await texts(ben.page)).not.toContain('Chapter one discussion starts now');
		await screenshot(ben.page, '10-banned');
		problems.push(...ben.problems);
		await ben.context.close();
	});

	it('✓ with the network cut, a reload still shows her spaces and messages (PWA), and her tabs still sync with each other', async () => {
		const page = await ada.context.newPage();
		problems.push(...watchProblems(page, 'ada offline', { offline: true }));
		await page.goto(inject('baseUrl'));
		await messages(page).first().waitFor({ timeout: 20_000 });
		await page.evaluate(async () => {
			await navigator.serviceWorker.ready;
			if (!navigator.serviceWorker.controller)
				await new Promise((r) =>
					navigator.serviceWorker.addEventListener('controllerchange', r, { once: true })
				);
		});
		await ada.context.setOffline(true);
		await page.reload();
		await expect
			.poll(() => texts(page), { timeout: 20_000 })
			.toContain('Chapter one discussion starts now');
		expect(await page.getByTestId('space-name').textContent()).toBe('Reading circle');
		await expect
			.poll(() => page.getByTestId('status').textContent(), { timeout: 10_000 })
			.toContain('Offline');
		await screenshot(page, '11-offline-reload');
		// two tabs of one browser, no network: what one sends reaches the other over BroadcastChannel
		await send(page, 'Sent from the second tab while offline');
		await expect
			.poll(() => texts(ada.page), { timeout: 20_000 })
			.toContain('Sent from the second tab while offline');
		await ada.context.setOffline(false);
		await page.close();
	});

	it('✓ Ada links a second device; both edit settings offline and converge when back online', async () => {
		const { page } = ada;
		laptop = await open('laptop', { offline: true });
		await laptop.page.getByRole('button', { name: 'Link to another device' }).click();
		await page.getByRole('button', { name: 'User settings' }).first().click();
		await page.getByRole('tab', { name: 'Devices' }).click();
		await page.getByRole('button', { name: 'Link a new device' }).click();
		const code = await page.getByTestId('link-code').inputValue();
		await laptop.page.getByLabel('Link code').fill(code);
		await laptop.page.getByRole('button', { name: 'Link this browser' }).click();
		await expect
			.poll(() => laptop.page.getByTestId('space-name').textContent(), { timeout: 30_000 })
			.toBe('Reading circle');
		await expect
			.poll(() => page.getByTestId('devices').locator('li').count(), { timeout: 20_000 })
			.toBe(2);
		await expect
			.poll(() => texts(laptop.page), { timeout: 20_000 })
			.toContain('Chapter one discussion starts now');
		await screenshot(page, '12-devices');
		await page.keyboard.press('Escape');

		await ada.context.setOffline(true);
		await laptop.context.setOffline(true);
		await expect
			.poll(() => page.getByTestId('status').textContent(), { timeout: 15_000 })
			.toContain('Offline');
		// device 1 renames the space; device 2 adds a guaranteed channel and a role
		await page.getByRole('button', { name: 'Space settings' }).click();
		await page.getByLabel('Space name').fill('Book circle');
		await page.getByRole('button', { name: 'Save name' }).click();
		await page.getByText('Space renamed').waitFor();
		await page.keyboard.press('Escape');

		const l = laptop.page;
		await l.getByRole('button', { name: 'Space settings' }).click();
		await l.getByRole('tab', { name: 'Channels' }).click();
		await l.getByLabel('New channel name').fill('announcements');
		await l.getByLabel('Durability of the new channel').selectOption('guaranteed');
		await l.getByRole('dialog').getByRole('button', { name: 'Create channel' }).click();
		await l.getByText('#announcements created').waitFor();
		await screenshot(l, '13-settings-channels-offline');
		// and a role, which must show at once (the list is derived from the authority state)
		await l.getByRole('tab', { name: 'Roles' }).click();
		await l.getByLabel('New role name').fill('Moderators');
		await l.getByRole('button', { name: 'Create role' }).click();
		await l
			.getByTestId('roles')
			.getByText('Moderators', { exact: true })
			.first()
			.waitFor({ timeout: 10_000 });
		await l.keyboard.press('Escape');
		expect(await page.getByTestId('space-name').textContent()).toBe('Book circle');
		expect(await l.getByTestId('space-name').textContent()).toBe('Reading circle');

		await ada.context.setOffline(false);
		await laptop.context.setOffline(false);
		for (const p of [page, l]) {
			await expect
				.poll(() => p.getByTestId('space-name').textContent(), { timeout: 40_000 })
				.toBe('Book circle');
			await expect
				.poll(() => p.getByRole('navigation', { name: 'Channels' }).textContent(), {
					timeout: 40_000
				})
				.toContain('announcements');
		}
		await page.getByRole('button', { name: 'Space settings' }).click();
		await page.getByRole('tab', { name: 'Roles' }).click();
		await page
			.getByTestId('roles')
			.getByText('Moderators', { exact: true })
			.first()
			.waitFor({ timeout: 40_000 });
		await page.getByRole('button', { name: /@everyone/ }).click();
		await screenshot(page, '14-settings-roles');
		await page.keyboard.press('Escape');
		// a message in the guaranteed channel shows as stored once the sync server reports holding it
		await page.getByRole('navigation', { name: 'Channels' }).getByText('announcements').click();
		await send(page, 'Meeting moved to eight');
		await expect
			.poll(() => page.getByTestId('delivery').last().textContent(), { timeout: 20_000 })
			.toContain('stored');
		await page.getByRole('button', { name: 'Sync status' }).click();
		await page.getByTestId('peers').waitFor();
		await screenshot(page, '15-sync-status');
		await page.keyboard.press('Escape');
		problems.push(...laptop.problems);
		await laptop.context.close();
	});

	it('✓ in a fresh browser, her recovery phrase brings her spaces back — from a compacted channel', async () => {
		// Ada compacts #general first: the fresh browser reads its history from the fragments
		const { page } = ada;
		await page.getByRole('navigation', { name: 'Channels' }).getByText('general').click();
		const history = await texts(page);
		expect(history).toContain('Chapter one discussion starts now');
		await page.getByRole('button', { name: 'Space settings' }).click();
		await page.getByRole('tab', { name: 'Channels' }).click();
		await page
			.getByTestId('channel-settings')
			.getByRole('button', { name: /general/, expanded: false })
			.click();
		await page.getByRole('button', { name: 'Compact history' }).click();
		await page.getByText('#general: history compacted').waitFor();
		await expect
			.poll(() => page.getByTestId('channel-history').textContent())
			.toContain('compacted 1×');
		await screenshot(page, '16-settings-compact-history');
		await page.keyboard.press('Escape');
		await send(page, 'Written after the compaction');
		await expect.poll(() => texts(page)).toEqual([...history, 'Written after the compaction']);

		const fresh = await open('restore');
		await fresh.page.getByRole('button', { name: 'I have a recovery phrase' }).click();
		await fresh.page.getByLabel('Recovery phrase').fill(phrase.join(' '));
		await fresh.page.getByRole('button', { name: 'Restore identity' }).click();
		await expect.poll(() => fresh.page.getByTestId('user-id').textContent()).toBe(adaId);
		await expect
			.poll(() => fresh.page.getByTestId('space-name').textContent(), { timeout: 30_000 })
			.toBe('Book circle');
		await expect
			.poll(() => texts(fresh.page), { timeout: 30_000 })
			.toEqual([...history, 'Written after the compaction']);
		await screenshot(fresh.page, '17-restored');
		problems.push(...fresh.problems);
		await fresh.context.close();
	});

	it('✓ a wrong phrase is refused with a clear message', async () => {
		const other = await open('wrong phrase');
		await other.page.getByRole('button', { name: 'I have a recovery phrase' }).click();
		await other.page.getByLabel('Recovery phrase').fill('abandon abandon abandon');
		await other.page.getByRole('button', { name: 'Restore identity' }).click();
		await expect.poll(() => other.page.getByRole('alert').textContent()).toContain('24 words');
		await other.context.close();
		problems.push(...ada.problems);
	});
});
