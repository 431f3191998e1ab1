/**
 * Identity rotation in Chromium. Dana fears her recovery phrase leaked. Her phone and a tablet are
 * linked (two Node clients through the same sync server); in User settings → Recovery she ticks
 * only the phone and rotates her identity key. The new phrase is shown once; the phone follows the
 * rotation without a new link (it reads what Dana writes next and writes as Dana), the tablet is
 * off her card — Devices lists this browser and the phone.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { Page } from 'playwright-core';
import { Charter, type UserId } from '../../src/lib/index.js';
import {
	createIdentity,
	createSpace,
	send,
	setProfile,
	screenshot,
	shownTexts,
	useBrowser
} from './browser.js';

const stage = useBrowser('rotation');
const clients: Charter[] = [];

afterAll(async () => {
	for (const c of clients) await c.close();
});

/** Links a Node client named `name` to the identity of the browser on `page`. */
async function link(page: Page, name: string): Promise<Charter> {
	const device = await Charter.open({
		inMemory: true,
		syncServers: [inject('wsUrl')],
		deviceName: name
	});
	clients.push(device);
	await page.getByRole('button', { name: 'User settings' }).first().click();
	await page.getByRole('tab', { name: 'Devices' }).click();
	await page.getByRole('button', { name: 'Link a new device' }).click();
	const code = await page.getByTestId('link-code').inputValue();
	await device.acceptDeviceLink(code);
	await page.getByText(`Linked: ${name}`).waitFor({ timeout: 30_000 });
	await page.keyboard.press('Escape');
	return device;
}

const deviceNames = async (page: Page) =>
	(await page.getByTestId('devices').locator('li .name').allTextContents()).map((t) =>
		t.replace('this device', '').trim()
	);

describe('identity rotation in the web client', () => {
	it('✓ Dana keeps her phone: after the rotation it reads and writes as Dana; the tablet is signed out', async () => {
		const { page } = await stage.open('dana');
		await createIdentity(page);
		const dana = ((await page.getByTestId('user-id').textContent()) ?? '') as UserId;
		await setProfile(page, 'Dana');
		await createSpace(page, 'Garden');
		await send(page, 'tomatoes planted');
		const phone = await link(page, 'phone');
		const tablet = await link(page, 'tablet');
		for (const device of [phone, tablet]) {
			await expect
				.poll(() => device.spaces[0]?.channels[0]?.messages.map((m) => m.text), { timeout: 30_000 })
				.toContain('tomatoes planted');
			await device.spaces[0]!.ensureDeviceRegistered();
		}

		// she ticks the phone only, and confirms
		await page.getByRole('button', { name: 'User settings' }).first().click();
		await page.getByRole('tab', { name: 'Devices' }).click();
		await expect.poll(() => deviceNames(page), { timeout: 30_000 }).toHaveLength(3);
		await page.getByRole('tab', { name: 'Recovery' }).click();
		const keep = page.getByTestId('rotation-keep-devices');
		await keep.getByRole('checkbox', { name: 'phone' }).check();
		expect(await keep.getByRole('checkbox', { name: 'tablet' }).isChecked()).toBe(false);
		await screenshot(page, 'rotation-01-keep-phone');
		await page.getByRole('button', { name: 'Rotate my identity key' }).click();
		const confirmation = page.getByRole('alertdialog');
		expect(await confirmation.textContent()).toContain('The device you ticked comes along');
		await confirmation.getByRole('button', { name: 'Rotate my identity key' }).click();
		// ✓ the new phrase is shown once
		const shown = page.getByRole('status', { name: 'Your new recovery phrase' });
		await shown.waitFor({ timeout: 30_000 });
		const phrase = ((await shown.locator('.new-phrase').textContent()) ?? '').trim();
		expect(phrase.split(/\s+/).length).toBeGreaterThanOrEqual(12);
		await screenshot(page, 'rotation-02-new-phrase');
		await shown.getByRole('button', { name: 'I wrote it down' }).click();
		await page.keyboard.press('Escape');

		// ✓ the phone follows: it reads what Dana writes under the new key, and writes as Dana
		await send(page, 'new key, same Dana');
		const phoneGarden = phone.spaces[0]!;
		await expect
			.poll(() => phoneGarden.channels[0]!.messages.map((m) => m.text), { timeout: 30_000 })
			.toContain('new key, same Dana');
		expect(phone.identity!.userId).toBe(dana);
		await phoneGarden.channels[0]!.send('from my phone');
		await expect.poll(() => shownTexts(page), { timeout: 30_000 }).toContain('from my phone');

		// ✓ her card lists this browser and the phone; the tablet is gone from it
		await page.getByRole('button', { name: 'User settings' }).first().click();
		await page.getByRole('tab', { name: 'Devices' }).click();
		await expect.poll(() => deviceNames(page), { timeout: 30_000 }).toHaveLength(2);
		expect(await deviceNames(page)).toContain('phone');
		expect(await deviceNames(page)).not.toContain('tablet');
		expect(tablet.spaces[0]!.channels[0]!.messages.map((m) => m.text)).not.toContain(
			'new key, same Dana'
		);
	});
});
