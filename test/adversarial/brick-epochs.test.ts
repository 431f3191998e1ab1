/**
 * A plain member tries to veto every write by naming epochs nobody holds (issue 12, case 2). With
 * only her own device's keys she signs entries that name random epoch ids as current — for the
 * space document, for a channel, for a private channel she cannot read. An epoch is named only by
 * a reader of its document, and replaces a naming of higher rank only with an action that calls for
 * a rotation; where she may name one (revoking a device of her own), the owner's write path rotates
 * past it: the owner still writes in every channel, changes the space and bans her, and every peer
 * — a device restored from the phrase, fed the entries in a random order, too — sees the same.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Charter, isCharterError, type Space, type SpaceId } from '../../src/lib/index.js';
import type { Channel } from '../../src/lib/index.js';
import { atom, type SpaceDoc } from '../../src/lib/authority/schema.js';
import { channelIdBytes } from '../../src/lib/identity/ids.js';
import { base58, randomBytes } from '../../src/lib/util/bytes.js';
import {
	deliver,
	personas,
	picture,
	shutdown,
	syncAll,
	userOf,
	type Persona
} from '../support/personas.js';
import { forge } from '../support/hostile.js';

/** A deterministic permutation of n items for a seed. */
const shuffled = (seed: number) => (n: number) => {
	const order = [...Array(n).keys()];
	let x = seed;
	for (let i = n - 1; i > 0; i--) {
		x = (x * 1103515245 + 12345) % 2147483648;
		const j = x % (i + 1);
		[order[i], order[j]] = [order[j]!, order[i]!];
	}
	return order;
};
const junk = () => atom(base58.encode(randomBytes(16)));
const codeOf = (p: Promise<unknown>) =>
	p.then(
		() => 'ok',
		(e) => (isCharterError(e) ? e.code : `untyped: ${e}`)
	);

let people: Persona[] = [];
afterEach(async () => {
	await shutdown(people);
	people = [];
});

async function setup() {
	const ownerClient = await Charter.open({ inMemory: true, deviceName: 'owner' });
	const { phrase } = await ownerClient.createIdentity();
	const owner: Persona = { name: 'owner', client: ownerClient };
	const { bob, mallory } = await personas('bob', 'mallory');
	people = [owner, bob, mallory];
	const guild = await owner.client.createSpace({ name: 'Guild' });
	const secret = await guild.createChannel({ name: 'secret', private: true });
	for (const p of [bob, mallory]) await guild.addMember(await p.client.memberCard());
	await guild.channels.find((c) => c.name === 'general')!.send('welcome');
	await secret.send('owner only');
	await syncAll(people, guild.id);
	const id: SpaceId = guild.id;
	const space = (p: Persona): Space => p.client.space(id)!;
	const channel = (p: Persona, name: string): Channel =>
		space(p).channels.find((c) => c.name === name)!;
	const keyOf = (name: 'space' | 'general' | 'secret') =>
		base58.encode(
			name === 'space'
				? guild.idBytes
				: channelIdBytes(
						Object.entries(guild.document.channels).find(([, c]) => String(c.name) === name)![0]
					)
		);
	return { owner, bob, mallory, phrase, id, space, channel, keyOf, secretId: secret.id };
}

