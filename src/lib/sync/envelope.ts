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
	type DocumentId
} from '@automerge/automerge-repo';
import { DOMAIN } from '../crypto/domains.js';
import { hash } from '../crypto/primitives.js';
import { base64url, toBytes, u32be } from '../util/bytes.js';
import { decodeBytesSetChange } from './change-encoder.js';
import { sameHeads } from '../util/heads.js';

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
 * change a peer sends): the reader then needs only the cheap change metadata. One per client (its
 * `Wire`), shared by its verifying adapters and its readers. Bounded; a miss decodes the change again.
 */
export class DecodedValues {
	/** Enough for a first sync of a few large channels; ~100 bytes of bookkeeping per entry. */
	static readonly LIMIT = 50_000;
	readonly #values = new Map<string, Uint8Array[]>();

	remember(hash: string, values: Uint8Array[]): void {
		if (this.#values.size >= DecodedValues.LIMIT) {
			const oldest = this.#values.keys().next().value;
			if (oldest !== undefined) this.#values.delete(oldest);
		}
		this.#values.set(hash, values);
	}

	/** What `hash` set, if remembered (read once: the reader needs it only once). */
	take(hash: string): Uint8Array[] | undefined {
		const values = this.#values.get(hash);
		if (values) this.#values.delete(hash);
		return values;
	}

	/** Whole histories (first syncs of several envelopes at once), together within `LIMIT` values. */
	readonly #histories: { heads: A.Heads; values: Uint8Array[] }[] = [];

	/**
	 * Everything the changes up to `heads` set — a whole document whose every op a seal check saw
	 * still visible (publication.ts, `checkWholeDocument`): a reader starting from nothing then needs
	 * no change metadata for that history at all.
	 */
	rememberHistory(heads: A.Heads, values: Uint8Array[]): void {
		let held = values.length;
		for (const h of this.#histories) held += h.values.length;
		while (held > DecodedValues.LIMIT && this.#histories.length > 0)
			held -= this.#histories.shift()!.values.length;
		this.#histories.push({ heads, values });
	}

	/** A remembered history that `doc` holds, if any (read once). */
	takeHistory(doc: A.Doc<unknown>): { heads: A.Heads; values: Uint8Array[] } | undefined {
		const at = this.#histories.findIndex((h) => A.hasHeads(doc, h.heads));
		return at < 0 ? undefined : this.#histories.splice(at, 1)[0];
	}
}

/** Every byte string set by the changes of `doc` after `heads` (all of them for `[]`). */
function valuesSince(
	doc: A.Doc<EnvelopeDoc>,
	heads: A.Heads,
	decoded: DecodedValues | undefined
): Uint8Array[] {
	// a first read (from nothing, or from the shared start, which sets nothing) of a document whose
	// history a seal check took whole: that history's values, then only what came after it
	const fromStart = heads.every((h) => h === ENVELOPE_ROOT_HASH || h === BUCKETS_CHANGE_HASH);
	const history = fromStart ? decoded?.takeHistory(doc) : undefined;
	if (history) return [...history.values, ...valuesSince(doc, history.heads, decoded)];
	let metas: A.ChangeMetadata[];
	try {
		metas = A.getChangesMetaSince(doc, heads);
	} catch {
		metas = A.getChangesMetaSince(doc, []);
	}
	const backend = A.getBackend(doc);
	const found: Uint8Array[] = [];
	for (const meta of metas) {
		const known = decoded?.take(meta.hash);
		if (known) {
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
		private readonly onEntries: (entries: Uint8Array[], heads: A.Heads) => void,
		private readonly decoded?: DecodedValues
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
		const entries = valuesSince(doc, this.#heads, this.decoded);
		this.#heads = heads;
		this.onEntries(entries, heads);
	}

	/** Every entry in the document's whole history (moves the reader to the current heads). */
	collectAll(): Uint8Array[] {
		if (!this.handle.isReady()) return [];
		const doc = this.handle.doc();
		if (!doc) return [];
		this.#heads = A.getHeads(doc);
		return valuesSince(doc, [], this.decoded);
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
