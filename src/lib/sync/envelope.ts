/**
 * Envelope documents: ordinary automerge-repo documents whose only content is opaque sealed entries
 * (format v3: `entries[<bucket>][<entry key>] = bytes`, 64 buckets made by a deterministic change
 * after the root). Any automerge-repo peer can store and forward them.
 *
 * Two rules make them safe to share with strangers:
 * - Every envelope starts from the same deterministic root change (fixed actor, time 0), so every
 *   peer can create-or-open one offline and all copies merge without conflicting roots.
 * - Reading is append-only in meaning: a reader collects every byte string ever written anywhere in
 *   the document's history, not the current map. A hostile peer that deletes or overwrites an entry,
 *   or replaces the whole map, removes nothing; entries authenticate themselves.
 * - Every change after the root is a sealed publication (publication.ts): entries are written as
 *   base64url strings by Charter's own change encoder, and peers refuse unsealed changes, so no peer
 *   can equivocate on another's (actor, seq).
 */
import * as A from '@automerge/automerge';
import {
	parseAutomergeUrl,
	stringifyAutomergeUrl,
	type DocHandle,
	type DocumentId,
	type Repo,
	type StorageAdapterInterface
} from '@automerge/automerge-repo';
import { DOMAIN } from '../crypto/domains.js';
import { hash } from '../crypto/primitives.js';
import { base64url, hex, toBytes, u32be, utf8 } from '../util/bytes.js';
import { decodeBytesSetChange } from './change-encoder.js';

export interface EnvelopeDoc {
	v: number;
	/** Format v3: 64 bucket maps of entries; older formats put entries here directly. Never read. */
	entries: Record<string, unknown>;
}

const ROOT_ACTOR = '00'.repeat(16);
/** Actor of the deterministic change that adds the buckets (format v3). */
const BUCKETS_ACTOR = '00'.repeat(15) + '01';

/**
 * Buckets per envelope. Why buckets at all: automerge-repo keeps every document materialised as a
 * JS object, and applying a change that adds a key to a map copies that map, so with every entry in
 * one map each incoming entry cost O(entries): 8.7 ms per change at 10,000 entries, against ~0.4–0.6
 * ms with 64 or 256 buckets (Automerge 3.5, this project's 2-core machine). 64 keeps a bucket at ~160
 * keys for a 10,000-entry envelope (compaction moves older history to a new envelope anyway) and
 * adds ~300 bytes to every envelope, which a sync server holding many thousands of envelopes feels:
 * 256 buckets cost it ~20 KB of memory per envelope.
 */
export const ENVELOPE_BUCKETS = 64;

const rootDoc = A.change(A.init<EnvelopeDoc>({ actor: ROOT_ACTOR }), { time: 0 }, (d) => {
	d.v = 1;
	d.entries = {};
});

/** Hash of the root change: with the buckets change, the only changes of an envelope without a seal. */
export const ENVELOPE_ROOT_HASH: string = A.getHeads(rootDoc)[0]!;

/** Object id of the `entries` map, made by the root change. */
export const ENTRIES_OBJECT = `2@${ROOT_ACTOR}`;

const bucketKey = (i: number) => i.toString(16).padStart(2, '0');

const bucketedDoc = A.change(A.clone(rootDoc, { actor: BUCKETS_ACTOR }), { time: 0 }, (d) => {
	for (let i = 0; i < ENVELOPE_BUCKETS; i++) d.entries[bucketKey(i)] = {};
});

/**
 * The buckets change (format v3): deterministic (fixed actor, time 0, right after the root), so
 * every peer that adds it to an older envelope makes the very same change, and copies merge.
 */
export const BUCKETS_CHANGE: Uint8Array = A.getLastLocalChange(bucketedDoc)!;
export const BUCKETS_CHANGE_HASH: string = A.getHeads(bucketedDoc)[0]!;

/** The shared start of every new envelope: the root and the buckets change. */
export const ENVELOPE_ROOT: Uint8Array = A.save(bucketedDoc);

/** Object ids of the buckets, by bucket number. */
export const BUCKET_OBJECTS: readonly string[] = Array.from({ length: ENVELOPE_BUCKETS }, (_, i) =>
	A.getObjectId((bucketedDoc.entries as Record<string, object>)[bucketKey(i)]!)!
);
const BUCKET_OBJECT_SET = new Set(BUCKET_OBJECTS);

/** Whether `obj` is one of the buckets (format v3 publications write into one). */
export function isBucket(obj: string): boolean {
	return BUCKET_OBJECT_SET.has(obj);
}

/**
 * The bucket a publication whose first entry has `key` writes into: FNV-1a (32-bit) of the key's
 * UTF-16 code units, mod 64 — spread evenly, cheap, the same on every peer. Where an entry sits
 * means nothing to readers (they read the history); it only lets a writer ask "already held?" in
 * one place.
 */
