/**
 * Story: an admin runs Charter on a laptop and a phone (two device keys of one user; the phone is
 * restored from the recovery phrase). Both edit roles, channels and settings while offline, then
 * reconnect: every peer converges on the merged settings.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Charter } from '../../src/lib/index.js';
import {
	deliver,
	personas,
	picture,
	shutdown,
	syncAll,
	userOf,
	type Persona
} from '../support/personas.js';

describe('offline multi-device editing of space settings', async () => {
	const { owner } = await personas('owner');
	const laptopClient = await Charter.open({ inMemory: true, deviceName: 'laptop' });
	const { phrase } = await laptopClient.createIdentity();
	const phoneClient = await Charter.open({ inMemory: true, deviceName: 'phone' });
	await phoneClient.restoreIdentity(phrase);
	const laptop: Persona = { name: 'laptop', client: laptopClient };
	const phone: Persona = { name: 'phone', client: phoneClient };
	const everyone = [owner, laptop, phone];
	afterAll(() => shutdown(everyone));

	const space = await owner.client.createSpace({ name: 'Studio' });
	await space.addMember(await laptopClient.memberCard());
	const admin = await space.createRole({
		name: 'Admin',
		permissions: ['MANAGE_ROLES', 'MANAGE_CHANNELS', 'MANAGE_SPACE', 'KICK_MEMBERS'],
		position: 5
	});
	await space.assignRole(userOf(laptop), admin.id);
	await syncAll(everyone, space.id);

	it('✓ the second device registers itself and is accepted as the same user', async () => {
		await syncAll(everyone, space.id);
		expect(phoneClient.identity!.userId).toBe(laptopClient.identity!.userId);
		expect(phoneClient.identity!.deviceId).not.toBe(laptopClient.identity!.deviceId);
		const seen = space.members.find((m) => m.user === userOf(laptop))!;
		expect(seen.roles).toEqual([admin.id]);
		expect(
			space.state!.userOfDevice(space.state!.members.get(userOf(laptop))!.deviceKeys.at(-1)!)
		).toBe(userOf(laptop));
		expect(space.state!.members.get(userOf(laptop))!.deviceKeys).toHaveLength(2);
		expect(phoneClient.space(space.id)!.can('MANAGE_CHANNELS')).toBe(true);
	});

	it('✓ both devices edit offline, reconnect, and everyone converges on the merged settings', async () => {
		const onLaptop = laptopClient.space(space.id)!;
		const onPhone = phoneClient.space(space.id)!;
		// offline: nobody delivers anything to anyone
		const helpers = await onLaptop.createRole({ name: 'Helpers', permissions: ['KICK_MEMBERS'] });
		await onLaptop.updateChannel(onLaptop.channels[0]!.id, { name: 'lobby' });
		await onPhone.createChannel({ name: 'events' });
		await onPhone.rename('Studio 54');
		await onPhone.createRole({ name: 'Moderators', permissions: ['KICK_MEMBERS'] });
		await syncAll(everyone, space.id);
		for (const p of everyone) {
			const s = p.client.space(space.id)!;
			expect(s.name).toBe('Studio 54');
			expect(s.roles.map((r) => r.name).sort()).toEqual([
				'@everyone',
				'Admin',
				'Helpers',
				'Moderators'
			]);
			expect(s.channels.map((c) => c.name).sort()).toEqual(['events', 'lobby']);
			expect(s.roles.find((r) => r.id === helpers.id)!.permissions).toEqual(['KICK_MEMBERS']);
		}
		expect(picture(laptopClient.space(space.id)!)).toEqual(picture(space));
		expect(picture(phoneClient.space(space.id)!)).toEqual(picture(space));
		expect(space.rejections).toEqual([]);
	});

	it('✓ messages from either device carry the same author', async () => {
		const lobbyOnPhone = phoneClient.space(space.id)!.channels.find((c) => c.name === 'lobby')!;
		await lobbyOnPhone.send('from my phone');
		await deliver(phone, owner, space.id);
		const lobby = space.channels.find((c) => c.name === 'lobby')!;
		expect(lobby.messages.find((m) => m.text === 'from my phone')!.author).toBe(userOf(laptop));
	});
});
