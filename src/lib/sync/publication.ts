/**
 * Sealed publication of envelope changes: why no peer can equivocate on another peer's changes.
 *
 * Automerge names a writer's changes by (actor, seq). A peer that sees change (A, n) could craft a
 * different, well-formed change with the same (A, n); every document that took the fake refuses the
 * genuine one ("duplicate seq") and, with it, every later change that depends on it — a permanent
 * partition of the envelope, made by anyone who can sync it. Sealed entries do not help: the attack
 * is on the Automerge layer that carries them.
 *
 * So every envelope change is *published*: each client holds an ephemeral publishing key (in
 * memory, per process or tab), its Automerge actor is a hash of that key, and each change it writes
 * carries, in its message field, the key and a signature over every field that determines the
 * change's hash (actor, seq, startOp, time, deps, ops). Changes are encoded by Charter itself
 * (`encodeChange`), so a verifier rebuilds the exact bytes from the signed fields and compares
 * hashes: a change with the same (actor, seq) and different bytes cannot carry a valid seal.
 *
 * Verification is cheap where it matters: the newest change of each actor in a batch is checked by
 * signature; its earlier changes are vouched for by hash, as the deps of a checked change of the
 * same actor (an actor's change always depends on its previous one). A cold sync of 10,000 changes
 * from one writer costs one signature check. Vouching skips only the signature: every change,
 * vouched or not, must itself be a well-formed publication (a seal whose key hashes to the change's
 * actor; only `set`s of byte strings into a bucket (or, before v3, the entries map), superseding nothing), or a key holder could
 * vouch for an unsealed change of her own — say one that replaces the entries map with a string.
 * The canonical re-encoding is compared for changes checked by signature; a vouched change's bytes
 * are already pinned by the hash its signed successor depends on (re-encoding 10,000 vouched changes
 * would add ~0.8 s to a cold sync, for nothing).
 *
 * The publishing key is not an identity: it says nothing about who wrote an entry (entries carry
 * their own device signatures) — only that this Automerge change is the one its actor published.
 * Every client and sync server runs `checkPublishedChanges` on what it receives, before the repo
 * applies it (see verifying-adapter.ts and the sync server's guard).
 */
import * as A from '@automerge/automerge';
import type { DocHandle } from '@automerge/automerge-repo';
import { AUTOMERGE_CHUNK_MAGIC, DOMAIN, SEAL_PREFIX } from '../crypto/domains.js';
import { CharterError } from '../errors.js';
import {
	cryptoProvider,
	hash,
	KEY_BYTES,
	SIGNATURE_BYTES,
	type CryptoProvider
} from '../crypto/primitives.js';
import { base64url, concatBytes, hex, randomBytes, u32be, u64be, utf8 } from '../util/bytes.js';
import { decodeBytesSetChange, encodeBytesSetChange } from './change-encoder.js';
import {
	BUCKET_OBJECTS,
	BUCKETS_CHANGE,
	BUCKETS_CHANGE_HASH,
	bucketOf,
	ENTRIES_OBJECT,
	ENVELOPE_ROOT_HASH,
	hasBuckets,
	isBucket,
	valuesSetBy,
	type DecodedValues,
	type EnvelopeDoc,
	type EnvelopePublisher
} from './envelope.js';

export { SEAL_PREFIX };

/** Actor of the changes published under a publishing key. */
export function publisherActor(publicKey: Uint8Array): string {
	return hex.encode(hash(DOMAIN.publisherActor, publicKey).subarray(0, 16));
}

/**
 * Publication formats: v3 sets byte strings into one of the envelope's buckets (what writers write),
 * v2 set byte strings into the `entries` map itself, v1 base64url strings. v2 and v1 are read so
 * that envelopes written by earlier versions stay readable.
 */
type Format = 'v1' | 'v2' | 'v3';

/** A change's fields that the seal covers, with its values as raw bytes (v2, v3) or strings (v1). */
interface UnsealedChange {
	/** The map the ops write into (v3: a bucket; v1 and v2: always the entries map). */
	obj: string;
	actor: string;
	seq: number;
	startOp: number;
	time: number;
	deps: string[];
	ops: { key: string; value: Uint8Array }[];
}