export function bucketOf(key: string): string {
	let h = 0x811c9dc5;
	for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
	return BUCKET_OBJECTS[(h >>> 0) % ENVELOPE_BUCKETS]!;
}

/** Whether an envelope document has the buckets (documents written before format v3 do not). */
export function hasBuckets(doc: A.Doc<EnvelopeDoc>): boolean {
	return !!A.getBackend(doc).getChangeByHash(BUCKETS_CHANGE_HASH);
}

/**
 * Deterministic automerge-repo document id of the envelope of one document of one space. A compacted
 * document moves on to a new envelope per history generation (generation 0 is the original one).
 */
export function envelopeDocumentId(
	space: Uint8Array,
	document: Uint8Array,
	generation = 0
): DocumentId {
	const id = (
		generation === 0
			? hash(DOMAIN.envelopeId, space, document)
			: hash(DOMAIN.envelopeId, space, document, u32be(generation))
	).subarray(0, 16);
	return parseAutomergeUrl(stringifyAutomergeUrl({ documentId: id as unknown as DocumentId }))
		.documentId;
}

/**
 * Opens an envelope in a repo: from the repo's cache or storage when present, otherwise created from
 * the shared root (and then merged with whatever peers hold).
 */
export async function openEnvelope(
	repo: Repo,
	documentId: DocumentId
): Promise<DocHandle<EnvelopeDoc>> {
	const cached = repo.handles[documentId] as DocHandle<EnvelopeDoc> | undefined;
	let handle: DocHandle<EnvelopeDoc>;
	if (cached?.isReady()) handle = cached;
	else
		handle = (await isStored(repo, documentId))
			? await repo.find<EnvelopeDoc>(documentId)
			: repo.import<EnvelopeDoc>(ENVELOPE_ROOT, { docId: documentId });
	handleRepos.set(handle, repo);
	return handle;
}

/** Every byte-string value set by the given changes, wherever it was put. */
export function bytesWrittenBy(changes: A.Change[]): Uint8Array[] {
	const found: Uint8Array[] = [];
	for (const change of changes) {
		const v2 = decodeBytesSetChange(change);
		if (v2) {
			for (const op of v2.ops) if (op.value.length > 0) found.push(op.value);
			continue;
		}
		let decoded: A.DecodedChange;
		try {
			decoded = A.decodeChange(change);
		} catch {
			continue;
		}
		found.push(...valuesSetBy(decoded));
	}
	return found;
}

/**
 * The byte strings one decoded change sets: format v2 entries are byte strings (which
 * `decodeChange` returns as arrays of numbers), format v1 entries base64url strings.
 */
export function valuesSetBy(decoded: A.DecodedChange): Uint8Array[] {
	const found: Uint8Array[] = [];
	for (const op of Array.isArray(decoded.ops) ? decoded.ops : []) {
		if (op?.action !== 'set') continue;
		const bytes =
			typeof op.value === 'string'
				? fromBase64url(op.value)
				: Array.isArray(op.value)
					? byteArray(op.value)
					: toBytes(op.value);
		if (bytes && bytes.length > 0) found.push(bytes);
	}
	return found;
}

/**
 * What changes set, by change hash, for changes decoded on the way in (the seal check decodes every
 * change a peer sends): the reader then needs only the cheap change metadata. Bounded; a miss
 * decodes the change again.
 */
const decodedValues = new Map<string, Uint8Array[]>();
const DECODED_VALUES_LIMIT = 50_000;

export function rememberValues(hash: string, values: Uint8Array[]): void {
	if (decodedValues.size >= DECODED_VALUES_LIMIT) {
		const oldest = decodedValues.keys().next().value;
		if (oldest !== undefined) decodedValues.delete(oldest);
	}
	decodedValues.set(hash, values);
}

/** Every byte string set by the changes of `doc` after `heads` (all of them for `[]`). */
function valuesSince(doc: A.Doc<EnvelopeDoc>, heads: A.Heads): Uint8Array[] {
	let metas: A.ChangeMetadata[];
	try {
		metas = A.getChangesMetaSince(doc, heads);
	} catch {
		metas = A.getChangesMetaSince(doc, []);
	}
	const backend = A.getBackend(doc);
	const found: Uint8Array[] = [];
	for (const meta of metas) {
		const known = decodedValues.get(meta.hash);
		if (known) {
			decodedValues.delete(meta.hash);
			found.push(...known);
			continue;
		}
		// read from the change bytes: format v2 cheaply, anything else through Automerge's decoder;
		// whatever a change holds, reading it never throws: a change that does not decode adds nothing
		try {
			const raw = backend.getChangeByHash(meta.hash);
			const v2 = raw && decodeBytesSetChange(raw);
			if (v2) {
				for (const op of v2.ops) if (op.value.length > 0) found.push(op.value);
				continue;
			}
			const decoded = A.inspectChange(doc, meta.hash);
			if (decoded) found.push(...valuesSetBy(decoded));
		} catch {
			/* not an entry */
		}
	}
	return found;
}

