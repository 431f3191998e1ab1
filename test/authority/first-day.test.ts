/**
 * Stories from a new user's first day (issue 15), at the library level:
 * - Ada bans Cy, keeping his messages: everyone — also a member who joins afterwards — still reads
 *   Cy's name (his signed profile and nickname as they were when he was removed).
 * - Ada renames the space on one device after Ben renamed it on another while offline: the later
 *   edit wins, whatever the delivery order, and the space says who set it.
 * - Ada hands the space over to Ben: Ben is the owner everywhere, Ada may then leave; concurrent
 *   hand-overs from two of her devices end in one owner, the same on every peer.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as A from '@automerge/automerge';
import { Charter, type Space } from '../../src/lib/index.js';
import { forge } from '../support/hostile.js';
import {
	deliver,
	freshDevice,
	orderBy,
	personas,
	shutdown,
	syncAll,
	userOf,
	type Persona
} from '../support/personas.js';

/** Resolves once the wall clock has moved past `t` (two writes get distinct millisecond stamps). */
async function clockAfter(t: number) {
	while (Date.now() <= t) await new Promise((r) => setTimeout(r, 1));
}

describe("a former member's name", () => {
	it('✓ after a ban (messages kept), every member and a newcomer still see the banned member by name', async () => {
		const cast = await personas('ada', 'ben', 'cy', 'dee');
		const people = Object.values(cast);
		try {
			const space = await cast.ada.client.createSpace({ name: 'Reading circle' });
			for (const p of [cast.ben, cast.cy]) await space.addMember(await p.client.memberCard());
			await syncAll([cast.ada, cast.ben, cast.cy], space.id);
			await cast.cy.client.setProfile({ displayName: 'Cy' });
			await cast.cy.client.space(space.id)!.setNickname('Cyrus');
			await cast.cy.client.space(space.id)!.channels[0]!.send('hello from Cy');
			await syncAll([cast.ada, cast.ben, cast.cy], space.id);
			await space.ban(userOf(cast.cy), { reason: 'spoilers' });
			await syncAll([cast.ada, cast.ben], space.id);
			await space.addMember(await cast.dee.client.memberCard());
			await deliver(cast.ada, cast.dee, space.id);

			for (const p of [cast.ada, cast.ben, cast.dee]) {
				const seen = p.client.space(space.id)!;
				// ✓ Cy is no member, but his name is still known on every device
				expect(seen.members.some((m) => m.user === userOf(cast.cy))).toBe(false);
				expect(seen.profile(userOf(cast.cy))?.displayName).toBe('Cy');
				expect(seen.formerMember(userOf(cast.cy))).toMatchObject({
					displayName: 'Cy',
					nickname: 'Cyrus'
				});
				// ✓ and his messages stay
				expect(seen.channels[0]!.messages.map((m) => m.text)).toContain('hello from Cy');
			}
			// ✓ a current member is not a former one
			expect(space.formerMember(userOf(cast.ben))).toBeUndefined();
		} finally {
			await shutdown(people);
		}
	});
});