/**
 * What the seal signs: every field of the change but the message that carries the seal. Each format
 * has its own domain tag, so a change of one can never pass as another with the same seal. v3 also
 * signs the target map (a bucket): the same entries re-targeted into another bucket would be another
 * change with the same (actor, seq). v1 and v2 always target the entries map, so their digest leaves
 * it out; v1 values are base64url strings, whose UTF-8 bytes `value` then holds.
 */
function sealDigest(change: UnsealedChange, format: Format): Uint8Array {
	const obj = utf8.encode(change.obj);
	const parts: Uint8Array[] = [
		...(format === 'v3'
			? [DOMAIN.publicationBucketed, u32be(obj.length), obj]
			: [format === 'v2' ? DOMAIN.publicationBytes : DOMAIN.publication]),
		hex.decode(change.actor),
		u32be(change.seq),
		u64be(change.startOp),
		u64be(change.time),
		u32be(change.deps.length),
		...[...change.deps].sort().map((d) => hex.decode(d)),
		u32be(change.ops.length)
	];
	for (const op of change.ops) {
		const key = utf8.encode(op.key);
		parts.push(u32be(key.length), key, u32be(op.value.length), op.value);
	}
	return hash(concatBytes(...parts));
}

/**
 * A client's publishing key. Writes entries into envelope documents as sealed changes (format v3:
 * byte-string values in a bucket, encoded by change-encoder.ts); one publisher per wire repo.
 * Publications are serialised, so each change's seq follows the last.
 */
export class Publisher implements EnvelopePublisher {
	readonly actor: string;
	#seqs = new Map<string, number>();
	/** Envelope handles known to hold the buckets change (looking it up costs ~0.2 ms). */
	#bucketed = new WeakSet<DocHandle<EnvelopeDoc>>();
	#queue: Promise<unknown> = Promise.resolve();

	private constructor(
		private readonly seed: Uint8Array,
		readonly publicKey: Uint8Array
	) {
		this.actor = publisherActor(publicKey);
	}

	static async create(): Promise<Publisher> {
		const seed = randomBytes(KEY_BYTES);
		const provider = await cryptoProvider();
		return new Publisher(seed, await provider.ed25519PublicKey(seed));
	}

	/**
	 * Appends entries to an envelope as one sealed change (keys the document already holds are
	 * skipped). Resolves once the change is in the handle.
	 */
	publish(
		handle: DocHandle<EnvelopeDoc>,
		entries: { key: string; bytes: Uint8Array }[]
	): Promise<void> {
		const run = this.#queue.then(() => this.#publish(handle, entries));
		this.#queue = run.catch(() => undefined);
		return run;
	}

	/** Publications that could not happen (each rejected with a CharterError `unavailable`). */
	get failures(): number {
		return this.#failures;
	}
	#failures = 0;

	async #publish(handle: DocHandle<EnvelopeDoc>, entries: { key: string; bytes: Uint8Array }[]) {
		try {
			await this.#write(handle, entries);
		} catch (error) {
			this.#failures++;
			if (error instanceof CharterError) throw error;
			throw new CharterError('unavailable', 'the envelope could not be written', { cause: error });
		}
	}

	/**
	 * Never reads the document's visible shape: whatever a peer did to the maps (removed them,
	 * replaced them with strings), the ops target a bucket made by the buckets change, by id, and
	 * "already held" is asked of that object — readers collect entries from the history anyway. An
	 * envelope written before format v3 first gets the buckets change (the same on every peer).
	 */
	async #write(handle: DocHandle<EnvelopeDoc>, entries: { key: string; bytes: Uint8Array }[]) {
		if (!handle.isReady()) throw new CharterError('unavailable', 'the envelope is not ready');
		if (!this.#bucketed.has(handle)) {
			if (!hasBuckets(handle.doc())) handle.update((d) => A.applyChanges(d, [BUCKETS_CHANGE])[0]);
			this.#bucketed.add(handle); // a change, once in a document, stays: asked once per handle
		}
		const doc = handle.doc();
		const fresh = new Map<string, Uint8Array>();
		for (const e of entries)
			if (e.bytes.length > 0 && !fresh.has(e.key) && !holds(doc, e.key)) fresh.set(e.key, e.bytes);
		if (fresh.size === 0) return;
		const seq = (this.#seqs.get(handle.documentId) ?? 0) + 1;
		const unsealed: UnsealedChange = {
			// one bucket per publication, the first entry's: a batch is one change
			obj: bucketOf(fresh.keys().next().value!),
			actor: this.actor,
			seq,
			// above every op counter in the document (counters never exceed the number of ops)
			startOp: A.stats(doc).numOps + 1,
			time: 0,
			deps: A.getHeads(doc),
			ops: [...fresh].map(([key, value]) => ({ key, value }))
		};
		const provider = await cryptoProvider();
		const signature = await provider.sign(this.seed, sealDigest(unsealed, 'v3'));
		const message = SEAL_PREFIX + base64url.encode(concatBytes(this.publicKey, signature));
		const { bytes } = encodeBytesSetChange({ ...unsealed, message });
		handle.update((d) => A.applyChanges(d, [bytes])[0]);
		// only once the change is in: a failed write leaves no gap in this actor's seqs
		this.#seqs.set(handle.documentId, seq);
	}
}

