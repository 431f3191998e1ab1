import { afterEach, describe, expect, it } from 'vitest';
import * as A from '@automerge/automerge';
import { Repo } from '@automerge/automerge-repo';
import { MessageChannelNetworkAdapter } from '@automerge/automerge-repo-network-messagechannel';
import {
	EnvelopeReader,
	envelopeDocumentId,
	type EnvelopeDoc
} from '../../src/lib/sync/envelope.js';
import { ChunkLedger, Wire } from '../../src/lib/sync/wire.js';
import { Publisher } from '../../src/lib/sync/publication.js';
import { VerifyingNetworkAdapter } from '../../src/lib/sync/verifying-adapter.js';
import { randomBytes, hex } from '../../src/lib/util/bytes.js';
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesWrittenBy, ENVELOPE_ROOT } from '../../src/lib/sync/envelope.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
	for (const c of cleanups.splice(0)) await c();
});

/** Two repos over a MessageChannel; `verify` puts the seal check on the honest side's adapter. */
async function pair(options: { verify: boolean } = { verify: true }) {
	const channel = new MessageChannel();
	const honestAdapter = new MessageChannelNetworkAdapter(channel.port1);
	const honestRepo = new Repo({
		network: [options.verify ? new VerifyingNetworkAdapter(honestAdapter) : honestAdapter]
	});
	const hostileRepo = new Repo({ network: [new MessageChannelNetworkAdapter(channel.port2)] });
	const honest = new Wire(honestRepo, await Publisher.create());
	const hostile = new Wire(hostileRepo, await Publisher.create());
	cleanups.push(async () => {
		await honestRepo.shutdown().catch(() => undefined);
		await hostileRepo.shutdown().catch(() => undefined);
		channel.port1.close();
		channel.port2.close();
	});
	return { honest, hostile };
}

/** Every entry an envelope's history holds, as hex (what a reader reads; the visible maps mean nothing). */
const held = (doc: A.Doc<EnvelopeDoc> | undefined) =>
	doc ? bytesWrittenBy(A.getAllChanges(doc)).map((b) => hex.encode(b)) : [];

const until = async (check: () => boolean, ms = 5000) => {
	const start = Date.now();
	while (!check()) {
		if (Date.now() - start > ms) throw new Error('timed out');
		await new Promise((r) => setTimeout(r, 20));
	}
};

