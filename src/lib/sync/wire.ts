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
	DocHandle,
	DocumentId,
	Repo,
	StorageAdapterInterface
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
		/** The adapter `repo` stores through (none: in memory, or a repo that keeps its own). */
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
	const key = [documentId, 'snapshot', hex.encode(hash(utf8.encode(heads.sort().join(','))))];
	await storage.save(key, saved);
	for (const chunk of chunks)
		if (chunk.key.join('/') !== key.join('/')) await storage.remove(chunk.key);
}