/**
 * Whether the envelope holds a value at `key` where a writer would have put it: in the key's bucket
 * (v3) or the entries map itself (before v3). An entry that came in a batch sits in the bucket of the
 * batch's first key and is not found: it is written again, which readers ignore.
 */
function holds(doc: A.Doc<EnvelopeDoc>, key: string): boolean {
	const backend = A.getBackend(doc);
	for (const obj of [bucketOf(key), ENTRIES_OBJECT])
		try {
			if (backend.get(obj, key) !== undefined) return true;
		} catch {
			/* not there */
		}
	return false;
}

export interface PublicationCheck {
	/** The changes (or whole-document chunks) that may reach the repo, in their original order. */
	accepted: Uint8Array[];
	/** Changes refused: unsealed, badly sealed, or not decodable. */
	refused: number;
}

/** One change of a sync message, read far enough to judge its seal. */
interface ReadChange {
	raw: Uint8Array;
	hash: string;
	actor: string;
	seq: number;
	deps: string[];
	/** The shared envelope root or the buckets change: the changes without a seal. */
	root: boolean;
	/**
	 * A well-formed publication: a seal whose key names the actor, only `set`s of fresh keys into
	 * a bucket or the entries map, encoded canonically. Undefined for anything else (which is refused, whatever
	 * vouches for it).
	 */
	sealed?: {
		format: Format;
		unsealed: UnsealedChange;
		publicKey: Uint8Array;
		signature: Uint8Array;
	};
	/** The byte strings it sets (entries). */
	values: Uint8Array[];
}

/**
 * Filters the items of an Automerge sync message (single changes or, on a first sync, a whole
 * compressed document) down to sealed publications. Never throws. `remember` (a client's
 * `Wire.decoded`) keeps what the accepted changes set, for the client's envelope readers.
 *
 * Every change must itself be a well-formed publication (`ReadChange.sealed`); what vouching saves
 * is only the signature check: the newest change of each actor is checked by signature, and it
 * vouches by hash for the earlier changes of its actor that it depends on.
 */
