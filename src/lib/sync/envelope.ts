/**
 * Envelope documents: ordinary automerge-repo documents whose only content is a map of opaque sealed
 * entries (`entries[<entry key>] = bytes`). Any automerge-repo peer can store and forward them.
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
import { base64url, toBytes, u32be } from '../util/bytes.js';
import type { Publisher } from './publication.js';

export interface EnvelopeDoc {
	v: number;
	entries: Record<string, Uint8Array>;
}

const ROOT_ACTOR = '00'.repeat(16);

/** The shared root every envelope document starts from. */
export const ENVELOPE_ROOT: Uint8Array = A.save(
	A.change(A.init<EnvelopeDoc>({ actor: ROOT_ACTOR }), { time: 0 }, (d) => {
		d.v = 1;
		d.entries = {};
	})
);

/** Hash of the root change: the one change of an envelope that carries no seal. */
export const ENVELOPE_ROOT_HASH: string = A.getHeads(A.load(ENVELOPE_ROOT))[0]!;

/** Object id of the `entries` map, made by the root change. */
export const ENTRIES_OBJECT = `2@${ROOT_ACTOR}`;

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

/** The byte strings one decoded change sets (entries are base64url strings; older ones bytes). */
export function valuesSetBy(decoded: A.DecodedChange): Uint8Array[] {
	const found: Uint8Array[] = [];
	for (const op of Array.isArray(decoded.ops) ? decoded.ops : []) {
		if (op?.action !== 'set') continue;
		const bytes = typeof op.value === 'string' ? fromBase64url(op.value) : toBytes(op.value);
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

export function rememberValuesOf(decoded: A.DecodedChange): void {
	if (!decoded.hash) return;
	if (decodedValues.size >= DECODED_VALUES_LIMIT) {
		const oldest = decodedValues.keys().next().value;
		if (oldest !== undefined) decodedValues.delete(oldest);
	}
	decodedValues.set(decoded.hash, valuesSetBy(decoded));
}

/** Every byte string set by the changes of `doc` after `heads` (all of them for `[]`). */
function valuesSince(doc: A.Doc<EnvelopeDoc>, heads: A.Heads): Uint8Array[] {
	let metas: A.ChangeMetadata[];
	try {
		metas = A.getChangesMetaSince(doc, heads);
	} catch {
		metas = A.getChangesMetaSince(doc, []);
	}
	const found: Uint8Array[] = [];
	for (const meta of metas) {
		const known = decodedValues.get(meta.hash);
		if (known) {
			decodedValues.delete(meta.hash);
			found.push(...known);
			continue;
		}
		// whatever a change holds, reading it never throws: a change that does not decode adds nothing
		try {
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

const publishers = new WeakMap<Repo, Publisher>();
const storages = new WeakMap<Repo, StorageAdapterInterface>();

/** Tells `openEnvelope` which storage adapter `repo` was created with. */
export function useStorage(repo: Repo, storage: StorageAdapterInterface): void {
	storages.set(repo, storage);
}

/**
 * Whether the repo's storage holds chunks of `documentId`: read from the adapter (bytes, no
 * Automerge), since loading the document only to learn that it exists would load it twice.
 */
async function isStored(repo: Repo, documentId: DocumentId): Promise<boolean> {
	const storage = storages.get(repo);
	if (storage) {
		for (const kind of ['snapshot', 'incremental'])
			if ((await storage.loadRange([documentId, kind])).length > 0) return true;
		return false;
	}
	return !!(repo.storageSubsystem && (await repo.storageSubsystem.loadDoc(documentId)));
}
const handleRepos = new WeakMap<DocHandle<EnvelopeDoc>, Repo>();

/** Makes `publisher` the one that seals every envelope change written through `repo`. */
export function usePublisher(repo: Repo, publisher: Publisher): void {
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
