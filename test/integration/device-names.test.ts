/**
 * Story: Ada's devices all say "Chromium on Linux". She links a second one and names both; each of
 * her devices shows the names she chose (they travel in her private account document, not in any
 * space), and a newly linked device shows up on the devices she already had.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Charter } from '../../src/lib/index.js';
import { startSyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';

describe('naming devices', async () => {
	const server = await startSyncServerProcess();
	const desk = await Charter.open({
		inMemory: true,
		syncServers: [server.wsUrl],
		deviceName: 'Chromium on Linux'
	});
	const phone = await Charter.open({ inMemory: true, deviceName: 'Chromium on Linux' });
	const friend = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	afterAll(async () => {
		for (const c of [desk, phone, friend]) await c.close();
		await server.stop();
	});

	it('✓ a name given on one device shows on every device of the user, and nowhere else', async () => {
		await desk.createIdentity();
		await friend.createIdentity();
		const space = await desk.createSpace({ name: 'Workshop' });
		await space.addMember(await friend.memberCard());
		const { code, linked } = await desk.linkDevice();
		const accepted = await phone.acceptDeviceLink(code);
		await linked;
		// ✓ the existing device lists the new one (the web client alerts on it)
		await eventually(() => desk.devices.length === 2, 'the desk to list the new device');
		expect(desk.devices.map((d) => d.name)).toEqual(['Chromium on Linux', 'Chromium on Linux']);

		await desk.renameDevice(accepted.deviceId, 'Ada’s phone');
		await desk.renameDevice(desk.identity!.deviceId, 'Desk');
		// ✓ both devices show both names
		for (const client of [desk, phone])
			await eventually(
				() =>
					client.devices.find((d) => d.deviceId === accepted.deviceId)?.name === 'Ada’s phone' &&
					client.devices.find((d) => d.name === 'Desk') !== undefined,
				'both names on every device'
			);
		const onPhone = phone.devices.find((d) => d.thisDevice)!;
		expect(onPhone).toMatchObject({ name: 'Ada’s phone', certifiedName: 'Chromium on Linux' });
		// ✓ the phone renames itself; the desk follows (the latest name wins)
		await phone.renameDevice(accepted.deviceId, 'Pocket');
		await eventually(
			() => desk.devices.find((d) => d.deviceId === accepted.deviceId)?.name === 'Pocket',
			'the desk to show the new name'
		);
		// ✓ the names are not in the space, where co-members would read them
		const friendSpace = await friend.openSpace(space.id);
		await eventually(() => friendSpace.ready, 'the friend to have the space');
		expect(JSON.stringify(friendSpace.members)).not.toContain('Pocket');
	});

	it('✓ a name too long, or for a device that is not yours, is refused', async () => {
		await expect(desk.renameDevice(desk.identity!.deviceId, 'x'.repeat(65))).rejects.toMatchObject({
			code: 'invalid-argument'
		});
		await expect(desk.renameDevice(friend.identity!.deviceId, 'mine now')).rejects.toMatchObject({
			code: 'invalid-argument'
		});
	});
});
