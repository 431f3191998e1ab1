/**
 * A hostile automerge-repo peer on a real sync server. With no Charter code in its write path, it
 * writes arbitrary Automerge changes into envelope documents — deletes and overwrites entries: the
 * server and every client refuse them unsealed (and count them). Sealing its changes with a
 * publishing key of its own (anyone can make one), it floods junk, inserts huge, truncated,
 * malformed and forged entries, replays entries into other channels and spaces. Honest peers must
 * lose nothing, accept nothing, count the drops and not crash.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as A from '@automerge/automerge';
import { Repo, type DocHandle } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { Charter, type Space } from '../../src/lib/index.js';
import { envelopeDocumentId } from '../../src/lib/sync/envelope.js';
import { channelIdBytes, spaceIdBytes } from '../../src/lib/identity/ids.js';
import { startSyncServerProcess, type SyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';
import { forge } from '../support/hostile.js';
import { entriesOf } from '../support/personas.js';
import { entryKey, parseEntry, sealEntry } from '../../src/lib/encryption/entry.js';
import { Identity } from '../../src/lib/identity/identity.js';
import { KeyRing } from '../../src/lib/encryption/keyring.js';
import { Publisher } from '../../src/lib/sync/publication.js';
import type { SecretStore } from '../../src/lib/identity/secret-store.js';
import type { ChannelDoc } from '../../src/lib/authority/schema.js';
import { entriesIn } from '../support/held.js';

type Envelope = { entries: Record<string, unknown> };

let server: SyncServerProcess;
let alice: Charter;
let bob: Charter;
let mallory: Repo;
/** Mallory again, from a repo that never held her unsealed vandalism (her sealed changes would
 * depend on it, and wait forever for changes nobody accepted). */
let mallorySealed: Repo;
/** Mallory's own publishing key: seals her changes (which proves nothing about their content). */
let malloryPublisher: Publisher;
let space: Space;
let bobPhrase: string;
const texts = (s: Space) =>
	s.channels.find((c) => c.name === 'general')!.messages.map((m) => m.text);

/** A member seals a body that is not a change batch, under the real key, with their real device key. */
async function sealGarbage(client: Charter, s: Space, channel: string) {
	const secrets = (client as unknown as { stores: { secrets: SecretStore } }).stores.secrets;
	const identity = (await Identity.load(secrets))!;
	const keys = await KeyRing.load(secrets, s.idBytes);
	const document = channelIdBytes(channel);
	const held = keys.allFor(document)[0]!;
	const sealed = await sealEntry({
		space: s.idBytes,
		document,
		epoch: held.epoch,
		epochKey: held.key,
		author: identity.deviceKey,
		session: crypto.getRandomValues(new Uint8Array(8)),
		seq: 1,
		prev: new Uint8Array(32),
		body: new TextEncoder().encode('not automerge at all'),
		sign: (m) => identity.signAsDevice(m)
	});
	await client.wire.append(s.channel(channel as never)!.envelope, [
		{ key: entryKey(sealed.hash), bytes: sealed.bytes }
	]);
}

/** The genuine sealed entries in a channel's envelope history (whatever the current map says). */
async function sealedEntries(client: Charter, s: Space, channel: string): Promise<Uint8Array[]> {
	return (await entriesOf(client, s.id, channelIdBytes(channel))).filter((bytes) => {
		try {
			parseEntry(bytes);
			return true;
		} catch {
			return false;
		}
	});
}

async function malloryOpens(id: string, repo = mallory): Promise<DocHandle<Envelope>> {
	return repo.find<Envelope>(id as never);
}

beforeAll(async () => {
	server = await startSyncServerProcess();
	alice = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	bob = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	await alice.createIdentity();
	bobPhrase = (await bob.createIdentity()).phrase;
	space = await alice.createSpace({ name: 'Target' });
	await space.createChannel({ name: 'second' });
	await space.addMember(await bob.memberCard());
	for (const t of ['one', 'two', 'three']) await space.channels[0]!.send(t);
	const bobSpace = await bob.openSpace(space.id);
	await eventually(() => bobSpace.channels[0]?.messages.length === 3, 'bob to sync');
	mallory = new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] });
	mallorySealed = new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] });
	malloryPublisher = await Publisher.create();
});

