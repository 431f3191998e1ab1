/**
 * Story: Eli's phone is stolen. From his laptop he revokes it. The phone — which still holds every
 * key it ever had — can read nothing sent afterwards, and whatever it writes is refused by everyone.
 * A restore from Eli's phrase on a new machine still reads everything.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Charter } from '../../src/lib/index.js';
import { startSyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';
import { forge } from '../support/hostile.js';
import { atom, type ChannelDoc } from '../../src/lib/authority/schema.js';
import * as A from '@automerge/automerge';

describe('revoking a device', async () => {
	const server = await startSyncServerProcess();
	const laptop = await Charter.open({
		inMemory: true,
		syncServers: [server.wsUrl],
		deviceName: 'laptop'
	});
	const phone = await Charter.open({ inMemory: true, deviceName: 'phone' });
	const friend = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	const restored = await Charter.open({
		inMemory: true,
		syncServers: [server.wsUrl],
		deviceName: 'new laptop'
	});
	afterAll(async () => {
		for (const c of [laptop, phone, friend, restored]) await c.close();
		await server.stop();
	});

	it('✓ the revoked device reads nothing new and its writes are refused; the phrase still restores all', async () => {
		const { phrase, userId } = await laptop.createIdentity();
		await friend.createIdentity();
		const space = await friend.createSpace({ name: 'Crew' });
		const { link } = await space.createInvite();
		await laptop.joinSpace(link);
		const { code, linked } = await laptop.linkDevice();
		const phoneDevice = (await phone.acceptDeviceLink(code)).deviceId;
		await linked;
		await eventually(
			() => phone.spaces[0]?.channels[0] !== undefined && phone.spaces[0]!.isMember,
			'the phone to open the space'
		);
		await phone.spaces[0]!.channels[0]!.send('sent from the phone before');
		await eventually(
			() => space.channels[0]!.messages.length === 1,
			'the friend to read the phone'
		);

		await laptop.revokeDevice(phoneDevice);
		expect(laptop.devices.map((d) => d.name)).toEqual(['laptop']);
		await eventually(
			() => space.document.members[userId]?.revokedDevices?.[phoneDevice] === true,
			'the friend to see the revocation'
		);
		await space.channels[0]!.send('after the revocation');

		// the phone keeps syncing, but cannot read the new message
		await new Promise((r) => setTimeout(r, 1500));
		const phoneChannel =
			phone.spaces[0]!.channels[0] ?? phone.spaces[0]!.channel(space.channels[0]!.id)!;
		expect(phoneChannel.messages.map((m) => m.text)).not.toContain('after the revocation');

		// whatever it signs now is refused by everyone
		await forge<ChannelDoc>(
			phone,
			phone.spaces[0]!,
			{ channel: phoneChannel, context: A.getHeads(phone.spaces[0]!.document) },
			(d) => {
				d.buckets['stolen'] = {
					'stolen.0': {
						author: atom(userId),
						text: new A.ImmutableString('sent by the thief'),
						createdAt: Date.now()
					}
				};
			}
		);
		await eventually(
			() => space.channels[0]!.rejections.some((r) => r.reason === 'not a member device'),
			"the thief's entry to be refused"
		);
		expect(space.channels[0]!.messages.map((m) => m.text)).not.toContain('sent by the thief');
		expect(space.channels[0]!.messages.map((m) => m.text)).toContain('sent from the phone before');

		// the laptop reads on; a restore from the phrase reads everything, through the recovery key
		await eventually(
			() => laptop.spaces[0]!.channels[0]!.messages.some((m) => m.text === 'after the revocation'),
			'the laptop to read on'
		);
		await restored.restoreIdentity(phrase);
		await eventually(
			() =>
				restored.spaces[0]?.channels[0]?.messages.some((m) => m.text === 'after the revocation'),
			'the restored device to read on',
			20_000
		);
	});
});