describe('envelope documents', () => {
	it('✓ have deterministic ids, and two peers creating one offline merge without conflict', async () => {
		const space = randomBytes(16);
		const doc = randomBytes(16);
		expect(envelopeDocumentId(space, doc)).toBe(envelopeDocumentId(space, doc));
		expect(envelopeDocumentId(space, doc)).not.toBe(envelopeDocumentId(space, randomBytes(16)));
		const { honest, hostile } = await pair();
		const id = envelopeDocumentId(space, doc);
		const a = await honest.open(id);
		const b = await hostile.open(id);
		await honest.append(a, [{ key: 'a', bytes: Uint8Array.of(1) }]);
		await hostile.append(b, [{ key: 'b', bytes: Uint8Array.of(2) }]);
		await until(() => held(a.doc()).length === 2 && held(b.doc()).length === 2);
		// one root and one buckets change on both: nothing competes
		expect(A.getAllChanges(a.doc())).toHaveLength(4);
		expect(A.getHeads(a.doc())).toEqual(A.getHeads(b.doc()));
	});

	it('✓ an envelope written before the buckets (format v2) gets them on the next write, the same change on every peer', async () => {
		const { honest, hostile } = await pair();
		const id = envelopeDocumentId(randomBytes(16), randomBytes(16));
		// a v2 envelope: the root alone, an entry set straight into the entries map
		const rootOnly = A.save(
			A.applyChanges(A.init(), [A.getAllChanges(A.load(ENVELOPE_ROOT))[0]!])[0]
		);
		honest.repo.import<EnvelopeDoc>(rootOnly, { docId: id });
		hostile.repo.import<EnvelopeDoc>(rootOnly, { docId: id });
		const a = await honest.open(id);
		const b = await hostile.open(id);
		expect(A.getAllChanges(a.doc())).toHaveLength(1);
		await honest.append(a, [{ key: 'a', bytes: Uint8Array.of(1) }]);
		await hostile.append(b, [{ key: 'b', bytes: Uint8Array.of(2) }]);
		await until(() => held(a.doc()).length === 2 && held(b.doc()).length === 2);
		await until(() => A.getAllChanges(b.doc()).length === 4);
		expect(A.getHeads(a.doc()).sort()).toEqual(A.getHeads(b.doc()).sort());
		expect(A.getAllChanges(a.doc())).toHaveLength(4); // root, the buckets change once, two entries
	});

	it('✓ reading is append-only in meaning: deleting, overwriting or replacing entries loses nothing', async () => {
		// no seal check here: this is the reader's own line of defence, should an unsealed change get in
		const { honest, hostile } = await pair({ verify: false });
		const id = envelopeDocumentId(randomBytes(16), randomBytes(16));
		const handle = await honest.open(id);
		const seen = new Set<string>();
		const reader = new EnvelopeReader(handle, [], (entries) =>
			entries.forEach((e) => seen.add(hex.encode(e)))
		);
		cleanups.push(() => reader.stop());
		const originals = [randomBytes(40), randomBytes(40), randomBytes(40)];
		await honest.append(
			handle,
			originals.map((bytes, i) => ({ key: `k${i}`, bytes }))
		);

		const attacker = await hostile.open(id);
		await until(() => held(attacker.doc()).length === 3);
		const buckets = attacker.doc().entries as Record<string, Record<string, Uint8Array>>;
		const bucket = Object.keys(buckets).find((b) => Object.keys(buckets[b]!).length > 0)!;
		attacker.change((d) => {
			const maps = d.entries as Record<string, Record<string, Uint8Array>>;
			delete maps[bucket]!['k0'];
			maps[bucket]!['k1'] = Uint8Array.of(9, 9, 9);
			delete maps['00'];
		});
		attacker.change((d) => {
			(d as unknown as { entries: unknown }).entries = { junk: Uint8Array.of(7) };
		});
		await until(() => 'junk' in (handle.doc().entries ?? {}));
		// The current map holds only junk, yet the reader has every original entry.
		expect(Object.keys(handle.doc().entries)).toEqual(['junk']);
		for (const original of originals) expect(seen.has(hex.encode(original))).toBe(true);

		// Honest writes after the attack still land and are still read.
		const late = randomBytes(40);
		await honest.append(handle, [{ key: 'late', bytes: late }]);
		await until(() => seen.has(hex.encode(late)));
		// A fresh reader of the attacked document, starting from nothing, also finds every entry.
		const fresh = new Set<string>();
		const second = new EnvelopeReader(handle, [], (entries) =>
			entries.forEach((e) => fresh.add(hex.encode(e)))
		);
		second.scan();
		second.stop();
		for (const original of [...originals, late]) expect(fresh.has(hex.encode(original))).toBe(true);
		expect(A.getHeads(handle.doc()).length).toBeGreaterThan(0);
	});

	it('✓ a stored envelope of several chunks opens as one snapshot with every entry', async () => {
		const id = envelopeDocumentId(randomBytes(16), randomBytes(16));
		const writerRepo = new Repo({ network: [] });
		const writer = new Wire(writerRepo, await Publisher.create());
		cleanups.push(() => writerRepo.shutdown().catch(() => undefined));
		const handle = await writer.open(id);
		const written: string[] = [];
		for (let i = 0; i < 5; i++) {
			const bytes = randomBytes(40);
			written.push(hex.encode(bytes));
			await writer.append(handle, [{ key: `k${i}`, bytes }]);
		}
		// stored as automerge-repo stores a document between compactions: a snapshot, then a chunk
		// per change saved since
		const [root, buckets, ...changes] = A.getAllChanges(handle.doc());
		const dir = await mkdtemp(join(tmpdir(), 'charter-envelope-store-'));
		const storage = new NodeFSStorageAdapter(dir);
		await storage.save(
			[id, 'snapshot', 'root'],
			A.save(A.applyChanges(A.init(), [root!, buckets!])[0])
		);
		for (const [i, change] of changes.entries())
			await storage.save([id, 'incremental', `c${i}`], change);
		const chunks = async (kind: string) => (await storage.loadRange([id, kind])).length;

		const readerRepo = new Repo({ storage });
		const reader = new Wire(readerRepo, await Publisher.create(), storage);
		cleanups.push(() => readerRepo.shutdown().catch(() => undefined));
		const opened = await reader.open(id);
		expect(await chunks('snapshot')).toBe(1);
		expect(await chunks('incremental')).toBe(0);
		const read = bytesWrittenBy(A.getAllChanges(opened.doc())).map((b) => hex.encode(b));
		expect(read.sort()).toEqual([...written].sort());
		expect(A.getHeads(opened.doc())).toEqual(A.getHeads(handle.doc()));
	});

	it('✓ a wire that closes leaves each envelope it holds as one snapshot, and a chunk another process wrote meanwhile stays', async () => {
		const id = envelopeDocumentId(randomBytes(16), randomBytes(16));
		const storage = new NodeFSStorageAdapter(await mkdtemp(join(tmpdir(), 'charter-close-')));
		const chunks = async (kind: string) => (await storage.loadRange([id, kind])).length;
		const ledger = new ChunkLedger(storage);
		const repo = new Repo({ storage: ledger, network: [] });
		const wire = new Wire(repo, await Publisher.create(), ledger);
		cleanups.push(() => repo.shutdown().catch(() => undefined));
		const handle = await wire.open(id);
		const written: string[] = [];
		// one change saved at a time, as a client writes: automerge-repo stores a chunk per save
		// until the chunks outweigh its snapshot
		for (let i = 0; i < 40 && (i < 3 || (await chunks('incremental')) === 0); i++) {
			const bytes = randomBytes(40);
			written.push(hex.encode(bytes));
			await wire.append(handle, [{ key: `k${i}`, bytes }]);
			await repo.flush();
		}
		expect(await chunks('incremental')).toBeGreaterThan(0);
		// another tab of the same profile writes a change into the store this process never loaded
		const other = A.change(A.clone(handle.doc(), hex.encode(randomBytes(16))), (d) => {
			(d as unknown as Record<string, string>).note = 'from another tab';
		});
		await storage.save([id, 'incremental', 'from-another-tab'], A.getLastLocalChange(other)!);

		await repo.shutdown();
		expect(await wire.compactHeld()).toBe(1);
		// ✓ what this process stored is one snapshot now; the other tab's chunk is still there
		expect(await chunks('snapshot')).toBe(1);
		expect((await storage.loadRange([id, 'incremental'])).map((c) => c.key[2])).toEqual([
			'from-another-tab'
		]);
		// ✓ and the store opens with every entry, the other tab's too
		const readerRepo = new Repo({ storage, network: [] });
		cleanups.push(() => readerRepo.shutdown().catch(() => undefined));
		const opened = await new Wire(readerRepo, await Publisher.create(), storage).open(id);
		const read = bytesWrittenBy(A.getAllChanges(opened.doc())).map((b) => hex.encode(b));
		for (const entry of written) expect(read).toContain(entry);
		expect(A.getHeads(opened.doc())).toEqual(A.getHeads(other));
	});

	it('✓ two wires in one process share nothing: each writes with its own publisher and reads its own decoded values', async () => {
		const repos = [new Repo({ network: [] }), new Repo({ network: [] })];
		cleanups.push(() => Promise.all(repos.map((r) => r.shutdown().catch(() => undefined))).then());
		const publishers = [await Publisher.create(), await Publisher.create()];
		const [ada, ben] = [new Wire(repos[0]!, publishers[0]!), new Wire(repos[1]!, publishers[1]!)];
		const id = envelopeDocumentId(randomBytes(16), randomBytes(16));
		const [adaHandle, benHandle] = [await ada.open(id), await ben.open(id)];
		const entry = randomBytes(40);
		await ada.append(adaHandle, [{ key: 'a', bytes: entry }]);
		await ben.append(benHandle, [{ key: 'b', bytes: randomBytes(40) }]);
		// ✓ each change is sealed by the publisher of the wire it was written through
		const actorOf = (h: typeof adaHandle) => A.decodeChange(A.getAllChanges(h.doc()).at(-1)!).actor;
		expect(actorOf(adaHandle)).toBe(publishers[0]!.actor);
		expect(actorOf(benHandle)).toBe(publishers[1]!.actor);
		// ✓ what one client's seal checks remembered never reaches another client's readers
		const [change] = A.getHeads(adaHandle.doc());
		ben.decoded.remember(change!, [Uint8Array.of(6, 6, 6)]);
		const read = ada.read(adaHandle, [], () => undefined).collectAll();
		expect(read.map((b) => hex.encode(b))).toEqual([hex.encode(entry)]);
		// ✓ and a client's own readers do use what its checks remembered (the cache is this wire's)
		ada.decoded.remember(change!, [Uint8Array.of(7)]);
		expect(ada.read(adaHandle, [], () => undefined).collectAll()).toEqual([Uint8Array.of(7)]);
	});

	it('✓ a reader from nothing takes a remembered whole history, then reads only what came after it', async () => {
		const repo = new Repo({ network: [] });
		cleanups.push(() => repo.shutdown().catch(() => undefined));
		const wire = new Wire(repo, await Publisher.create());
		const handle = await wire.open(envelopeDocumentId(randomBytes(16), randomBytes(16)));
		const first = [randomBytes(40), randomBytes(40)];
		for (const [i, bytes] of first.entries()) await wire.append(handle, [{ key: `f${i}`, bytes }]);
		const heads = A.getHeads(handle.doc());
		// (a stand-in the reader cannot have decoded: it is nowhere in the document)
		const remembered = [Uint8Array.of(1), Uint8Array.of(2)];
		wire.decoded.rememberHistory(heads, remembered);
		const later = randomBytes(40);
		await wire.append(handle, [{ key: 'later', bytes: later }]);
		// ✓ a reader that resumes from saved heads does not take it: it reads what came after them
		let resumed: Uint8Array[] = [];
		wire.read(handle, heads, (entries) => void (resumed = entries)).scan();
		expect(resumed).toEqual([later]);
		// ✓ one from the shared start does, once, and reads the change after it from the document
		let fromStart: Uint8Array[] = [];
		const start = A.getHeads(A.load(ENVELOPE_ROOT));
		wire.read(handle, start, (entries) => void (fromStart = entries)).scan();
		expect(fromStart).toEqual([...remembered, later]);
		const again = wire.read(handle, [], () => undefined).collectAll();
		expect(again.map((b) => hex.encode(b)).sort()).toEqual(
			[...first, later].map((b) => hex.encode(b)).sort()
		);
		// ✓ so does one from nothing; a history the document does not hold is never taken
		wire.decoded.rememberHistory(heads, remembered);
		wire.decoded.rememberHistory([hex.encode(randomBytes(32))], [Uint8Array.of(9)]);
		expect(wire.read(handle, [], () => undefined).collectAll()).toEqual([...remembered, later]);
		expect(wire.read(handle, [], () => undefined).collectAll()).toHaveLength(3);
	});
});
