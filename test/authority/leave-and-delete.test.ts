/**
 * Story: Cy leaves Ada's reading circle; later Ada closes the circle for good.
 * - Cy leaves: every key he could read rotates, made by a member who stays — never by Cy, who would
 *   know the new key. What Ben writes afterwards is sealed under an epoch Cy holds no key of, even
 *   when Ben writes before anyone else has seen the leave; Cy, given every entry, reads none of it.
 * - Ada deletes the space: only she may (Ben is refused by his app, and his forged deletion by every
 *   peer); every member's client forgets the space and lists it as deleted.
 */
import { describe, expect, it } from 'vitest';
import { Charter, MemorySecretStore, type Space } from '../../src/lib/index.js';
import { KeyRing } from '../../src/lib/encryption/keyring.js';
import { parseEntry } from '../../src/lib/encryption/entry.js';
import { channelIdBytes } from '../../src/lib/identity/ids.js';
import { forge } from '../support/hostile.js';
import {
	deliver,
	entriesOf,
	personas,
	shutdown,
	syncAll,
	userOf,
	type Persona
} from '../support/personas.js';
import { base58 } from '../../src/lib/util/bytes.js';

/** Epochs of the entries in a document's envelope, by entry (sealed change batches only). */
async function epochsOf(client: Charter, space: Space, document: Uint8Array): Promise<string[]> {
	const epochs: string[] = [];
	for (const bytes of await entriesOf(client, space.id, document)) {
		try {
			epochs.push(base58.encode(parseEntry(bytes).header.epoch));
		} catch {
			/* a lockbox or genesis */
		}
	}
	return epochs;
}

/** Ada's circle with Ben and Cy; Cy's epoch keys are kept where the story can look (`cySecrets`). */
async function circle() {
	const cySecrets = new MemorySecretStore();
	const cyClient = await Charter.open({
		inMemory: true,
		deviceName: 'cy',
		stores: { secrets: cySecrets }
	});
	await cyClient.createIdentity();
	const cast = {
		...(await personas('ada', 'ben')),
		cy: { name: 'cy', client: cyClient } as Persona
	};
	const people = Object.values(cast);
	const space = await cast.ada.client.createSpace({ name: 'Reading circle' });
	for (const p of [cast.ben, cast.cy]) await space.addMember(await p.client.memberCard());
	await syncAll(people, space.id);
	const on = (p: Persona) => p.client.space(space.id)!;
	return { cast, people, space, on, cySecrets };
}