export async function checkPublishedChanges(
	items: Uint8Array[],
	options: { remember?: DecodedValues } = {}
): Promise<PublicationCheck> {
	if (items.length === 0) return { accepted: items, refused: 0 };
	const provider = await cryptoProvider();
	type Item = { raw: Uint8Array; changes: ReadChange[] };
	const parsed: Item[] = [];
	/** Items that are whole documents of good publications, with what their changes set. */
	const whole = new Map<Uint8Array, { heads: A.Heads; values: Uint8Array[] }>();
	let refused = 0;
	for (const raw of items) {
		const good = isDocumentChunk(raw) ? await checkWholeDocument(raw, provider) : undefined;
		if (good) {
			whole.set(raw, good);
			continue;
		}
		const changes = readSyncItem(raw);
		if (changes) parsed.push({ raw, changes });
		else refused++;
	}
	const good = new Set<string>();
	// newest first per actor: a checked change vouches for the earlier changes of its actor it depends on
	const byActor = new Map<string, ReadChange[]>();
	for (const change of parsed.flatMap((p) => p.changes)) {
		if (change.root) {
			good.add(change.hash);
			continue;
		}
		if (!change.sealed) continue;
		const list = byActor.get(change.actor) ?? [];
		list.push(change);
		byActor.set(change.actor, list);
	}
	await Promise.all(
		[...byActor.values()].map(async (changes) => {
			changes.sort((a, b) => b.seq - a.seq);
			const vouched = new Set<string>();
			for (const change of changes) {
				// vouching spares the signature check, never the check that this is a publication
				const seal = change.sealed!;
				if (
					!vouched.has(change.hash) &&
					!(await provider.verify(
						seal.signature,
						sealDigest(seal.unsealed, seal.format),
						seal.publicKey
					))
				)
					continue;
				good.add(change.hash);
				for (const dep of change.deps) vouched.add(dep);
			}
		})
	);
	const accepted: Uint8Array[] = [];
	const byRaw = new Map(parsed.map((p) => [p.raw, p]));
	for (const raw of items) {
		const history = whole.get(raw);
		if (history) {
			options.remember?.rememberHistory(history.heads, history.values);
			accepted.push(raw);
			continue;
		}
		const item = byRaw.get(raw);
		if (!item) continue;
		const ok = item.changes.filter((c) => good.has(c.hash));
		// a client's reader will want what these changes set: spare it decoding them again
		if (options.remember) for (const c of ok) options.remember.remember(c.hash, c.values);
		refused += item.changes.length - ok.length;
		if (ok.length === item.changes.length) accepted.push(item.raw);
		else accepted.push(...ok.map((c) => c.raw));
	}
	return { accepted, refused };
}

/** Reads one change: the v2 fast path (Charter's canonical bytes), else Automerge's decoder. */
function readChange(raw: Uint8Array): ReadChange | undefined {
	const v2 = decodeBytesSetChange(raw);
	if (v2) {
		const seal = parseSeal(v2.message, v2.actor);
		const format: Format | undefined =
			v2.obj === ENTRIES_OBJECT ? 'v2' : isBucket(v2.obj) ? 'v3' : undefined;
		const sealed = seal && format ? { format, unsealed: v2, ...seal } : undefined;
		return {
			raw,
			hash: v2.hash,
			actor: v2.actor,
			seq: v2.seq,
			deps: v2.deps,
			root: false,
			sealed,
			values: v2.ops.map((o) => o.value)
		};
	}
	let decoded: A.DecodedChange;
	try {
		decoded = A.decodeChange(raw);
	} catch {
		return undefined;
	}
	const read: ReadChange = {
		raw,
		hash: decoded.hash!,
		actor: decoded.actor,
		seq: decoded.seq,
		deps: decoded.deps,
		root: decoded.hash === ENVELOPE_ROOT_HASH || decoded.hash === BUCKETS_CHANGE_HASH,
		values: valuesSetBy(decoded)
	};
	if (!read.root) read.sealed = legacySeal(decoded);
	return read;
}

/** The seal in a change message, if it is well formed and its key is the change's actor's. */
function parseSeal(
	message: string | null | undefined,
	actor: string
): { publicKey: Uint8Array; signature: Uint8Array } | undefined {
	if (typeof message !== 'string' || !message.startsWith(SEAL_PREFIX)) return undefined;
	let seal: Uint8Array;
	try {
		seal = base64url.decode(message.slice(SEAL_PREFIX.length));
	} catch {
		return undefined;
	}
	if (seal.length !== KEY_BYTES + SIGNATURE_BYTES) return undefined;
	const publicKey = seal.subarray(0, KEY_BYTES);
	if (publisherActor(publicKey) !== actor) return undefined;
	return { publicKey, signature: seal.subarray(KEY_BYTES) };
}

/**
 * A format v1 publication (entries as base64url strings, written before format v2): read so that
 * envelopes written by earlier versions stay readable. Canonical when `Automerge.encodeChange` of
 * its fields gives its hash.
 */