/**
 * Follows one envelope handle and reports entries not reported before, scanning only the changes
 * that arrived since the last scan.
 */
export class EnvelopeReader {
	#heads: A.Heads;
	#listener: () => void;

	constructor(
		private readonly handle: DocHandle<EnvelopeDoc>,
		fromHeads: A.Heads,
		private readonly onEntries: (entries: Uint8Array[], heads: A.Heads) => void
	) {
		this.#heads = fromHeads;
		this.#listener = () => this.scan();
		handle.on('heads-changed', this.#listener);
	}

	get heads(): A.Heads {
		return this.#heads;
	}

	scan(): void {
		if (!this.handle.isReady()) return; // deleted or unavailable: nothing to read
		const doc = this.handle.doc();
		if (!doc) return;
		const heads = A.getHeads(doc);
		if (sameHeads(heads, this.#heads)) return;
		const entries = valuesSince(doc, this.#heads);
		this.#heads = heads;
		this.onEntries(entries, heads);
	}

	/** Every entry in the document's whole history (moves the reader to the current heads). */
	collectAll(): Uint8Array[] {
		if (!this.handle.isReady()) return [];
		const doc = this.handle.doc();
		if (!doc) return [];
		this.#heads = A.getHeads(doc);
		return valuesSince(doc, []);
	}

	stop(): void {
		this.handle.off('heads-changed', this.#listener);
	}
}

/**
 * What seals the envelope changes a repo writes: a Publisher (publication.ts). Declared here, so
 * this module does not import the one that builds on it.
 */
export interface EnvelopePublisher {
	publish(
		handle: DocHandle<EnvelopeDoc>,
		entries: { key: string; bytes: Uint8Array }[]
	): Promise<void>;
}

const publishers = new WeakMap<Repo, EnvelopePublisher>();
const storages = new WeakMap<Repo, StorageAdapterInterface>();

/** Tells `openEnvelope` which storage adapter `repo` was created with. */
export function useStorage(repo: Repo, storage: StorageAdapterInterface): void {
	storages.set(repo, storage);
}

/**
 * Whether the repo's storage holds chunks of `documentId`: read from the adapter (bytes, no
 * Automerge), since loading the document only to learn that it exists would load it twice.
 * A document stored as a snapshot plus incremental chunks is first compacted into one snapshot
 * (`compactStored`).
 */
async function isStored(repo: Repo, documentId: DocumentId): Promise<boolean> {
	const storage = storages.get(repo);
	if (storage) {
		const snapshots = await storage.loadRange([documentId, 'snapshot']);
		const incrementals = await storage.loadRange([documentId, 'incremental']);
		if (snapshots.length + incrementals.length === 0) return false;
		if (incrementals.length > 0 || snapshots.length > 1)
			await compactStored(storage, documentId, [...snapshots, ...incrementals]);
		return true;
	}
	return !!(repo.storageSubsystem && (await repo.storageSubsystem.loadDoc(documentId)));
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
const handleRepos = new WeakMap<DocHandle<EnvelopeDoc>, Repo>();

/** Makes `publisher` the one that seals every envelope change written through `repo`. */
export function usePublisher(repo: Repo, publisher: EnvelopePublisher): void {
	publishers.set(repo, publisher);
}

/**
 * Appends entries to an envelope opened with `openEnvelope`, as one sealed change of this repo's
 * publisher. Resolves once the change is in the document.
 */
export function appendEntries(
	handle: DocHandle<EnvelopeDoc>,
	entries: { key: string; bytes: Uint8Array }[]
): Promise<void> {
	if (entries.length === 0) return Promise.resolve();
	const repo = handleRepos.get(handle);
	const publisher = repo && publishers.get(repo);
	if (!publisher)
		return Promise.reject(new Error('envelope not opened through a repo with a publisher'));
	return publisher.publish(handle, entries);
}

/** A byte string that `decodeChange` gave back as an array of numbers. */
function byteArray(values: unknown[]): Uint8Array | undefined {
	for (const v of values)
		if (typeof v !== 'number' || !(v >= 0 && v <= 255) || v % 1 !== 0) return undefined;
	return Uint8Array.from(values as number[]);
}

function fromBase64url(value: string): Uint8Array | undefined {
	try {
		return base64url.decode(value);
	} catch {
		return undefined;
	}
}

function sameHeads(a: A.Heads, b: A.Heads): boolean {
	if (a.length !== b.length) return false;
	const set = new Set(a);
	return b.every((h) => set.has(h));
}
