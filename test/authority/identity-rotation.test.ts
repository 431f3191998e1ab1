/**
 * Story: Ada fears her recovery phrase leaked. She rotates her identity key: a new phrase, a new key
 * certified by the old one. Ben and Cy still see the same Ada — same user id, same role in Ben's
 * Studio, still the owner of her Book club — and she keeps writing. The thief holding the old
 * phrase can no longer act:
 * - after the rotation, a card or device signed by the old key is refused by every peer (causally);
 * - written concurrently with the rotation, it is refused too, whatever the delivery order
 *   (strong rotation; property);
 * - Ada restores from the new phrase on a fresh device: same user, same spaces; the old phrase is
 *   refused with `identity-rotated`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Charter, isCharterError, type Space } from '../../src/lib/index.js';
import { forge, identityOf } from '../support/hostile.js';
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
import { startSyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';
import { decodeUserCard } from '../../src/lib/identity/certificates.js';
import type { SpaceDoc } from '../../src/lib/authority/schema.js';

const open: Persona[] = [];
afterEach(async () => {
	await shutdown(open.splice(0));
});

/** Ada (phrase kept) owns the Book club with Ben and Cy; in Ben's Studio she is a moderator. */
async function setup() {
	const adaClient = await Charter.open({ inMemory: true, deviceName: 'ada' });
	const { phrase } = await adaClient.createIdentity();
	const ada: Persona = { name: 'ada', client: adaClient };
	const cast = { ada, ...(await personas('ben', 'cy')) };
	const people = Object.values(cast);
	open.push(...people);
	const club = await ada.client.createSpace({ name: 'Book club' });
	for (const p of [cast.ben, cast.cy]) await club.addMember(await p.client.memberCard());
	await club.channels[0]!.send('first chapter tonight');
	const studio = await cast.ben.client.createSpace({ name: 'Studio' });
	await studio.addMember(await ada.client.memberCard());
	const mod = await studio.createRole({
		name: 'Moderator',
		permissions: ['MANAGE_MESSAGES', 'KICK_MEMBERS'],
		position: 3
	});
	await studio.assignRole(userOf(ada), mod.id);
	await syncAll(people, club.id);
	await syncAll([ada, cast.ben], studio.id);
	const on = (p: Persona, space: Space = club): Space => p.client.space(space.id)!;
	return { cast, people, club, studio, mod, phrase, on };
}

/** Ada's card as a peer holds it. */
function cardOf(space: Space, user: string) {
	const bytes = space.document.members?.[user as never]?.card;
	return bytes instanceof Uint8Array ? decodeUserCard(bytes) : undefined;
}