describe('a setting that is one value', () => {
	it('✓ the later rename wins over an older offline one, and the space says who renamed it', async () => {
		const cast = await personas('ada', 'ben');
		try {
			const space = await cast.ada.client.createSpace({ name: 'Reading circle' });
			await space.addMember(await cast.ben.client.memberCard());
			const admin = await space.createRole({ name: 'Admin', permissions: ['MANAGE_SPACE'] });
			await space.assignRole(userOf(cast.ben), admin.id);
			await syncAll([cast.ada, cast.ben], space.id);
			const onBen = cast.ben.client.space(space.id)!;
			// Ben, offline, does a lot and renames first (his changes count higher)
			for (let i = 0; i < 5; i++) await onBen.setNickname(`Ben ${i}`);
			await onBen.rename('Book club');
			await clockAfter(Date.now());
			// then Ada renames, later by the clock
			await space.rename('Book circle');
			await syncAll([cast.ada, cast.ben], space.id);
			for (const s of [space, onBen]) {
				// ✓ the later edit wins on both sides
				expect(s.name).toBe('Book circle');
				// ✓ and who made it is known, with the value it overruled
				expect(s.nameChange).toMatchObject({
					value: 'Book circle',
					by: userOf(cast.ada),
					overruled: ['Book club']
				});
			}
			expect(space.nameChange!.thisDevice).toBe(true);
			expect(onBen.nameChange!.thisDevice).toBe(false);
		} finally {
			await shutdown(Object.values(cast));
		}
	});

	it('✓ channels and roles too: the later rename wins, and the space says who made it and what it overruled', async () => {
		const cast = await personas('ada', 'ben');
		try {
			const space = await cast.ada.client.createSpace({ name: 'Reading circle' });
			await space.addMember(await cast.ben.client.memberCard());
			const helper = await space.createRole({ name: 'Helper', permissions: [] });
			const admin = await space.createRole({
				name: 'Admin',
				permissions: ['MANAGE_CHANNELS', 'MANAGE_ROLES']
			});
			await space.assignRole(userOf(cast.ben), admin.id);
			const general = space.channels[0]!.id;
			await syncAll([cast.ada, cast.ben], space.id);
			const onBen = cast.ben.client.space(space.id)!;
			// Ben, offline, renames the channel and a role first
			await onBen.updateChannel(general, { name: 'chat' });
			await onBen.updateRole(helper.id, { name: 'Helpers' });
			await clockAfter(Date.now());
			// Ada renames both later by the clock
			await space.updateChannel(general, { name: 'talk' });
			await space.updateRole(helper.id, { name: 'Guides' });
			await syncAll([cast.ada, cast.ben], space.id);
			for (const s of [space, onBen]) {
				// ✓ the later edits win on both sides
				expect(s.channels.find((c) => c.id === general)?.name).toBe('talk');
				expect(s.roles.find((r) => r.id === helper.id)?.name).toBe('Guides');
				// ✓ and who made each, with the name it overruled
				expect(s.channelNameChange(general)).toMatchObject({
					value: 'talk',
					by: userOf(cast.ada),
					overruled: ['chat']
				});
				expect(s.roleNameChange(helper.id)).toMatchObject({
					value: 'Guides',
					by: userOf(cast.ada),
					overruled: ['Helpers']
				});
			}
			expect(space.channelNameChange(general)!.thisDevice).toBe(true);
			expect(onBen.roleNameChange(helper.id)!.thisDevice).toBe(false);
			// ✓ a channel or role nobody renamed has no change to report beyond its creation
			expect(space.roleNameChange('no-such-role')).toBeUndefined();
		} finally {
			await shutdown(Object.values(cast));
		}
	});

	it('✓ property: in every delivery order, a fresh device resolves concurrent renames and nicknames the same way', async () => {
		const adaClient = await Charter.open({ inMemory: true, deviceName: 'ada' });
		const { phrase } = await adaClient.createIdentity();
		const cast = { ada: { name: 'ada', client: adaClient } as Persona, ...(await personas('ben')) };
		const fresh: Persona[] = [];
		try {
			const space = await cast.ada.client.createSpace({ name: 'Guild' });
			await space.addMember(await cast.ben.client.memberCard());
			const admin = await space.createRole({
				name: 'Admin',
				permissions: ['MANAGE_SPACE', 'MANAGE_CHANNELS', 'MANAGE_NICKNAMES']
			});
			await space.assignRole(userOf(cast.ben), admin.id);
			await syncAll([cast.ada, cast.ben], space.id);
			const onBen = cast.ben.client.space(space.id)!;
			const channel = space.channels[0]!.id;
			// concurrent: Ben first (with more changes), Ada later, for three one-value settings
			for (let i = 0; i < 4; i++) await onBen.setNickname(`b${i}`);
			await onBen.rename('Hall');
			await onBen.updateChannel(channel, { name: 'lobby' });
			await clockAfter(Date.now());
			await space.rename('Den');
			await space.updateChannel(channel, { name: 'foyer' });
			await syncAll([cast.ada, cast.ben], space.id);
			const expected = { name: 'Den', channel: 'foyer' };
			const view = (s: Space) => ({ name: s.name, channel: s.channel(channel)?.name });
			expect(view(space)).toEqual(expected);
			expect(view(onBen)).toEqual(expected);

			await fc.assert(
				fc.asyncProperty(
					fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
					fc.integer({ min: 1, max: 3 }),
					async (keys, batch) => {
						// a fresh device of Ada's (restored from her phrase), in a random order
						const reader = await freshDevice(phrase);
						fresh.push(reader);
						// entries in a random order, from both writers
						const shuffle = orderBy(keys);
						await deliver(cast.ben, reader, space.id, { shuffle, batch });
						await deliver(cast.ada, reader, space.id, { shuffle, batch });
						const seen = reader.client.space(space.id)!;
						// ✓ the later edits win, in every order
						expect(view(seen)).toEqual(expected);
						await reader.client.close();
						fresh.pop();
					}
				),
				{ numRuns: 6 }
			);
		} finally {
			await shutdown([...Object.values(cast), ...fresh]);
		}
	});
});

