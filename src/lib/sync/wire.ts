/**
 * The wire side of one client: its networked automerge-repo `Repo` (which only ever holds envelopes,
 * ciphertext), the storage adapter that repo was built with, the publisher that seals every envelope
 * change it writes, and the values its seal checks already decoded. Made once, in `Charter.open`, and
 * passed explicitly to whatever reads or writes envelopes (spaces, channels, the account document) —
 * as automerge-repo's `Repo` builds its subsystems in one place — so two clients in one process
 * never share a lookup table, and a test can build one with exactly the parts it means.
 */
import * as A from '@automerge/automerge';
import type {
	Chunk,
	DocHandle,
	DocumentId,
	Repo,
	StorageAdapterInterface,
	StorageKey
} from '@automerge/automerge-repo';
import { hash } from '../crypto/primitives.js';
import { hex, utf8 } from '../util/bytes.js';
import {
	DecodedValues,
	ENVELOPE_ROOT,
	EnvelopeReader,
	type EnvelopeDoc,
	type EnvelopePublisher
} from './envelope.js';
import { RemoteHeads } from './remote-heads.js';

export class Wire {
	constructor(
		readonly repo: Repo,
		private readonly publisher: EnvelopePublisher,
		/**
		 * The adapter `repo` stores through (none: in memory, or a repo that keeps its own); a
		 * `ChunkLedger` when the stores should be left compacted on close (`compactHeld`).
		 */
		private readonly storage?: StorageAdapterInterface,
		/** Filled by this client's verifying adapters (publication.ts), read by its envelope readers. */
		readonly decoded: DecodedValues = new DecodedValues(),
		/** What this client's persistent peers reported holding (its adapters' storage ids go here). */
		readonly remote: RemoteHeads = new RemoteHeads()
	) {}

	/**
	 * Opens an envelope: from the repo's cache or storage when present, otherwise created from the
	 * shared root (and then merged with whatever peers hold).
	 */
	async open(documentId: DocumentId): Promise<DocHandle<EnvelopeDoc>> {
		const cached = this.repo.handles[documentId] as DocHandle<EnvelopeDoc> | undefined;
		if (cached?.isReady()) return cached;
		return (await this.#isStored(documentId))
			? await this.repo.find<EnvelopeDoc>(documentId)
			: this.repo.import<EnvelopeDoc>(ENVELOPE_ROOT, { docId: documentId });
	}

	/**
	 * Appends entries to an envelope of this wire, as one sealed change of its publisher. Resolves
	 * once the change is in the document.
	 */
	append(
		handle: DocHandle<EnvelopeDoc>,
		entries: { key: string; bytes: Uint8Array }[]
	): Promise<void> {
		if (entries.length === 0) return Promise.resolve();
		return this.publisher.publish(handle, entries);
	}

	/** Follows `handle` from `fromHeads`, reporting entries not reported before (EnvelopeReader). */
	read(
		handle: DocHandle<EnvelopeDoc>,
		fromHeads: A.Heads,
		onEntries: (entries: Uint8Array[], heads: A.Heads) => void
	): EnvelopeReader {
		return new EnvelopeReader(handle, fromHeads, onEntries, this.decoded);
	}

	/**
	 * Leaves every envelope this client holds stored as one snapshot, written from the document
	 * already in memory (no load), so the next open loads one snapshot per envelope instead of first
	 * compacting a snapshot plus the incremental chunks automerge-repo wrote per change
	 * (`#isStored`). Only chunks this process had read or written when the document was saved are
	 * removed — each holds changes the document had by then (a chunk is noted once its write or read
	 * completed, and the document only grows) — so a chunk another tab or process wrote into the
	 * same store, or one the repo writes meanwhile, stays. That makes it safe while the repo runs
	 * (`Charter.compactStores`, a page being hidden) as well as after it shut down (`Charter.close`).
	 * Calls made while one runs wait for it. Returns how many envelopes it rewrote.
	 */
	compactHeld(): Promise<number> {
		const run = this.#compacting.then(() => this.#compactHeld());
		this.#compacting = run.catch(() => 0);
		return run;
	}

	#compacting: Promise<number> = Promise.resolve(0);

	async #compactHeld(): Promise<number> {
		const ledger = this.storage instanceof ChunkLedger ? this.storage : undefined;
		if (!ledger) return 0;
		let rewritten = 0;
		for (const [documentId, handle] of Object.entries(this.repo.handles)) {
			if (!handle.isReady()) continue;
			if (ledger.chunksOf(documentId).length < 2) continue; // one snapshot, or nothing known
			// (no await between saving the document and the ledger's list of what it replaces)
			const doc = handle.doc() as A.Doc<unknown>;
			await ledger.replaceWith(snapshotKey(documentId, A.getHeads(doc)), A.save(doc));
			rewritten++;
		}
		return rewritten;
	}

	/** Removes the stored chunks of `documentId` (its sync-state records stay). */
	async removeStored(documentId: DocumentId): Promise<void> {
		await this.storage?.removeRange([documentId, 'snapshot']);
		await this.storage?.removeRange([documentId, 'incremental']);
	}