describe('identity rotation', () => {
	it('✓ Ada rotates: Ben sees the same user id, her role and her ownership, and her new key', async () => {
		const { cast, people, club, studio, mod, on } = await setup();
		const ada = userOf(cast.ada);
		const before = cardOf(on(cast.ben), ada)!;
		const { phrase: newPhrase, userId } = await cast.ada.client.rotateIdentity();
		// ✓ a new phrase, the same user
		expect(newPhrase.split(' ')).toHaveLength(24);
		expect(userId).toBe(ada);
		expect(cast.ada.client.identity!.userId).toBe(ada);
		await syncAll(people, club.id);
		await syncAll([cast.ada, cast.ben], studio.id);
		await on(cast.ada).channels[0]!.send('new key, same me');
		await on(cast.ada, studio).channels[0]!.send('still a moderator');
		await syncAll(people, club.id);
		await syncAll([cast.ada, cast.ben], studio.id);
		const seen = cardOf(on(cast.ben), ada)!;
		// ✓ Ben holds Ada's new card: one rotation, a new identity key and a new encryption key
		expect(seen.user).toBe(ada);
		expect(seen.rotations).toHaveLength(1);
		expect(seen.identityKey).not.toEqual(before.identityKey);
		expect(seen.encryptionKey).not.toEqual(before.encryptionKey);
		// ✓ ownership and roles stay
		expect(on(cast.ben).owner).toBe(ada);
		expect(on(cast.cy).owner).toBe(ada);
		expect(on(cast.ben, studio).members.find((m) => m.user === ada)?.roles).toContain(mod.id);
		// ✓ she keeps writing, in her space and in Ben's
		for (const p of [cast.ben, cast.cy])
			expect(on(p).channels[0]!.messages.map((m) => `${m.author === ada}:${m.text}`)).toEqual([
				'true:first chapter tonight',
				'true:new key, same me'
			]);
		expect(on(cast.ben, studio).channels[0]!.messages.map((m) => m.text)).toEqual([
			'still a moderator'
		]);
		// ✓ and she can still act as the owner and create spaces under the new key
		await on(cast.ada).rename('Book club (rotated)');
		await syncAll(people, club.id);
		expect(on(cast.cy).name).toBe('Book club (rotated)');
		const fresh = await cast.ada.client.createSpace({ name: 'After' });
		expect(fresh.owner).toBe(ada);
		await fresh.addMember(await cast.ben.client.memberCard());
		await syncAll([cast.ada, cast.ben], fresh.id);
		expect(on(cast.ben, fresh).owner).toBe(ada);
	});

	it('✓ after the rotation, the old key certifies nothing that any peer accepts', async () => {
		const { cast, people, club, phrase, on } = await setup();
		const ada = userOf(cast.ada);
		await cast.ada.client.rotateIdentity();
		await syncAll(people, club.id);
		// the thief restores the old phrase on a device of their own (offline: no pointer to read)
		const thief = await freshDevice(phrase, 'thief');
		open.push(thief);
		expect(thief.client.identity!.userId).toBe(ada);
		await deliver(cast.ada, thief, club.id);
		const stolen = await identityOf(thief.client);
		// a card of the old key with the thief's device on it, forged past every client check
		const oldCard = await stolen.cardWith([]);
		await forge<SpaceDoc>(thief.client, on(thief), {}, (d) => {
			d.members[ada]!.card = oldCard.bytes;
		});
		await forge<SpaceDoc>(thief.client, on(thief), {}, (d) => {
			d.name = 'Stolen';
		});
		for (const p of [cast.ben, cast.cy]) await deliver(thief, p, club.id);
		await syncAll(people, club.id);
		for (const p of [cast.ada, cast.ben, cast.cy]) {
			// ✓ refused on every peer: Ada's card is still the rotated one; the thief's device is nobody's
			expect(cardOf(on(p), ada)!.rotations).toHaveLength(1);
			expect(on(p).state!.userOfDevice(stolen.deviceKey)).toBeUndefined();
			expect(on(p).name).toBe('Book club');
			expect(on(p).rejections.map((r) => r.reason)).toEqual(
				expect.arrayContaining([
					'the card does not extend the identity rotations of the card it replaces',
					'not a member device'
				])
			);
		}
	});

	it('✓ property: an old-key card and message written concurrently with the rotation are refused by every peer, in every delivery order', async () => {
		const { cast, people, club, phrase, on } = await setup();
		const ada = userOf(cast.ada);
		// before Ada rotates, the thief restores the old phrase and registers a device of the old key
		const thief = await freshDevice(phrase, 'thief');
		open.push(thief);
		await deliver(cast.ada, thief, club.id);
		await on(thief).ensureDeviceRegistered();
		const stolen = await identityOf(thief.client);
		await on(thief).channels[0]!.send('send me your passwords');
		// meanwhile, not having seen any of it, Ada rotates
		await cast.ada.client.rotateIdentity();
		await on(cast.ada).channels[0]!.send('rotated');
		const sources = [cast.ada, thief];
		await fc.assert(
			fc.asyncProperty(
				fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
				fc.boolean(),
				fc.integer({ min: 1, max: 3 }),
				async (keys, thiefFirst, batch) => {
					const reader = await personas('reader');
					const r = reader.reader;
					open.push(r);
					await club.addMember(await r.client.memberCard());
					for (const source of thiefFirst ? [...sources].reverse() : sources)
						await deliver(source, r, club.id, { shuffle: orderBy(keys), batch });
					const seen = on(r);
					await eventually(() => seen.channels[0], 'the channel to open');
					for (const source of sources) await deliver(source, r, club.id);
					// ✓ Ada's rotated card stands; the old key's device is nobody's; its message is dropped
					expect(cardOf(seen, ada)!.rotations).toHaveLength(1);
					expect(seen.state!.userOfDevice(stolen.deviceKey)).toBeUndefined();
					expect(seen.channels[0]!.messages.map((m) => m.text)).toEqual([
						'first chapter tonight',
						'rotated'
					]);
				}
			),
			{ numRuns: 4 }
		);
		// ✓ and so on the peers that hold everything, Ada's own device included
		for (const p of people) await deliver(thief, p, club.id);
		await syncAll(people, club.id);
		for (const p of people) {
			expect(cardOf(on(p), ada)!.rotations).toHaveLength(1);
			expect(on(p).state!.userOfDevice(stolen.deviceKey)).toBeUndefined();
			expect(on(p).channels[0]!.messages.map((m) => m.text)).toEqual([
				'first chapter tonight',
				'rotated'
			]);
		}
	}, 120_000);

	it('✓ a thief who rotates the old key at the same time as Ada: one rotation stands, the same on every peer (maybe the thief’s — the limit)', async () => {
		const { cast, people, club, phrase, on } = await setup();
		const ada = userOf(cast.ada);
		const thief = await freshDevice(phrase, 'thief');
		open.push(thief);
		await deliver(cast.ada, thief, club.id);
		await on(thief).ensureDeviceRegistered();
		// offline from each other, both rotate the same old key: a fork of the chain
		await thief.client.rotateIdentity();
		await cast.ada.client.rotateIdentity();
		await deliver(cast.ada, cast.ben, club.id);
		await deliver(thief, cast.ben, club.id);
		await deliver(thief, cast.cy, club.id);
		await deliver(cast.ada, cast.cy, club.id);
		await syncAll([...people, thief], club.id);
		const cards = [...people, thief].map((p) => cardOf(on(p), ada)!);
		// ✓ one chain of one link, the same card on every peer
		for (const card of cards) {
			expect(card.rotations).toHaveLength(1);
			expect(card.bytes).toEqual(cards[0]!.bytes);
		}
		expect(on(cast.ben).owner).toBe(ada);
	}, 120_000);

	it('✓ Ada restores from the new phrase on a fresh device: same user, same spaces; the old phrase is refused', async () => {
		const server = await startSyncServerProcess();
		const clients: Charter[] = [];
		try {
			const dir = async (name: string) => mkdtemp(join(tmpdir(), `ada-${name}-`));
			const laptop = await Charter.open({
				dataDir: await dir('laptop'),
				syncServers: [server.wsUrl]
			});
			clients.push(laptop);
			const { phrase: oldPhrase, userId } = await laptop.createIdentity();
			const ben = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
			clients.push(ben);
			await ben.createIdentity();
			const club = await laptop.createSpace({ name: 'Book club' });
			await club.addMember(await ben.memberCard());
			await club.channels[0]!.send('before the rotation');
			const { phrase } = await laptop.rotateIdentity();
			await club.channels[0]!.send('after the rotation');
			await ben.openSpace(club.id);
			await eventually(
				() => ben.space(club.id)?.channels[0]?.messages.length === 2,
				'Ben to read both messages'
			);
			// ✓ the fresh device finds the chain: the same user, the same space, the whole history
			const fresh = await Charter.open({ dataDir: await dir('new'), syncServers: [server.wsUrl] });
			clients.push(fresh);
			expect((await fresh.restoreIdentity(phrase)).userId).toBe(userId);
			await eventually(
				() => fresh.spaces.length === 1 && fresh.spaces[0]!.ready,
				'the club to come back',
				20_000
			);
			const again = fresh.spaces[0]!;
			await eventually(
				() => again.channels[0]?.messages.length === 2,
				'the history, before and after the rotation',
				20_000
			);
			await again.channels[0]!.send('from the new device');
			await eventually(
				() =>
					ben
						.space(club.id)!
						.channels[0]!.messages.some(
							(m) => m.text === 'from the new device' && m.author === userId
						),
				'Ben to read it, written by Ada'
			);
			// ✓ the old phrase restores nothing: a typed error, read from the published chain
			const old = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
			clients.push(old);
			const refused = await old.restoreIdentity(oldPhrase).then(
				() => 'restored',
				(e: unknown) => (isCharterError(e) ? e.code : String(e))
			);
			expect(refused).toBe('identity-rotated');
			expect(old.identity).toBeUndefined();
		} finally {
			for (const c of clients.reverse()) await c.close().catch(() => undefined);
			await server.stop();
		}
	}, 120_000);

	it('✓ after the rotation, a device Ada links is certified by her new key and writes as Ada', async () => {
		const server = await startSyncServerProcess();
		const clients: Charter[] = [];
		try {
			const open = (options = {}) =>
				Charter.open({ inMemory: true, syncServers: [server.wsUrl], ...options });
			const laptop = await open();
			clients.push(laptop);
			const { userId } = await laptop.createIdentity();
			const ben = await open();
			clients.push(ben);
			await ben.createIdentity();
			const club = await laptop.createSpace({ name: 'Book club' });
			await club.addMember(await ben.memberCard());
			await laptop.rotateIdentity();
			const { code, linked } = await laptop.linkDevice();
			const phone = await open();
			clients.push(phone);
			// ✓ the phone receives the chain with the keys: the same user
			expect((await phone.acceptDeviceLink(code)).userId).toBe(userId);
			await linked;
			await eventually(
				() => phone.spaces.length === 1 && phone.spaces[0]!.channels[0],
				'the club on the phone',
				20_000
			);
			await phone.spaces[0]!.channels[0]!.send('from my new phone');
			await ben.openSpace(club.id);
			await eventually(
				() =>
					ben
						.space(club.id)
						?.channels[0]?.messages.some(
							(m) => m.text === 'from my new phone' && m.author === userId
						),
				"Ben to read the phone's message, written by Ada",
				20_000
			);
			const card = cardOf(ben.space(club.id)!, userId)!;
			expect(card.rotations).toHaveLength(1);
			expect(card.devices.map((d) => d.device)).toContain(phone.identity!.deviceId);
		} finally {
			for (const c of clients.reverse()) await c.close().catch(() => undefined);
			await server.stop();
		}
	}, 120_000);
});