describe('handing a space over', () => {
	it('✓ the owner transfers ownership to a member; the new owner is above everyone, the old one may leave', async () => {
		const cast = await personas('ada', 'ben', 'cy');
		const people = Object.values(cast);
		try {
			const space = await cast.ada.client.createSpace({ name: 'Reading circle' });
			for (const p of [cast.ben, cast.cy]) await space.addMember(await p.client.memberCard());
			await syncAll(people, space.id);
			// ✓ the owner cannot leave before handing over; nobody else can hand it over
			await expect(space.leave()).rejects.toMatchObject({ code: 'not-authorized' });
			await expect(
				cast.ben.client.space(space.id)!.transferOwnership(userOf(cast.cy))
			).rejects.toMatchObject({ code: 'not-authorized' });
			// ✓ only to a member
			const outsider = await personas('eve');
			await expect(space.transferOwnership(userOf(outsider.eve))).rejects.toMatchObject({
				code: 'invalid-argument'
			});
			await shutdown(Object.values(outsider));

			await space.transferOwnership(userOf(cast.ben));
			await syncAll(people, space.id);
			for (const p of people) {
				const seen = p.client.space(space.id)!;
				expect(seen.owner).toBe(userOf(cast.ben));
				expect(seen.members.find((m) => m.isOwner)?.user).toBe(userOf(cast.ben));
			}
			// ✓ Ada is an ordinary member now: Ben may ban Cy, Ada may not rename any more
			await expect(space.rename('Mine again')).rejects.toMatchObject({ code: 'not-authorized' });
			await cast.ben.client.space(space.id)!.rename('Ben’s circle');
			await syncAll(people, space.id);
			expect(space.name).toBe('Ben’s circle');
			// ✓ and she may leave; what she wrote stays
			await space.channels[0]!.send('Thank you all, over to Ben');
			await space.leave();
			await syncAll(people, space.id);
			const onBen = cast.ben.client.space(space.id)!;
			expect(onBen.channels[0]!.messages.map((m) => m.text)).toContain(
				'Thank you all, over to Ben'
			);
			expect(onBen.profile(userOf(cast.ada))).toBeUndefined(); // she never set one
			expect(onBen.formerMember(userOf(cast.ada))).toMatchObject({ user: userOf(cast.ada) });
			expect(onBen.members.map((m) => m.user).sort()).toEqual(
				[userOf(cast.ben), userOf(cast.cy)].sort()
			);
			expect(onBen.owner).toBe(userOf(cast.ben));
			// ✓ the new owner cannot leave without handing over either
			await expect(onBen.leave()).rejects.toMatchObject({ code: 'not-authorized' });
		} finally {
			await shutdown(people);
		}
	});

	it('✓ a hand-over written by anyone but the owner, or to a non-member, or the owner leaving, is refused by every peer', async () => {
		const cast = await personas('ada', 'ben', 'eve');
		const people = [cast.ada, cast.ben];
		try {
			const space = await cast.ada.client.createSpace({ name: 'Studio' });
			await space.addMember(await cast.ben.client.memberCard());
			const admin = await space.createRole({
				name: 'Admin',
				permissions: ['ADMINISTRATOR'],
				position: 5
			});
			await space.assignRole(userOf(cast.ben), admin.id);
			await syncAll(people, space.id);
			const onBen = cast.ben.client.space(space.id)!;
			// Ben, an administrator, writes the hand-over to himself without client checks
			await forge(cast.ben.client, onBen, {}, (d: { owner?: A.ImmutableString }) => {
				d.owner = new A.ImmutableString(userOf(cast.ben));
			});
			// Ada's own device, with no client checks: to an outsider, then deleting her own record
			await forge(cast.ada.client, space, {}, (d: { owner?: A.ImmutableString }) => {
				d.owner = new A.ImmutableString(userOf(cast.eve));
			});
			await forge(
				cast.ada.client,
				space,
				{},
				(d: { members: Record<string, unknown> }) => void delete d.members[userOf(cast.ada)]
			);
			await syncAll(people, space.id);
			for (const p of people) {
				const seen = p.client.space(space.id)!;
				const reasons = seen.rejections.map((r) => r.reason).join(' | ');
				// ✓ each is refused, with its reason, and Ada is still the owner and a member
				expect(reasons).toContain('only the owner hands the space over');
				expect(reasons).toContain('the new owner must be a member');
				expect(reasons).toContain('the owner hands the space over before leaving');
				expect(seen.owner).toBe(userOf(cast.ada));
				expect(seen.members.some((m) => m.user === userOf(cast.ada))).toBe(true);
			}
		} finally {
			await shutdown(Object.values(cast));
		}
	});

	it('✓ two devices of the owner hand over concurrently: one hand-over stands, the same everywhere', async () => {
		const laptopClient = await Charter.open({ inMemory: true, deviceName: 'laptop' });
		const { phrase } = await laptopClient.createIdentity();
		const phoneClient = await Charter.open({ inMemory: true, deviceName: 'phone' });
		await phoneClient.restoreIdentity(phrase);
		const laptop: Persona = { name: 'laptop', client: laptopClient };
		const phone: Persona = { name: 'phone', client: phoneClient };
		const cast = await personas('ben', 'cy', 'dee');
		const people = [laptop, phone, ...Object.values(cast)];
		try {
			const space = await laptopClient.createSpace({ name: 'Studio' });
			for (const p of [cast.ben, cast.cy]) await space.addMember(await p.client.memberCard());
			await syncAll([laptop, phone, cast.ben, cast.cy], space.id);
			const onPhone = phoneClient.space(space.id)!;
			await onPhone.ensureDeviceRegistered();
			await syncAll([laptop, phone, cast.ben, cast.cy], space.id);
			// offline from each other: the laptop hands over to Ben, the phone to Cy
			await space.transferOwnership(userOf(cast.ben));
			await onPhone.transferOwnership(userOf(cast.cy));
			await syncAll([laptop, phone, cast.ben, cast.cy], space.id);
			const owners = [laptop, phone, cast.ben, cast.cy].map((p) => p.client.space(space.id)!.owner);
			// ✓ exactly one new owner, agreed by everyone
			expect(new Set(owners).size).toBe(1);
			expect([userOf(cast.ben), userOf(cast.cy)]).toContain(owners[0]);
			// ✓ a newcomer who receives every entry in another order agrees
			await space.addMember(await cast.dee.client.memberCard()).catch(() => undefined);
			const onBen = cast.ben.client.space(space.id)!;
			const owner = onBen.owner === userOf(cast.ben) ? cast.ben : cast.cy;
			await owner.client.space(space.id)!.addMember(await cast.dee.client.memberCard());
			await deliver(phone, cast.dee, space.id, {
				shuffle: (n) => [...Array(n).keys()].reverse()
			});
			await deliver(owner, cast.dee, space.id);
			expect(cast.dee.client.space(space.id)!.owner).toBe(owners[0]);
		} finally {
			await shutdown(people);
		}
	});
});