	/**
	 * Whether the storage holds chunks of `documentId`: read from the adapter (bytes, no Automerge),
	 * since loading the document only to learn that it exists would load it twice. A document stored
	 * as a snapshot plus incremental chunks is first compacted into one snapshot (`compactStored`).
	 */
	async #isStored(documentId: DocumentId): Promise<boolean> {
		const storage = this.storage;
		if (storage) {
			const snapshots = await storage.loadRange([documentId, 'snapshot']);
			const incrementals = await storage.loadRange([documentId, 'incremental']);
			if (snapshots.length + incrementals.length === 0) return false;
			if (incrementals.length > 0 || snapshots.length > 1)
				await compactStored(storage, documentId, [...snapshots, ...incrementals]);
			return true;
		}
		return !!(this.repo.storageSubsystem && (await this.repo.storageSubsystem.loadDoc(documentId)));
	}
}

/**
 * Rewrites a document stored as several chunks as one snapshot, before the repo loads it.
 *
 * Why: automerge-repo loads a stored document by concatenating its chunks and handing them to
 * `Automerge.loadIncremental` on an empty document, and with a snapshot followed by incremental
 * chunks Automerge 3.5 takes its change-by-change path, which for an envelope of 1,000 entries took
 * ~25 MB more WebAssembly memory (which never shrinks) than loading the snapshot and then each
 * incremental chunk in turn, as done here (docs/benchmarks.md). The repo then loads one snapshot.
 * The new snapshot is written before the old chunks are removed, so a crash in between leaves both,
 * which load to the same document.
 */
async function compactStored(
	storage: StorageAdapterInterface,
	documentId: DocumentId,
	chunks: { key: string[]; data?: Uint8Array }[]
): Promise<void> {
	let doc: A.Doc<unknown> | undefined;
	try {
		for (const chunk of chunks) {
			if (!chunk.data) continue;
			doc = doc ? A.loadIncremental(doc, chunk.data) : A.load(chunk.data);
		}
	} catch {
		return; // left as it is: the repo's own load decides what to make of it
	}
	if (!doc) return;
	const saved = A.save(doc);
	const heads = A.getHeads(doc);
	A.free(doc); // its wasm memory now, not whenever the collector finalises it
	const key = snapshotKey(documentId, heads);
	await storage.save(key, saved);
	for (const chunk of chunks)
		if (chunk.key.join('/') !== key.join('/')) await storage.remove(chunk.key);
}

/** Where a snapshot of a document at `heads` is stored: named by its heads, as automerge-repo does. */
function snapshotKey(documentId: string, heads: A.Heads): StorageKey {
	return [documentId, 'snapshot', hex.encode(hash(utf8.encode([...heads].sort().join(','))))];
}

/** A stored document's chunks, as automerge-repo lays them out: `[documentId, kind, name]`. */
const isDocumentChunk = (key: StorageKey) =>
	key.length === 3 && (key[1] === 'snapshot' || key[1] === 'incremental');

/**
 * A storage adapter that passes everything through to `inner` and keeps, per document, the names of
 * the chunks this process has read or written — the chunks whose changes are in the documents it
 * holds, which a snapshot of those documents may replace (`replaceWith`, for `Wire.compactHeld`).
 */
export class ChunkLedger implements StorageAdapterInterface {
	readonly #known = new Map<string, Map<string, StorageKey>>();

	constructor(private readonly inner: StorageAdapterInterface) {}

	/** The chunks of `documentId` this process read or wrote and that are still stored. */
	chunksOf(documentId: string): StorageKey[] {
		return [...(this.#known.get(documentId)?.values() ?? [])];
	}

	#note(key: StorageKey) {
		if (!isDocumentChunk(key)) return;
		const chunks = this.#known.get(key[0]!) ?? new Map<string, StorageKey>();
		chunks.set(key.join('/'), key);
		this.#known.set(key[0]!, chunks);
	}

	#forget(key: StorageKey) {
		this.#known.get(key[0]!)?.delete(key.join('/'));
	}

	async load(key: StorageKey): Promise<Uint8Array | undefined> {
		const data = await this.inner.load(key);
		if (data) this.#note(key);
		return data;
	}

	async save(key: StorageKey, data: Uint8Array): Promise<void> {
		await this.inner.save(key, data);
		this.#note(key);
	}

	/**
	 * Saves a snapshot of a document that holds every chunk of it this process knows of now (when
	 * called: a chunk noted while the snapshot is being written stays), then removes those chunks:
	 * a crash in between leaves both, which load to the same document.
	 */
	async replaceWith(key: StorageKey, snapshot: Uint8Array): Promise<void> {
		const replaced = this.chunksOf(key[0]!);
		await this.save(key, snapshot);
		for (const old of replaced) if (old.join('/') !== key.join('/')) await this.remove(old);
	}

	async remove(key: StorageKey): Promise<void> {
		await this.inner.remove(key);
		this.#forget(key);
	}

	async loadRange(keyPrefix: StorageKey): Promise<Chunk[]> {
		const chunks = await this.inner.loadRange(keyPrefix);
		for (const chunk of chunks) if (chunk.data) this.#note(chunk.key);
		return chunks;
	}

	async removeRange(keyPrefix: StorageKey): Promise<void> {
		await this.inner.removeRange(keyPrefix);
		for (const [documentId, chunks] of this.#known)
			for (const [name, key] of chunks)
				if (keyPrefix.every((part, i) => key[i] === part))
					this.#known.get(documentId)!.delete(name);
	}
}
