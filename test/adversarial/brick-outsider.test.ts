/**
 * An outsider tries to stop all writing in a space. She runs a stock automerge-repo client — no
 * Charter code — and knows only envelope ids (every invite and every relay knows them). She makes
 * herself a publishing key (anyone can: the seal is public protocol, docs/protocol.md §4.1, written
 * out below with node:crypto), then sends, in one batch, an unsealed change under her own actor that
 * replaces the `entries` map with a string, and a correctly sealed change of that actor that
 * depends on it. Before the fix the sealed one vouched for the unsealed one: server and clients took
 * both, and every Publisher threw a TypeError on every write, for good.
 *
 * Vouching now skips only the signature: the unsealed change is refused by the sync server and by
 * every client (when a lax relay forwards it), and the owner and members keep writing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import * as A from '@automerge/automerge';
import { Repo, type DocHandle, type DocumentId } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { Charter, isCharterError, type Space } from '../../src/lib/index.js';
import { EnvelopeReader, envelopeDocumentId } from '../../src/lib/sync/envelope.js';
import { Wire } from '../../src/lib/sync/wire.js';
import { Publisher } from '../../src/lib/sync/publication.js';
import { startSyncServerProcess, type SyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';

type RawEnvelope = { v: number; entries: unknown };

/** The protocol's public constants (docs/protocol.md §4, §4.1), written out by the attacker. */
const tag = (name: string) => Buffer.from(`charter/v1/${name}\0`);
const ENTRIES_OBJECT = `2@${'00'.repeat(16)}`;
const sha256 = (...parts: Uint8Array[]) =>
	createHash('sha256').update(Buffer.concat(parts)).digest();
const u32 = (n: number) => {
	const b = Buffer.alloc(4);
	b.writeUInt32BE(n);
	return b;
};
const u64 = (n: number) => {
	const b = Buffer.alloc(8);
	b.writeBigUInt64BE(BigInt(n));
	return b;
};

/** A stock automerge-repo client with a publishing key of her own. */
class Outsider {
	readonly repo: Repo;
	readonly actor: string;
	readonly #publicKey: Buffer;
	readonly #privateKey: KeyObject;

