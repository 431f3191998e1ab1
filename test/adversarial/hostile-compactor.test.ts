/**
 * A hostile member as compactor. Mallory holds the channel's epoch key, so she can seal fragments
 * and put them in the channel's envelope — but a fragment only carries entries, and every entry is
 * checked against its own author's signature. She tries:
 *   - a forged entry in Alice's name that claims to continue Alice's hash chain (so that, were chain
 *     links trusted without the newest signature, it would vouch for itself);
 *   - a genuine entry of Alice's with one ciphertext byte flipped;
 *   - Alice's genuine entries, copied (harmless: readers dedupe);
 *   - moving the channel's history generation without MANAGE_MESSAGES (refused by the space rules).
 * Alice, and a member who arrives later and reads through the fragment, see exactly Alice's
 * messages; the forgeries are counted as `bad-signature` drops.
 */
import * as A from '@automerge/automerge';
import { afterAll, describe, expect, it } from 'vitest';
import { Charter } from '../../src/lib/index.js';
import { KeyRing } from '../../src/lib/encryption/keyring.js';
import { parseEntry, sealEntry, type ParsedEntry } from '../../src/lib/encryption/entry.js';
import { sealFragment } from '../../src/lib/encryption/fragment.js';
import { actorFor } from '../../src/lib/authority/actors.js';
import { atom, type ChannelDoc } from '../../src/lib/authority/schema.js';
import { encodeChangeBatch } from '../../src/lib/sync/body.js';
import { bytesWrittenBy } from '../../src/lib/sync/envelope.js';
import { channelIdBytes } from '../../src/lib/identity/ids.js';
import { base58, bytesEqual } from '../../src/lib/util/bytes.js';
import { forge, identityOf } from '../support/hostile.js';
import { startSyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';
import type { SecretStore } from '../../src/lib/identity/secret-store.js';

describe('a hostile compactor', async () => {
	const server = await startSyncServerProcess();
	const alice = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	const mallory = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	const carol = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	afterAll(async () => {
		for (const c of [alice, mallory, carol]) await c.close();
		await server.stop();
	});

	it('✓ forged and tampered entries inside a fragment are dropped; genuine ones read once; the history pointer needs MANAGE_MESSAGES', async () => {
		await alice.createIdentity();
		await mallory.createIdentity();
		await carol.createIdentity();
		const space = await alice.createSpace({ name: 'Town' });
		await space.addMember(await mallory.memberCard());
		const channel = await space.createChannel({ name: 'square' });
		for (let i = 0; i < 5; i++) await channel.send(`alice ${i}`);
		const theirs = await mallory.openSpace(space.id);
		await eventually(
			() => theirs.channel(channel.id)?.messages.length === 5,
			'Mallory to read the channel'
		);
		const malloryChannel = theirs.channel(channel.id)!;

		// Alice's genuine entries, as Mallory's copy of the envelope holds them
		const document = channelIdBytes(channel.id);
		const aliceDevice = (await identityOf(alice)).deviceKey;
		const genuine: ParsedEntry[] = [];
		for (const bytes of bytesWrittenBy(A.getAllChanges(malloryChannel.envelope.doc())))
			try {
				const entry = parseEntry(bytes);
				if (bytesEqual(entry.header.author, aliceDevice)) genuine.push(entry);
			} catch {
				/* not an entry */
			}
		genuine.sort((a, b) => a.header.seq - b.header.seq);
		expect(genuine.length).toBeGreaterThanOrEqual(5);
		const last = genuine.at(-1)!;

		const secrets = (mallory as unknown as { stores: { secrets: SecretStore } }).stores.secrets;
		const keys = await KeyRing.load(secrets, space.idBytes);
		const { epoch, key } = keys.allFor(document).at(-1)!;
		const malloryIdentity = await identityOf(mallory);

		// a message in Alice's name, continuing Alice's chain, signed by Mallory's device
		const actor = actorFor(aliceDevice, last.header.session);
		const base = (malloryChannel as unknown as { replica: { doc: A.Doc<ChannelDoc> } }).replica.doc;
		const forgedDoc = A.change(A.clone(base, { actor }), (d) => {
			d.buckets['forged'] = {
				'forged.0': {
					author: atom(alice.identity!.userId),
					text: new A.ImmutableString('alice never wrote this'),
					createdAt: Date.now()
				}
			};
		});
		const forged = await sealEntry({
			space: space.idBytes,
			document,
			epoch,
			epochKey: key,
			author: aliceDevice,
			session: last.header.session,
			seq: last.header.seq + 1,
			prev: last.hash,
			body: encodeChangeBatch({
				context: A.getHeads(space.document),
				changes: [A.getLastLocalChange(forgedDoc)!]
			}),
			sign: (m) => malloryIdentity.signAsDevice(m)
		});
		const tampered = genuine[1]!.bytes.slice();
		tampered[genuine[1]!.headerBytes.length + 10]! ^= 1;

		const fragment = await sealFragment({
			space: space.idBytes,
			document,
			generation: 0,
			epoch,
			epochKey: key,
			compactor: malloryIdentity.deviceKey,
			entries: [...genuine.map((e) => e.bytes), forged.bytes, tampered],
			sign: (m) => malloryIdentity.signAsDevice(m)
		});
		await mallory.wire.append(malloryChannel.envelope, [
			{ key: base58.encode(fragment.bytes.subarray(0, 16)), bytes: fragment.bytes }
		]);
		// and she moves the channel's history, which needs MANAGE_MESSAGES
		await forge(mallory, theirs, {}, (d: { channels: Record<string, { history?: number }> }) => {
			d.channels[channel.id]!.history = 1;
		});

		// Carol arrives after all this and reads everything from the envelope
		await space.addMember(await carol.memberCard());
		const carolSpace = await carol.openSpace(space.id);
		await eventually(
			() => carolSpace.channel(channel.id)?.messages.length === 5,
			'Carol to read the channel'
		);
		const carolChannel = carolSpace.channel(channel.id)!;
		await eventually(
			() => (carolChannel.stats.dropped['bad-signature'] ?? 0) >= 2,
			'Carol to drop both forgeries',
			20_000
		);
		await eventually(
			() => (channel.stats.dropped['bad-signature'] ?? 0) >= 2,
			'Alice to drop both forgeries',
			20_000
		);
		for (const c of [channel, carolChannel]) {
			expect(c.messages.map((m) => m.text)).toEqual([0, 1, 2, 3, 4].map((i) => `alice ${i}`));
			expect(c.generation).toBe(0);
		}
		expect(space.document.channels[channel.id]?.history).toBeUndefined();
		expect(carolSpace.document.channels[channel.id]?.history).toBeUndefined();
	});
});
