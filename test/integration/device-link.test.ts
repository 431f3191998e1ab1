/**
 * Story: Eli links a phone to the laptop he already uses. The laptop shows a one-time code; the
 * phone, which has never seen Eli's phrase, receives his keys over an encrypted one-time channel
 * through the sync server, finds every space, and both devices act as Eli — also while offline.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Charter } from '../../src/lib/index.js';
import { startSyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';

describe('linking a device', async () => {
	const server = await startSyncServerProcess();
	const laptop = await Charter.open({
		inMemory: true,
		syncServers: [server.wsUrl],
		deviceName: 'laptop'
	});
	const phone = await Charter.open({ inMemory: true, deviceName: 'phone' });
	const friend = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	afterAll(async () => {
		for (const c of [laptop, phone, friend]) await c.close();
		await server.stop();
	});

	it('✓ a one-time code moves the identity to the new device, which then sees and writes every space', async () => {
		const { userId } = await laptop.createIdentity();
		await friend.createIdentity();
		const space = await laptop.createSpace({ name: 'Workshop' });
		await space.addMember(await friend.memberCard());
		await space.channels[0]!.send('from the laptop');

		const { code, linked } = await laptop.linkDevice();
		expect(code.startsWith('charter-link:')).toBe(true);
		const accepted = await phone.acceptDeviceLink(code);
		expect(accepted.userId).toBe(userId);
		const device = await linked;
		expect(device).toEqual({ deviceId: accepted.deviceId, name: 'phone' });

		await eventually(
			() => phone.spaces[0]?.channels[0]?.messages.length === 1,
			'the phone to read the space'
		);
		await phone.spaces[0]!.channels[0]!.send('from the phone');
		const friendSpace = await friend.openSpace(space.id);
		await eventually(
			() => friendSpace.channels[0]?.messages.length === 2,
			'the friend to read both'
		);
		expect(new Set(friendSpace.channels[0]!.messages.map((m) => m.author))).toEqual(
			new Set([userId])
		);
		await eventually(() => laptop.devices.length === 2, 'the laptop to list both devices');
		expect(laptop.devices.map((d) => d.name).sort()).toEqual(['laptop', 'phone']);
	});

	it('✓ a damaged code, or a device that already has an identity, is refused', async () => {
		const other = await Charter.open({ inMemory: true });
		await expect(other.acceptDeviceLink('charter-link:nonsense')).rejects.toMatchObject({
			code: 'invalid-argument'
		});
		await expect(phone.acceptDeviceLink('charter-link:x')).rejects.toMatchObject({
			code: 'identity-exists'
		});
		await other.close();
	});
});