describe('leaving a space', () => {
	it('✓ a leave rotates every key the leaver could read, by those who stay: the leaver cannot read what is written after', async () => {
		const { cast, people, space, on, cySecrets } = await circle();
		try {
			const general = space.channels[0]!;
			const document = channelIdBytes(general.id);
			await on(cast.cy).channels[0]!.send('Goodbye, everyone');
			await syncAll(people, space.id);
			const before = {
				channel: String(space.document.epochs[base58.encode(document)]),
				space: String(space.document.epochs[base58.encode(space.idBytes)])
			};
			await on(cast.cy).leave();
			// ✓ Cy's own leave names no new epoch: he would know its key
			expect(String(on(cast.cy).document.epochs[base58.encode(document)])).toBe(before.channel);
			// Ben hears of the leave first (Ada is offline) and writes the moment his app shows it —
			// while his client is still making the new keys
			const onBen = on(cast.ben);
			let writes: Promise<unknown>[] | undefined;
			const stop = onBen.subscribe((seen) => {
				if (writes || seen.state?.isMember(userOf(cast.cy)) !== false) return;
				writes = [seen.channels[0]!.send('after Cy left'), seen.setNickname('Benedict')];
			});
			await deliver(cast.cy, cast.ben, space.id);
			stop();
			expect(writes).toBeDefined();
			await Promise.all(writes!);
			await syncAll(people, space.id);
			for (const p of [cast.ada, cast.ben]) {
				const seen = on(p);
				// ✓ both documents have a new epoch, the same everywhere, and nothing is refused
				expect(String(seen.document.epochs[base58.encode(document)])).not.toBe(before.channel);
				expect(String(seen.document.epochs[base58.encode(space.idBytes)])).not.toBe(before.space);
				expect(seen.rejections).toEqual([]);
				expect(seen.channels[0]!.messages.map((m) => m.text)).toContain('after Cy left');
			}
			// ✓ Cy received every entry (his envelopes hold Ben's latest), yet holds no key of the
			// epochs they are sealed under, and reads neither the message nor Ben's new nickname
			const keys = await KeyRing.load(cySecrets, space.idBytes);
			const channelEpochs = await epochsOf(cast.ben.client, space, document);
			expect(await epochsOf(cast.cy.client, space, document)).toEqual(
				expect.arrayContaining(channelEpochs)
			);
			const newest = channelEpochs.at(-1)!;
			expect(newest).not.toBe(before.channel);
			expect(keys.has(document, base58.decode(newest))).toBe(false);
			const spaceEpochs = await epochsOf(cast.ben.client, space, space.idBytes);
			expect(keys.has(space.idBytes, base58.decode(spaceEpochs.at(-1)!))).toBe(false);
			const cySees = on(cast.cy);
			expect(cySees.channel(general.id)?.messages.map((m) => m.text) ?? []).not.toContain(
				'after Cy left'
			);
			expect(cySees.document.members[userOf(cast.ben)]?.nickname).toBeUndefined();
			// ✓ and what Cy wrote before leaving stays
			expect(on(cast.ada).channels[0]!.messages.map((m) => m.text)).toContain('Goodbye, everyone');
		} finally {
			await shutdown(people);
		}
	});
});

describe('deleting a space', () => {
	it('✓ only the owner deletes a space: members are refused by their app and by every peer; on deletion every member’s client forgets it and lists it as deleted', async () => {
		const { cast, people, space, on } = await circle();
		try {
			const admin = await space.createRole({
				name: 'Admin',
				permissions: ['ADMINISTRATOR'],
				position: 5
			});
			await space.assignRole(userOf(cast.ben), admin.id);
			await syncAll(people, space.id);
			// ✓ Ben, an administrator, is refused by his app, and writes nothing
			const before = (await entriesOf(cast.ben.client, space.id, space.idBytes)).length;
			await expect(on(cast.ben).delete()).rejects.toMatchObject({ code: 'not-authorized' });
			expect((await entriesOf(cast.ben.client, space.id, space.idBytes)).length).toBe(before);
			// ✓ his deletion written past the app is refused by every peer; the space stays
			await forge<{ deletedAt?: number }>(cast.ben.client, on(cast.ben), {}, (d) => {
				d.deletedAt = Date.now();
			});
			await syncAll(people, space.id);
			for (const p of people) {
				expect(on(p).rejections.map((r) => r.reason)).toEqual(['owner only']);
				expect(on(p).deletedAt).toBeUndefined();
				expect(p.client.spaces.map((s) => s.id)).toEqual([space.id]);
			}
			// Ada deletes it
			await space.delete();
			// ✓ her own client forgets it at once
			expect(cast.ada.client.space(space.id)).toBeUndefined();
			expect(cast.ada.client.deletedSpaces).toMatchObject([
				{ id: space.id, name: 'Reading circle' }
			]);
			// ✓ and so does every member's, as soon as the deletion arrives
			for (const p of [cast.ben, cast.cy]) {
				const seen = on(p);
				await deliver(cast.ada, p, space.id);
				await seen.settled();
				expect(p.client.space(space.id)).toBeUndefined();
				expect(p.client.spaces).toEqual([]);
				expect(p.client.deletedSpaces).toMatchObject([
					{ id: space.id, name: 'Reading circle', deletedAt: expect.any(Number) }
				]);
			}
			await cast.cy.client.dismissDeletedSpace(space.id);
			expect(cast.cy.client.deletedSpaces).toEqual([]);
		} finally {
			await shutdown(people);
		}
	});
});