	constructor(url: string) {
		this.repo = new Repo({ network: [new WebSocketClientAdapter(url)] });
		const { publicKey, privateKey } = generateKeyPairSync('ed25519');
		this.#publicKey = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
		this.#privateKey = privateKey;
		this.actor = sha256(tag('publisher-actor'), this.#publicKey).subarray(0, 16).toString('hex');
	}

	/** The seal message over a change's fields, exactly as a publisher makes it. */
	#seal(change: {
		seq: number;
		startOp: number;
		time: number;
		deps: string[];
		ops: { key: string; value: string }[];
	}): string {
		const parts: Uint8Array[] = [
			tag('publication'),
			Buffer.from(this.actor, 'hex'),
			u32(change.seq),
			u64(change.startOp),
			u64(change.time),
			u32(change.deps.length),
			...[...change.deps].sort().map((d) => Buffer.from(d, 'hex')),
			u32(change.ops.length)
		];
		for (const op of change.ops) {
			const key = Buffer.from(op.key);
			const value = Buffer.from(op.value);
			parts.push(u32(key.length), key, u32(value.length), value);
		}
		const signature = sign(null, sha256(...parts), this.#privateKey);
		return 'charter-seal:' + Buffer.concat([this.#publicKey, signature]).toString('base64url');
	}

	/**
	 * The attack on one envelope: `entries = 'x'` unsealed under her actor, then a sealed change of
	 * hers depending on it, delivered together.
	 */
	async vandalise(documentId: DocumentId): Promise<void> {
		const handle: DocHandle<RawEnvelope> = await this.repo.find<RawEnvelope>(documentId);
		const before = handle.doc();
		const vandalised = A.change(A.clone(before, { actor: this.actor }), (d) => {
			d.entries = 'x';
		});
		const unsealed = A.getLastLocalChange(vandalised)!;
		const fields = {
			seq: 2,
			startOp: A.stats(vandalised).numOps + 1,
			time: 0,
			deps: A.getHeads(vandalised),
			ops: [{ key: 'vouched', value: 'AAAA' }]
		};
		const sealed = A.encodeChange({
			actor: this.actor,
			...fields,
			message: this.#seal(fields),
			ops: fields.ops.map((o) => ({ action: 'set', obj: ENTRIES_OBJECT, ...o, pred: [] }))
		} as unknown as Parameters<typeof A.encodeChange>[0]);
		handle.update((d) => A.applyChanges(d, [unsealed, sealed])[0]);
	}

	/** One sealed change of hers, seq 1, setting `key`: sent twice with other keys, it equivocates. */
	publishAsFirst(documentId: DocumentId, key: string): Promise<void> {
		return this.publishInto(this.repo, documentId, key, this);
	}

	async publishInto(
		repo: Repo,
		documentId: DocumentId,
		key: string,
		from?: Outsider
	): Promise<void> {
		const handle: DocHandle<RawEnvelope> = await repo.find<RawEnvelope>(documentId);
		const doc = handle.doc();
		const fields = {
			seq: 1,
			startOp: A.stats(doc).numOps + 1,
			time: 0,
			deps: A.getHeads(doc),
			ops: [{ key, value: 'AAAA' }]
		};
		const signer = from ?? this;
		const sealed = A.encodeChange({
			actor: signer.actor,
			...fields,
			message: signer.#seal(fields),
			ops: fields.ops.map((o) => ({ action: 'set', obj: ENTRIES_OBJECT, ...o, pred: [] }))
		} as unknown as Parameters<typeof A.encodeChange>[0]);
		handle.update((d) => A.applyChanges(d, [sealed])[0]);
	}

	close() {
		return this.repo.shutdown().catch(() => undefined);
	}
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
	for (const c of cleanups.splice(0).reverse()) await c();
});

async function client(urls: string[]): Promise<Charter> {
	const c = await Charter.open({ inMemory: true, syncServers: urls });
	cleanups.push(() => c.close());
	await c.createIdentity();
	return c;
}

async function server(args: string[] = []): Promise<SyncServerProcess> {
	const s = await startSyncServerProcess({ args });
	cleanups.push(() => s.stop());
	return s;
}

const refusedByServer = async (s: SyncServerProcess) => {
	const text = await (await fetch(`${s.url}/metrics`)).text();
	const line = text
		.split('\n')
		.find((l) => l.startsWith('charter_sync_rejections_total{reason="unsealed-change"}'));
	return Number(line?.split(' ').at(-1) ?? 0);
};

const texts = (s: Space) => s.channels[0]?.messages.map((m) => m.text) ?? [];

/** Alice (owner) and Bob (member) on `urls`, with a channel and a message each way. */
async function setup(urls: string[]) {
	const alice = await client(urls);
	const bob = await client(urls);
	const space = await alice.createSpace({ name: 'Library' });
	await space.addMember(await bob.memberCard());
	await space.channels[0]!.send('hello from alice');
	const bobSpace = await bob.openSpace(space.id);
	await eventually(() => texts(bobSpace).length === 1, 'bob to read alice');
	await bobSpace.channels[0]!.send('hello from bob');
	await eventually(() => texts(space).length === 2, 'alice to read bob');
	return { alice, bob, space, bobSpace };
}

/** Everyone keeps writing: messages both ways, a space change, a ban; a newcomer reads it all. */
async function spaceStaysUsable(
	{ alice, bob, space, bobSpace }: Awaited<ReturnType<typeof setup>>,
	urls: string[]
) {
	await space.channels[0]!.send('alice after the attack');
	await bobSpace.channels[0]!.send('bob after the attack');
	await space.rename('Library, still');
	await eventually(() => texts(bobSpace).includes('alice after the attack'), 'bob to read alice');
	await eventually(() => texts(space).includes('bob after the attack'), 'alice to read bob');
	await eventually(() => bobSpace.name === 'Library, still', 'bob to see the rename');
	const expected = [
		'hello from alice',
		'hello from bob',
		'alice after the attack',
		'bob after the attack'
	];
	// ✓ both see every message, in the same order
	expect([...texts(space)].sort()).toEqual([...expected].sort());
	expect(texts(bobSpace)).toEqual(texts(space));

	const carol = await client(urls);
	await space.addMember(await carol.memberCard());
	const carolSpace = await carol.openSpace(space.id);
	await eventually(() => texts(carolSpace).length === 4, 'the newcomer to read the history');
	// ✓ a newcomer reads everything valid
	expect(texts(carolSpace)).toEqual(texts(space));
	expect(carolSpace.name).toBe('Library, still');
	await carolSpace.channels[0]!.send('carol joins in');
	await eventually(() => texts(space).includes('carol joins in'), 'alice to read carol');

	// ✓ the owner can still ban a member
	await space.ban(bob.identity!.userId);
	await eventually(() => carolSpace.bans.length === 1, 'carol to see the ban');
	expect(space.bans.map((b) => b.user)).toEqual([bob.identity!.userId]);
	void alice;
}

describe('an outsider with a stock automerge-repo client and an envelope id', () => {
	it('✓ cannot stop writing through a real sync server: it refuses her unsealed change', async () => {
		const s = await server();
		const urls = [s.wsUrl];
		const cast = await setup(urls);
		const mallory = new Outsider(s.wsUrl);
		cleanups.push(() => mallory.close());
		const before = await refusedByServer(s);
		await mallory.vandalise(cast.space.channels[0]!.envelope.documentId);
		await mallory.vandalise(cast.space.envelope.documentId);
		await eventually(
			async () => (await refusedByServer(s)) >= before + 2,
			'the server to refuse both unsealed changes'
		);
		// ✓ the server refused the unsealed change in each envelope
		expect((await refusedByServer(s)) - before).toBeGreaterThanOrEqual(2);
		await spaceStaysUsable(cast, urls);
		// ✓ the honest envelopes still hold a map of entries
		expect(typeof cast.space.channels[0]!.envelope.doc().entries).toBe('object');
	});

	it('✓ cannot stop writing through a relay that forwards anything: every client refuses it', async () => {
		const lax = await server(['--allow-unsealed']);
		const urls = [lax.wsUrl];
		const cast = await setup(urls);
		const mallory = new Outsider(lax.wsUrl);
		cleanups.push(() => mallory.close());
		const refused = () => [cast.alice.refusedChanges.total, cast.bob.refusedChanges.total];
		const [aliceBefore, bobBefore] = refused();
		await mallory.vandalise(cast.space.channels[0]!.envelope.documentId);
		await mallory.vandalise(cast.space.envelope.documentId);
		await eventually(
			() => refused()[0]! >= aliceBefore! + 2 && refused()[1]! >= bobBefore! + 2,
			'both clients to refuse the unsealed changes'
		);
		// ✓ Alice and Bob each refused the unsealed change of both envelopes
		expect(refused()[0]! - aliceBefore!).toBeGreaterThanOrEqual(2);
		expect(refused()[1]! - bobBefore!).toBeGreaterThanOrEqual(2);
		await spaceStaysUsable(cast, urls);
	});

	it('✓ an envelope vandalised before the fix (old data) does not stop a publisher', async () => {
		const repo = new Repo({ network: [] });
		cleanups.push(() => repo.shutdown().catch(() => undefined));
		const wire = new Wire(repo, await Publisher.create());
		const handle = await wire.open(envelopeDocumentId(new Uint8Array(16), new Uint8Array(16)));
		await wire.append(handle, [{ key: 'first', bytes: new Uint8Array([1, 2, 3]) }]);
		// what a vouched-for unsealed change left behind, taken straight into the document
		for (const vandalism of ['x', 7, null, [1, 2]] as unknown[]) {
			handle.update((d) =>
				A.change(
					A.clone(d, {
						actor: Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex')
					}),
					(x) => {
						(x as { entries: unknown }).entries = vandalism;
					}
				)
			);
			await wire.append(handle, [
				{
					key: `after ${String(vandalism)}`,
					bytes: new Uint8Array([4, 5, String(vandalism).length])
				}
			]);
		}
		// ✓ every publication went in, and a reader finds every entry in the history
		const found = new EnvelopeReader(handle as never, [], () => undefined).collectAll();
		expect(found.map((b) => [...b])).toEqual([
			[1, 2, 3],
			[4, 5, 1],
			[4, 5, 1],
			[4, 5, 4],
			[4, 5, 3]
		]);
		// ✓ an entry already held (by the entries object, whatever `entries` shows now) is not written again
		const changes = A.getAllChanges(handle.doc()).length;
		await wire.append(handle, [{ key: 'first', bytes: new Uint8Array([1, 2, 3]) }]);
		expect(A.getAllChanges(handle.doc()).length).toBe(changes);
	});

	it('✓ a publication that cannot happen rejects with a typed error and is counted', async () => {
		const repo = new Repo({ network: [] });
		cleanups.push(() => repo.shutdown().catch(() => undefined));
		const publisher = await Publisher.create();
		// a real envelope handle that went away (deleted) under a pending write
		const handle = await new Wire(repo, publisher).open(
			envelopeDocumentId(new Uint8Array(16), new Uint8Array(16))
		);
		repo.delete(handle.documentId);
		const error = await publisher
			.publish(handle, [{ key: 'k', bytes: new Uint8Array([1]) }])
			.catch((e) => e);
		// ✓ a CharterError, not a TypeError, and the failure is counted
		expect(isCharterError(error, 'unavailable')).toBe(true);
		expect(publisher.failures).toBe(1);
	});

	it('✓ equivocating on her own sealed publications (one key, one seq) through one server stops nobody', async () => {
		const s = await server();
		const urls = [s.wsUrl];
		const cast = await setup(urls);
		const mallory = new Outsider(s.wsUrl);
		cleanups.push(() => mallory.close());
		const channel = cast.space.channels[0]!.envelope.documentId;
		// the envelope as she holds it before her first publication, for an offline twin of hers
		const before = A.save((await mallory.repo.find<RawEnvelope>(channel)).doc());
		await mallory.publishAsFirst(channel, 'version-one');
		const holds = (c: Charter, key: string) =>
			A.getAllChanges(cast.space.channels[0]!.envelope.doc()).length > 0 &&
			JSON.stringify(
				Object.keys((c.space(cast.space.id)!.channels[0]!.envelope.doc().entries as object) ?? {})
			).includes(key);
		await eventually(() => holds(cast.bob, 'version-one'), 'bob to hold version one');
		const twin = new Outsider(s.wsUrl);
		cleanups.push(() => twin.close());
		const offline = new Repo({ network: [] });
		cleanups.push(() => offline.shutdown().catch(() => undefined));
		offline.import<RawEnvelope>(before, { docId: channel });
		await twin.publishInto(offline, channel, 'version-two', mallory);
		offline.networkSubsystem.addNetworkAdapter(new WebSocketClientAdapter(s.wsUrl));
		await spaceStaysUsable(cast, urls);
	});

	it('✓ a write whose envelope went away rejects typed, is counted and shows as pending', async () => {
		const alice = await client([]);
		const space = await alice.createSpace({ name: 'Solo' });
		const channel = space.channels[0]!;
		await channel.send('before');
		// 'before' is pending too: no server or peer holds it (this client has none)
		const pendingBefore = channel.pending;
		alice.wire.repo.delete(channel.envelope.documentId);
		const error = await channel.send('after').catch((e: unknown) => e);
		// ✓ a CharterError, counted, and the message is not shown as sent
		expect(isCharterError(error, 'unavailable')).toBe(true);
		expect(channel.stats.dropped.unpublished).toBe(1);
		expect(channel.pending).toBe(pendingBefore + 1);
	});
});
