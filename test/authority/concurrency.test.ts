/**
 * The concurrency scenarios of @localfirst/auth's resolver tests, reproduced against Charter's
 * rules: every peer ends with the same valid set whatever the order, and the rule that decides is
 * the one the protocol names (strong removal, mutual removal by rank, no concurrent re-add,
 * cascading invalidation).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Space, SpaceId } from '../../src/lib/index.js';
import {
	deliver,
	personas,
	picture,
	shutdown,
	syncAll,
	userOf,
	type Persona
} from '../support/personas.js';

let cleanup: Persona[] = [];
afterEach(async () => {
	await shutdown(cleanup);
	cleanup = [];
});

async function guild<N extends string>(...names: N[]) {
	const cast = await personas<N | 'owner'>('owner', ...names);
	cleanup = Object.values(cast);
	const space = await cast.owner.client.createSpace({ name: 'Guild' });
	for (const name of names) await space.addMember(await cast[name].client.memberCard());
	return { cast, space, id: space.id };
}

const spaceOf = (p: Persona, id: SpaceId): Space => p.client.space(id)!;
const isMember = (p: Persona, id: SpaceId, who: Persona) =>
	spaceOf(p, id).members.some((m) => m.user === userOf(who));

function expectSamePicture(people: Persona[], id: SpaceId) {
	const [first, ...rest] = people.map((p) => picture(spaceOf(p, id)));
	for (const other of rest) expect(other).toEqual(first);
}

describe('concurrent authority changes converge', () => {
	it("✓ concurrent demotion and admin action: the demoted admin's kick is void", async () => {
		const { cast, space, id } = await guild('admin', 'member');
		const mod = await space.createRole({ name: 'Mod', permissions: ['KICK_MEMBERS'] });
		await space.assignRole(userOf(cast.admin), mod.id);
		await syncAll(Object.values(cast), id);
		// offline, at the same time:
		await space.unassignRole(userOf(cast.admin), mod.id);
		await spaceOf(cast.admin, id).kick(userOf(cast.member));
		await syncAll(Object.values(cast), id);
		for (const p of [cast.owner, cast.admin]) expect(isMember(p, id, cast.member)).toBe(true);
		expect(
			spaceOf(cast.owner, id).rejections.some((r) => r.reason.startsWith('concurrent removal'))
		).toBe(true);
		expectSamePicture([cast.owner, cast.admin, cast.member], id);
	});

	it('✓ mutual removal: the higher-ranked remover wins', async () => {
		const { cast, space, id } = await guild('a', 'b');
		const r1 = await space.createRole({ name: 'R1', permissions: ['BAN_MEMBERS'], position: 1 });
		const r2 = await space.createRole({ name: 'R2', permissions: ['BAN_MEMBERS'], position: 2 });
		const r3 = await space.createRole({ name: 'R3', permissions: ['BAN_MEMBERS'], position: 3 });
		await space.assignRole(userOf(cast.a), r2.id);
		await space.assignRole(userOf(cast.b), r1.id);
		await syncAll(Object.values(cast), id);
		// the owner promotes B above A; only B hears of it before acting
		await space.assignRole(userOf(cast.b), r3.id);
		await deliver(cast.owner, cast.b, id);
		await spaceOf(cast.b, id).ban(userOf(cast.a)); // B (rank 3) bans A
		await spaceOf(cast.a, id).ban(userOf(cast.b)); // meanwhile A (rank 2) bans B (rank 1 as A knows it)
		await syncAll(Object.values(cast), id);
		for (const p of [cast.owner, cast.a, cast.b]) {
			expect(spaceOf(p, id).bans.map((x) => x.user)).toEqual([userOf(cast.a)]);
			expect(isMember(p, id, cast.b)).toBe(true);
		}
		expectSamePicture([cast.owner, cast.b], id);
	});

	it('✓ no concurrent re-add of a member being removed', async () => {
		const { cast, space, id } = await guild('admin', 'member');
		const mod = await space.createRole({
			name: 'Mod',
			permissions: ['KICK_MEMBERS', 'BAN_MEMBERS']
		});
		await space.assignRole(userOf(cast.admin), mod.id);
		await syncAll(Object.values(cast), id);
		await spaceOf(cast.admin, id).kick(userOf(cast.member));
		await syncAll(Object.values(cast), id);
		// concurrently: the owner lets the member back in, the admin bans them
		await space.addMember(await cast.member.client.memberCard());
		await spaceOf(cast.admin, id).ban(userOf(cast.member));
		await syncAll(Object.values(cast), id);
		for (const p of [cast.owner, cast.admin]) {
			expect(isMember(p, id, cast.member)).toBe(false);
			expect(spaceOf(p, id).bans.map((b) => b.user)).toEqual([userOf(cast.member)]);
		}
		expectSamePicture([cast.owner, cast.admin], id);
	});

	it('✓ an invitation by someone concurrently banned is void, and so is everything that follows from it', async () => {
		const { cast, space, id } = await guild('inviter');
		const newcomer = await personas('newcomer');
		cleanup.push(newcomer.newcomer);
		await syncAll([cast.owner, cast.inviter], id);
		// the inviter admits a newcomer, who says hello; meanwhile the owner bans the inviter
		await spaceOf(cast.inviter, id).addMember(await newcomer.newcomer.client.memberCard());
		await deliver(cast.inviter, newcomer.newcomer, id);
		const general = spaceOf(newcomer.newcomer, id).channels[0]!;
		await general.send('hello, I am new');
		await deliver(newcomer.newcomer, cast.inviter, id);
		await space.ban(userOf(cast.inviter));
		await syncAll([cast.owner, cast.inviter, newcomer.newcomer], id);
		expect(isMember(cast.owner, id, newcomer.newcomer)).toBe(false);
		expect(spaceOf(cast.owner, id).channels[0]!.messages.map((m) => m.text)).not.toContain(
			'hello, I am new'
		);
		expect(spaceOf(cast.owner, id).rejections.map((r) => r.reason)).toEqual(
			expect.arrayContaining([expect.stringMatching(/concurrent removal/)])
		);
	});

	it('✓ whatever the delivery order, a newcomer reading the history sees the same space', async () => {
		const { cast, space, id } = await guild('admin', 'member');
		const mod = await space.createRole({
			name: 'Mod',
			permissions: ['KICK_MEMBERS', 'BAN_MEMBERS', 'MANAGE_MESSAGES']
		});
		await space.assignRole(userOf(cast.admin), mod.id);
		await syncAll(Object.values(cast), id);
		await spaceOf(cast.member, id).channels[0]!.send('first');
		await space.unassignRole(userOf(cast.admin), mod.id);
		await spaceOf(cast.admin, id).ban(userOf(cast.member));
		await space.channels[0]!.send('second');
		await syncAll(Object.values(cast), id);
		const reference = picture(spaceOf(cast.owner, id));
		for (let seed = 1; seed <= 3; seed++) {
			const observer = (await personas(`observer${seed}`))[`observer${seed}`]!;
			cleanup.push(observer);
			await space.addMember(await observer.client.memberCard());
			const shuffle = (n: number) => {
				const order = [...Array(n).keys()];
				let x = seed * 7919;
				for (let i = n - 1; i > 0; i--) {
					x = (x * 1103515245 + 12345) % 2147483648;
					const j = x % (i + 1);
					[order[i], order[j]] = [order[j]!, order[i]!];
				}
				return order;
			};
			await deliver(cast.owner, observer, id, { shuffle, batch: 1 });
			const seen = picture(spaceOf(observer, id));
			expect({ ...seen, members: seen.members.filter((m) => m.user !== userOf(observer)) }).toEqual(
				{
					...picture(spaceOf(cast.owner, id)),
					members: picture(spaceOf(cast.owner, id)).members.filter(
						(m) => m.user !== userOf(observer)
					)
				}
			);
		}
		expect(reference.bans).toEqual([]);
	});
});

describe('keys owed after a concurrent coming-in', () => {
	it('✓ a newcomer let in while an admin kicks someone reads what the admin writes under the new keys', async () => {
		const { cast, space, id } = await guild('admin', 'member');
		const newcomer = await personas('newcomer');
		cleanup.push(newcomer.newcomer);
		const mod = await space.createRole({
			name: 'Mod',
			permissions: ['KICK_MEMBERS', 'MANAGE_SPACE']
		});
		await space.assignRole(userOf(cast.admin), mod.id);
		await syncAll(Object.values(cast), id);
		// neither sees the other: the owner lets the newcomer in, the admin kicks the member (the
		// space and #general rotate, sealed to the readers the admin knows) and writes under them
		await space.addMember(await newcomer.newcomer.client.memberCard());
		await deliver(cast.owner, newcomer.newcomer, id);
		const admin = spaceOf(cast.admin, id);
		await admin.kick(userOf(cast.member));
		await admin.rename('Den');
		await admin.channels[0]!.send('after the kick');
		const people = [cast.owner, cast.admin, newcomer.newcomer];
		await syncAll(people, id);
		await syncAll(people, id);
		const seen = spaceOf(newcomer.newcomer, id);
		// ✓ a reader who saw both sealed the newcomer the keys nobody had sealed them
		expect(seen.name).toBe('Den');
		expect(seen.channels[0]!.messages.map((m) => m.text)).toContain('after the kick');
		expectSamePicture(people, id);
		// ✓ and the member kicked got none of them
		const kicked = spaceOf(cast.member, id);
		await deliver(cast.admin, cast.member, id);
		expect(kicked.channels[0]?.messages.map((m) => m.text) ?? []).not.toContain('after the kick');
	});

	it('✓ a member given a private channel while a reader is kicked from it reads what is said there after', async () => {
		const { cast, space, id } = await guild('admin', 'insider', 'member');
		const crew = await space.createRole({ name: 'Crew', permissions: [] });
		const mod = await space.createRole({ name: 'Mod', permissions: ['KICK_MEMBERS'] }); // above Crew
		await space.assignRole(userOf(cast.admin), mod.id);
		await space.assignRole(userOf(cast.insider), crew.id);
		const mods = await space.createChannel({ name: 'mods', private: true });
		for (const role of [mod.id, crew.id])
			await space.setChannelPermissions(mods.id, { role }, { allow: ['VIEW_CHANNEL'] });
		await syncAll(Object.values(cast), id);
		// the owner gives the member Crew (and so #mods) while the admin kicks the insider
		await space.assignRole(userOf(cast.member), crew.id);
		const admin = spaceOf(cast.admin, id);
		await admin.kick(userOf(cast.insider));
		await admin.channel(mods.id)!.send('mods only, after the kick');
		const people = [cast.owner, cast.admin, cast.member];
		await syncAll(people, id);
		await syncAll(people, id);
		// ✓ the member holds the key the kick made for #mods, sealed by a reader who saw both
		const texts = spaceOf(cast.member, id)
			.channel(mods.id)!
			.messages.map((m) => m.text);
		expect(texts).toContain('mods only, after the kick');
		expectSamePicture(people, id);
	});
});