/** Mallory publishes raw byte strings as sealed entries, under keys of her choosing. */
const malloryPublishes = (
	handle: DocHandle<Envelope>,
	entries: Record<string, Uint8Array>
): Promise<void> =>
	malloryPublisher.publish(
		handle as never,
		Object.entries(entries).map(([key, bytes]) => ({ key, bytes }))
	);

const unsealedRefusedByServer = async () => {
	const text = await (await fetch(`${server.url}/metrics`)).text();
	const line = text
		.split('\n')
		.find((l) => l.startsWith('charter_sync_rejections_total{reason="unsealed-change"}'));
	return Number(line?.split(' ').at(-1) ?? 0);
};

afterAll(async () => {
	await alice?.close();
	await bob?.close();
	await mallory?.shutdown().catch(() => undefined);
	await mallorySealed?.shutdown().catch(() => undefined);
	await server?.stop();
});

describe('a hostile raw automerge-repo peer', () => {
	it('✓ deleting, overwriting and replacing every entry: refused unsealed by the server, nothing lost', async () => {
		const general = space.channels[0]!;
		const handle = await malloryOpens(
			envelopeDocumentId(space.idBytes, channelIdBytes(general.id))
		);
		await eventually(() => entriesIn(handle.doc()) >= 3, 'mallory to see entries');
		handle.change((d) => {
			for (const key of Object.keys(d.entries)) d.entries[key] = new Uint8Array([0xde, 0xad]);
		});
		handle.change((d) => {
			for (const key of Object.keys(d.entries)) delete d.entries[key];
		});
		handle.change((d) => {
			(d as { entries: unknown }).entries = { nothing: 'here' };
		});
		await eventually(
			async () => (await unsealedRefusedByServer()) >= 3,
			'the server to refuse them'
		);
		await general.send('after the vandalism');
		const bobGeneral = bob.space(space.id)!.channels[0]!;
		await eventually(() => bobGeneral.messages.length === 4, 'bob to get the new message');
		expect(texts(space)).toEqual(['one', 'two', 'three', 'after the vandalism']);
		expect(texts(bob.space(space.id)!)).toEqual(['one', 'two', 'three', 'after the vandalism']);

		// a new device restored from Bob's phrase reads the full history from the vandalised envelope
		const bob2 = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
		await bob2.restoreIdentity(bobPhrase);
		const fresh = await bob2.openSpace(space.id);
		await eventually(
			() => fresh.channels[0]?.messages.length === 4,
			'restored device to read history'
		);
		expect(texts(fresh)).toEqual(['one', 'two', 'three', 'after the vandalism']);
		await bob2.close();
	});

	it("✓ a forged change under Alice's Automerge actor and next seq is refused; Alice's real one gets through", async () => {
		const general = space.channels[0]!;
		const handle = await malloryOpens(
			envelopeDocumentId(space.idBytes, channelIdBytes(general.id)),
			mallory
		);
		const sealed = () =>
			A.getAllChanges(handle.doc())
				.map((c) => A.decodeChange(c))
				.filter((c) => c.message?.startsWith('charter-seal:'));
		await eventually(() => sealed().length >= 3, "mallory to see Alice's changes");
		// Alice's newest change, as Mallory sees it: she pre-empts the next one
		const latest = sealed().sort((a, b) => b.seq - a.seq)[0]!;
		const { hash: _hash, ...fields } = latest;
		const before = await unsealedRefusedByServer();
		const forged = A.encodeChange({
			...fields,
			seq: latest.seq + 1,
			startOp: latest.startOp + 1000,
			deps: [latest.hash!],
			ops: [{ ...latest.ops[0]!, key: 'pre-empted', value: 'AAAA' }]
		} as unknown as Parameters<typeof A.encodeChange>[0]);
		handle.update((d) => A.applyChanges(d, [forged])[0]);
		await eventually(
			async () => (await unsealedRefusedByServer()) > before,
			'the server to refuse the forgery'
		);
		await general.send('my real next change');
		const bobGeneral = bob.space(space.id)!.channels[0]!;
		await eventually(
			() => bobGeneral.messages.some((m) => m.text === 'my real next change'),
			'bob to receive what Alice really wrote'
		);
	});

	it('✓ junk, huge, truncated, malformed and forged entries are counted and dropped', async () => {
		const general = space.channels[0]!;
		const id = envelopeDocumentId(space.idBytes, channelIdBytes(general.id));
		const handle = await malloryOpens(id, mallorySealed);
		const real = (await sealedEntries(alice, space, general.id))[0]!;
		expect(real).toBeDefined();
		const forged = Uint8Array.from(real);
		forged[forged.length - 1]! ^= 0xff; // signature
		const tampered = Uint8Array.from(real);
		tampered[200]! ^= 0xff; // ciphertext
		const e: Record<string, Uint8Array> = {};
		for (let i = 0; i < 200; i++) e[`junk${i}`] = crypto.getRandomValues(new Uint8Array(64));
		e['huge'] = new Uint8Array(5 * 1024 * 1024).fill(0x43);
		e['truncated'] = real.subarray(0, real.length - 10);
		e['magic-only'] = new Uint8Array([0x43, 0x48, 0x45, 1, 2, 3]);
		e['forged'] = forged;
		e['tampered'] = tampered;
		await malloryPublishes(handle, e);
		await general.send('still here');
		const bobGeneral = bob.space(space.id)!.channels[0]!;
		await eventually(
			() => bobGeneral.messages.some((m) => m.text === 'still here'),
			'bob to keep syncing',
			30_000
		);
		await eventually(
			() => (bobGeneral.stats.dropped['bad-signature'] ?? 0) >= 2,
			'drops to be counted',
			30_000
		);
		const dropped = bobGeneral.stats.dropped;
		expect(dropped['bad-signature']).toBeGreaterThanOrEqual(2); // forged and tampered
		expect(
			(dropped['unexpected-entry'] ?? 0) + (dropped['malformed'] ?? 0) + (dropped['too-large'] ?? 0)
		).toBeGreaterThanOrEqual(200);
		expect(texts(bob.space(space.id)!)).toEqual(texts(space));
	});

	it('✓ entries replayed into another channel or another space are refused', async () => {
		const general = space.channels[0]!;
		const second = space.channels.find((c) => c.name === 'second')!;
		const real = await sealedEntries(alice, space, general.id);
		expect(real.length).toBeGreaterThan(3);
		const other = await alice.createSpace({ name: 'Elsewhere' });
		const intoSecond = await malloryOpens(
			envelopeDocumentId(space.idBytes, channelIdBytes(second.id)),
			mallorySealed
		);
		const intoOther = await malloryOpens(
			envelopeDocumentId(spaceIdBytes(other.id), channelIdBytes(other.channels[0]!.id)),
			mallorySealed
		);
		const replayed = Object.fromEntries(real.map((bytes, i) => [`r${i}`, bytes]));
		await malloryPublishes(intoSecond, replayed);
		await malloryPublishes(intoOther, replayed);
		await second.send('second channel message');
		await other.channels[0]!.send('other space message');
		await eventually(
			() =>
				(second.stats.dropped['wrong-document'] ?? 0) >= 1 &&
				(other.channels[0]!.stats.dropped['wrong-space'] ?? 0) >= 1,
			'replays to be refused',
			30_000
		);
		expect(second.messages.map((m) => m.text)).toEqual(['second channel message']);
		expect(other.channels[0]!.messages.map((m) => m.text)).toEqual(['other space message']);
	});

	it("✓ a member's entries with a foreign actor, or whose body is not Automerge changes, are refused", async () => {
		const bobSpace = bob.space(space.id)!;
		const bobGeneral = bobSpace.channels[0]!;
		await forge<ChannelDoc>(bob, bobSpace, { channel: bobGeneral, actor: 'ab'.repeat(20) }, (d) => {
			d.buckets['x'] = {};
		});
		await eventually(
			() => space.channels[0]!.rejections.some((r) => r.reason === 'actor-not-signer'),
			'actor mismatch to be refused',
			30_000
		);
		// a validly sealed and signed entry whose plaintext is not a batch of Automerge changes
		await sealGarbage(bob, bobSpace, bobGeneral.id);
		await eventually(
			() => (space.channels[0]!.stats.dropped['malformed'] ?? 0) >= 1,
			'the garbage body to be refused',
			30_000
		);
		expect(texts(space)).toEqual(texts(bobSpace));
		expect(A.getHeads(space.document)).toEqual(A.getHeads(bobSpace.document));
	});
});