describe('a plain member naming epochs nobody holds', () => {
	it('✓ a naming on its own — space, channel, private channel — is refused by every peer', async () => {
		const { owner, bob, mallory, id, space, channel, keyOf } = await setup();
		for (const target of ['space', 'general', 'secret'] as const)
			await forge<SpaceDoc>(mallory.client, space(mallory), {}, (d) => {
				d.epochs[keyOf(target)] = junk();
			});
		await syncAll(people, id);

		for (const p of [owner, bob]) {
			const reasons = space(p).rejections.map((r) => r.reason);
			// ✓ her two namings over the owner's were refused, and so was the one she cannot read
			expect(
				reasons.filter(
					(r) =>
						r === 'an epoch named by a higher rank is replaced only when a rotation is called for'
				)
			).toHaveLength(2);
			expect(reasons).toContain('only a reader of a document names its epoch');
		}
		// ✓ the owner writes everywhere as before
		await channel(owner, 'general').send('still here');
		await channel(owner, 'secret').send('still secret');
		await space(owner).rename('Guild, unbricked');
		await space(owner).ban(userOf(mallory));
		await syncAll(people, id);
		expect(channel(bob, 'general').messages.map((m) => m.text)).toEqual(['welcome', 'still here']);
		expect(space(bob).name).toBe('Guild, unbricked');
		expect(space(bob).bans.map((b) => b.user)).toEqual([userOf(mallory)]);
		expect(space(mallory).isBanned).toBe(true);
	});

	it('✓ a junk epoch she may name (with a device revocation of her own) is rotated past: the owner sends in every channel, renames, bans her; all peers converge in any order', async () => {
		const { owner, bob, mallory, phrase, id, space, channel, keyOf } = await setup();
		await forge<SpaceDoc>(mallory.client, space(mallory), {}, (d) => {
			const me = d.members[userOf(mallory)]!;
			me.revokedDevices ??= {};
			me.revokedDevices['dev_none'] = true;
			d.epochs[keyOf('space')] = junk();
			d.epochs[keyOf('general')] = junk();
		});
		// the private channel she cannot read stays out of reach even with a revocation
		await forge<SpaceDoc>(mallory.client, space(mallory), {}, (d) => {
			const me = d.members[userOf(mallory)]!;
			me.revokedDevices ??= {};
			me.revokedDevices['dev_other'] = true;
			d.epochs[keyOf('secret')] = junk();
		});
		await syncAll(people, id);
		// ✓ her revocation with the junk namings stands (rotating there is what a revocation calls for)
		expect(space(owner).currentEpoch(space(owner).idBytes)).toBeUndefined();
		expect(space(owner).rejections.map((r) => r.reason)).toContain(
			'only a reader of a document names its epoch'
		);

		// ✓ the owner's write path rotates past the junk, in the space and in every channel
		await channel(owner, 'general').send('after the junk');
		await channel(owner, 'secret').send('secret after the junk');
		await space(owner).rename('Guild again');
		await space(owner).ban(userOf(mallory), { reason: 'vetoing writes' });
		expect(space(owner).bans.map((b) => b.user)).toEqual([userOf(mallory)]);
		await syncAll(people, id);
		await syncAll(people, id);

		expect(channel(bob, 'general').messages.map((m) => m.text)).toEqual([
			'welcome',
			'after the junk'
		]);
		expect(space(bob).name).toBe('Guild again');
		expect(space(bob).bans.map((b) => b.user)).toEqual([userOf(mallory)]);
		expect(space(mallory).isBanned).toBe(true);
		// ✓ bob, a plain member, writes too: the owner's epoch reached him
		await channel(bob, 'general').send('bob too');
		await syncAll([owner, bob], id);
		const { messages: bobSees, ...bobSpace } = picture(space(bob));
		const { messages: ownerSees, ...ownerSpace } = picture(space(owner));
		expect(bobSpace).toEqual(ownerSpace);
		const general = channel(owner, 'general').id;
		expect(bobSees[general]).toEqual(ownerSees[general]);

		// ✓ a device restored from the phrase, fed every entry one by one in a scrambled order, agrees
		const device = await Charter.open({ inMemory: true });
		await device.restoreIdentity(phrase);
		const restored: Persona = { name: 'owner-2', client: device };
		people.push(restored);
		const reverse = (n: number) => [...Array(n).keys()].reverse();
		await deliver(owner, restored, id, { shuffle: reverse, batch: 1 });
		await deliver(bob, restored, id);
		expect(picture(space(restored))).toEqual(picture(space(owner)));

		// ✓ and so does one fed them in any order (fast-check picks the orders)
		await fc.assert(
			fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), async (seed) => {
				const other = await Charter.open({ inMemory: true });
				await other.restoreIdentity(phrase);
				const persona: Persona = { name: 'owner-3', client: other };
				try {
					await deliver(owner, persona, id, { shuffle: shuffled(seed), batch: 3 });
					expect(picture(space(persona))).toEqual(picture(space(owner)));
				} finally {
					await other.close();
				}
			}),
			{ numRuns: 3, endOnFailure: true }
		);
	});

	it('✓ a member who may not rotate past a withheld epoch gets a typed unknown-epoch, and nothing is kept', async () => {
		const { owner, bob, id, space, channel, keyOf } = await setup();
		// the owner names epochs whose keys reach nobody (her own forged entry)
		await forge<SpaceDoc>(owner.client, space(owner), {}, (d) => {
			d.epochs[keyOf('space')] = junk();
			d.epochs[keyOf('general')] = junk();
		});
		await deliver(owner, bob, id);
		const before = picture(space(bob));
		expect(await codeOf(channel(bob, 'general').send('lost?'))).toBe('unknown-epoch');
		expect(await codeOf(space(bob).setNickname('bobby'))).toBe('unknown-epoch');
		// ✓ no local trace: the message list and the member list are what they were
		expect(picture(space(bob))).toEqual(before);
		// ✓ and the owner, who outranks every naming, rotates past her own mistake
		await channel(owner, 'general').send('fixed');
		await deliver(owner, bob, id);
		await channel(bob, 'general').send('now I can');
		await space(bob).setNickname('bobby');
		await deliver(bob, owner, id);
		expect(channel(owner, 'general').messages.map((m) => m.text)).toEqual([
			'welcome',
			'fixed',
			'now I can'
		]);
	});
});