function legacySeal(change: A.DecodedChange): ReadChange['sealed'] {
	const seal = parseSeal(change.message, change.actor);
	if (!seal) return undefined;
	const ops: { key: string; value: string }[] = [];
	for (const op of change.ops) {
		const o = op as unknown as Record<string, unknown>;
		if (
			o.action !== 'set' ||
			o.obj !== ENTRIES_OBJECT ||
			typeof o.key !== 'string' ||
			typeof o.value !== 'string' ||
			o.insert ||
			(Array.isArray(o.pred) && o.pred.length > 0) ||
			(o.datatype !== undefined && o.datatype !== 'str')
		)
			return undefined;
		ops.push({ key: o.key, value: o.value });
	}
	const fields = {
		actor: change.actor,
		seq: change.seq,
		startOp: change.startOp,
		time: change.time,
		deps: change.deps
	};
	// the exact bytes the seal allows: any other encoding of "the same" change has another hash
	try {
		const canonical = A.decodeChange(
			A.encodeChange({
				...fields,
				message: change.message,
				ops: ops.map((o) => ({ action: 'set', obj: ENTRIES_OBJECT, ...o, pred: [] }))
			} as unknown as Parameters<typeof A.encodeChange>[0])
		).hash;
		if (canonical !== change.hash) return undefined;
	} catch {
		return undefined;
	}
	return {
		format: 'v1',
		unsealed: {
			...fields,
			obj: ENTRIES_OBJECT,
			ops: ops.map((o) => ({ key: o.key, value: utf8.encode(o.value) }))
		},
		...seal
	};
}

const CHUNK_MAGIC = AUTOMERGE_CHUNK_MAGIC;
const DOCUMENT_CHUNK = 0;

/**
 * The changes in one item of a sync message: one or more concatenated Automerge chunks, each a
 * change (plain or compressed) or a whole document. Undefined if any part does not parse.
 */
export function readSyncItem(item: Uint8Array): ReadChange[] | undefined {
	const out: ReadChange[] = [];
	try {
		for (const chunk of splitChunks(item)) {
			const raws = chunk[8] === DOCUMENT_CHUNK ? changesOfDocument(chunk) : [chunk];
			for (const raw of raws) {
				const change = readChange(raw);
				if (!change) return undefined;
				out.push(change);
			}
		}
	} catch {
		return undefined;
	}
	return out;
}

/** Whether a sync message item is one whole-document chunk (what a first sync sends). */
function isDocumentChunk(item: Uint8Array): boolean {
	try {
		const chunks = splitChunks(item);
		return chunks.length === 1 && chunks[0]![8] === DOCUMENT_CHUNK;
	} catch {
		return false;
	}
}

/**
 * A whole-document chunk checked as one document, without taking it apart into changes (which costs
 * Automerge a re-encoding and Charter a decoding of every change: most of a first sync's seal check,
 * docs/benchmarks.md). Loading it, Automerge computes every change's hash from its contents; the
 * document is then judged by what its changes did, which is all a publication may do: every op of
 * every change after the shared root (`startOp` … `maxOp` in its metadata) must be a byte string
 * that a bucket still shows, all of one change's in the same bucket. A delete, an overwrite, a
 * counter, an object, a string, a value anywhere but in a bucket: each is an op no bucket shows as a
 * byte string, or it hides one that was. Every change must carry a seal whose key names its actor;
 * then per actor, newest first, each change that no checked change of its actor depends on is read
 * in full (canonical encoding) and its signature checked, as `checkPublishedChanges` does change by
 * change. Returns the document's heads and every byte string its changes set when all of that
 * holds, and undefined when anything does not: the caller then takes the chunk apart and cuts out
 * what is bad, so this path only ever says yes sooner (`test/unit/publication.test.ts`).
 */
async function checkWholeDocument(
	chunk: Uint8Array,
	provider: CryptoProvider
): Promise<{ heads: A.Heads; values: Uint8Array[] } | undefined> {
	let doc: A.Doc<unknown>;
	try {
		doc = A.load(chunk);
	} catch {
		return undefined;
	}
	try {
		const backend = A.getBackend(doc);
		// every value the buckets show, by the op that put it
		const shown = new Map<string, { bucket: string; value: Uint8Array }>();
		for (const bucket of BUCKET_OBJECTS) {
			let keys: string[];
			try {
				keys = backend.keys(bucket);
			} catch {
				continue; // no buckets change: nothing can be in them
			}
			for (const key of keys)
				for (const [type, value, id] of backend.getAll(bucket, key)) {
					if (type !== 'bytes' || !(value instanceof Uint8Array)) return undefined;
					shown.set(id, { bucket, value });
				}
		}
		const values: Uint8Array[] = [];
		const byActor = new Map<string, A.ChangeMetadata[]>();
		const sealKeys = new Map<string, string>();
		for (const meta of A.getChangesMetaSince(doc, [])) {
			if (meta.hash === ENVELOPE_ROOT_HASH || meta.hash === BUCKETS_CHANGE_HASH) continue;
			if (!hasSeal(meta, sealKeys)) return undefined;
			let bucket: string | undefined;
			for (let counter = meta.startOp; counter <= meta.maxOp; counter++) {
				const op = shown.get(`${counter}@${meta.actor}`);
				if (!op || (bucket ??= op.bucket) !== op.bucket) return undefined;
				values.push(op.value);
			}
			const list = byActor.get(meta.actor) ?? [];
			list.push(meta);
			byActor.set(meta.actor, list);
		}
		for (const changes of byActor.values()) {
			changes.sort((a, b) => b.seq - a.seq);
			const vouched = new Set<string>();
			for (const meta of changes) {
				if (!vouched.has(meta.hash)) {
					const raw = backend.getChangeByHash(meta.hash);
					const seal = raw ? readChange(raw)?.sealed : undefined;
					if (
						seal?.format !== 'v3' ||
						!(await provider.verify(
							seal.signature,
							sealDigest(seal.unsealed, seal.format),
							seal.publicKey
						))
					)
						return undefined;
				}
				for (const dep of meta.deps) vouched.add(dep);
			}
		}
		return { heads: A.getHeads(doc), values };
	} catch {
		return undefined;
	} finally {
		A.free(doc);
	}
}

/**
 * Whether a change's message is a seal whose key names its actor, as `parseSeal` has it. The key's
 * hash is taken once per actor: `known` holds the key as the seal encodes it (32 bytes are the first
 * 42 characters and the top 4 bits of the 43rd, whose low 2 bits begin the signature).
 */
function hasSeal(meta: A.ChangeMetadata, known: Map<string, string>): boolean {
	const message = meta.message;
	if (typeof message !== 'string' || message.length !== SEAL_LENGTH) return false;
	const encoded = message.slice(SEAL_PREFIX.length);
	if (!BASE64URL_96.test(encoded)) return false;
	const key = encoded.slice(0, 42) + (BASE64URL.indexOf(encoded[42]!) >> 2);
	if (known.get(meta.actor) === key) return true;
	if (!parseSeal(message, meta.actor)) return false;
	known.set(meta.actor, key);
	return true;
}

/** A seal's length: the prefix and base64url (no padding) of key (32) ‖ signature (64). */
const SEAL_LENGTH = SEAL_PREFIX.length + 128;
/** 96 bytes in unpadded base64url: 128 characters, none of them padding bits (96 = 3 × 32). */
const BASE64URL_96 = /^[A-Za-z0-9_-]{128}$/;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The changes of a whole-document chunk; the document is freed at once (its wasm memory). */
function changesOfDocument(chunk: Uint8Array): Uint8Array[] {
	const doc = A.load(chunk);
	try {
		return A.getAllChanges(doc);
	} finally {
		A.free(doc);
	}
}

/** Splits concatenated chunks: magic (4) ‖ checksum (4) ‖ type (1) ‖ uLEB128 length ‖ contents. */
function splitChunks(bytes: Uint8Array): Uint8Array[] {
	const chunks: Uint8Array[] = [];
	let at = 0;
	while (at < bytes.length) {
		if (CHUNK_MAGIC.some((b, i) => bytes[at + i] !== b)) throw new Error('not an Automerge chunk');
		let p = at + 9;
		let length = 0;
		for (let shift = 0; ; shift += 7) {
			if (p >= bytes.length || shift > 35) throw new Error('truncated chunk header');
			const byte = bytes[p++]!;
			length += (byte & 0x7f) * 2 ** shift;
			if (!(byte & 0x80)) break;
		}
		if (p + length > bytes.length) throw new Error('truncated chunk');
		chunks.push(bytes.subarray(at, p + length));
		at = p + length;
	}
	return chunks;
}
