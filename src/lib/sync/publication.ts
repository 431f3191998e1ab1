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
 * actor; only `set`s of strings into the entries map, superseding nothing), or a key holder could
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
import { DOMAIN } from '../crypto/domains.js';
import { CharterError } from '../errors.js';
import { cryptoProvider, hash, KEY_BYTES, SIGNATURE_BYTES } from '../crypto/primitives.js';
import { base64url, concatBytes, hex, randomBytes, u32be, u64be, utf8 } from '../util/bytes.js';
import {
	ENTRIES_OBJECT,
	ENVELOPE_ROOT_HASH,
	rememberValuesOf,
	type EnvelopeDoc
} from './envelope.js';

/** Prefix of the Automerge change message that carries the seal. */
export const SEAL_PREFIX = 'charter-seal:';

/** Actor of the changes published under a publishing key. */
export function publisherActor(publicKey: Uint8Array): string {
	return hex.encode(hash(DOMAIN.publisherActor, publicKey).subarray(0, 16));
}

interface PublishedOp {
	action: 'set';
	obj: string;
	key: string;
	value: string;
	pred: string[];
}

interface UnsealedChange {
	actor: string;
	seq: number;
	startOp: number;
	time: number;
	deps: string[];
	ops: PublishedOp[];
}

/** What the seal signs: every field of the change but the message that carries the seal. */
function sealDigest(change: UnsealedChange): Uint8Array {
	const parts: Uint8Array[] = [
		DOMAIN.publication,
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
		const value = utf8.encode(op.value);
		parts.push(u32be(key.length), key, u32be(value.length), value);
	}
	return hash(concatBytes(...parts));
}

/**
 * A client's publishing key. Writes entries into envelope documents as sealed changes; one
 * publisher per wire repo. Publications are serialised, so each change's seq follows the last.
 */
export class Publisher {
	readonly actor: string;
	#seqs = new Map<string, number>();
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
	 * Never reads the document's visible shape: whatever a peer did to the map at `entries` (removed
	 * it, replaced it with a string), the ops target the root's entries object by id and "already
	 * held" is asked of that object — readers collect entries from the history anyway.
	 */
	async #write(handle: DocHandle<EnvelopeDoc>, entries: { key: string; bytes: Uint8Array }[]) {
		if (!handle.isReady()) throw new CharterError('unavailable', 'the envelope is not ready');
		const doc = handle.doc();
		const fresh = new Map<string, Uint8Array>();
		for (const e of entries) if (!fresh.has(e.key) && !holds(doc, e.key)) fresh.set(e.key, e.bytes);
		if (fresh.size === 0) return;
		const seq = (this.#seqs.get(handle.documentId) ?? 0) + 1;
		const unsealed: UnsealedChange = {
			actor: this.actor,
			seq,
			// above every op counter in the document (counters never exceed the number of ops)
			startOp: A.stats(doc).numOps + 1,
			time: 0,
			deps: A.getHeads(doc),
			ops: [...fresh].map(([key, bytes]) => ({
				action: 'set',
				obj: ENTRIES_OBJECT,
				key,
				value: base64url.encode(bytes),
				pred: []
			}))
		};
		const provider = await cryptoProvider();
		const signature = await provider.sign(this.seed, sealDigest(unsealed));
		const message = SEAL_PREFIX + base64url.encode(concatBytes(this.publicKey, signature));
		const change = A.encodeChange({ ...unsealed, message } as unknown as Parameters<
			typeof A.encodeChange
		>[0]);
		handle.update((d) => A.applyChanges(d, [change])[0]);
		// only once the change is in: a failed write leaves no gap in this actor's seqs
		this.#seqs.set(handle.documentId, seq);
	}
}

/** Whether the envelope's entries object (by id, visible or not) has a value at `key`. */
function holds(doc: A.Doc<EnvelopeDoc>, key: string): boolean {
	try {
		return A.getBackend(doc).get(ENTRIES_OBJECT, key) !== undefined;
	} catch {
		return false;
	}
}

export interface PublicationCheck {
	/** The changes (or whole-document chunks) that may reach the repo, in their original order. */
	accepted: Uint8Array[];
	/** Changes refused: unsealed, badly sealed, or not decodable. */
	refused: number;
}

/**
 * Filters the items of an Automerge sync message (single changes or, on a first sync, a whole
 * compressed document) down to sealed publications. Never throws. `rememberValues` (clients) keeps
 * what the accepted changes set for the envelope reader.
 */
export async function checkPublishedChanges(
	items: Uint8Array[],
	options: { rememberValues?: boolean } = {}
): Promise<PublicationCheck> {
	if (items.length === 0) return { accepted: items, refused: 0 };
	const provider = await cryptoProvider();
	type Item = { raw: Uint8Array; changes: { raw: Uint8Array; decoded: A.DecodedChange }[] };
	const parsed: Item[] = [];
	let refused = 0;
	for (const raw of items) {
		const changes = expandSyncItem(raw);
		if (changes) parsed.push({ raw, changes });
		else refused++;
	}
	const all = parsed.flatMap((p) => p.changes);
	const good = new Set<string>();
	// newest first per actor: a checked change vouches for the earlier changes of its actor it depends on
	const byActor = new Map<string, A.DecodedChange[]>();
	for (const { decoded } of all) {
		if (decoded.hash === ENVELOPE_ROOT_HASH) {
			good.add(decoded.hash);
			continue;
		}
		const list = byActor.get(decoded.actor) ?? [];
		list.push(decoded);
		byActor.set(decoded.actor, list);
	}
	await Promise.all(
		[...byActor.values()].map(async (changes) => {
			changes.sort((a, b) => b.seq - a.seq);
			const vouched = new Set<string>();
			for (const change of changes) {
				// vouching spares the signature check, never the check that this is a publication
				const publication = publicationOf(change);
				if (!publication) continue;
				if (!vouched.has(change.hash!) && !(await hasValidSeal(change, publication, provider)))
					continue;
				good.add(change.hash!);
				for (const dep of change.deps) vouched.add(dep);
			}
		})
	);
	const accepted: Uint8Array[] = [];
	for (const item of parsed) {
		const ok = item.changes.filter((c) => good.has(c.decoded.hash!));
		// a client's reader will want what these changes set: spare it decoding them again
		if (options.rememberValues) for (const c of ok) rememberValuesOf(c.decoded);
		refused += item.changes.length - ok.length;
		if (ok.length === item.changes.length) accepted.push(item.raw);
		else accepted.push(...ok.map((c) => c.raw));
	}
	return { accepted, refused };
}

const CHUNK_MAGIC = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT_CHUNK = 0;

/**
 * The changes in one item of a sync message: one or more concatenated Automerge chunks, each a
 * change (plain or compressed) or a whole document. Undefined if any part does not parse.
 */
export function expandSyncItem(
	item: Uint8Array
): { raw: Uint8Array; decoded: A.DecodedChange }[] | undefined {
	const out: { raw: Uint8Array; decoded: A.DecodedChange }[] = [];
	try {
		for (const chunk of splitChunks(item)) {
			if (chunk[8] === DOCUMENT_CHUNK)
				for (const raw of A.getAllChanges(A.load(chunk)))
					out.push({ raw, decoded: A.decodeChange(raw) });
			else out.push({ raw: chunk, decoded: A.decodeChange(chunk) });
		}
	} catch {
		return undefined;
	}
	return out;
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

interface Publication {
	unsealed: UnsealedChange;
	message: string;
	publicKey: Uint8Array;
	signature: Uint8Array;
}

/**
 * The signed fields and seal of a change shaped as a publication — a seal whose key hashes to the
 * change's actor, and only `set`s of strings into the entries map that supersede nothing — or
 * undefined. Does not verify the signature.
 */
function publicationOf(change: A.DecodedChange): Publication | undefined {
	const message = change.message;
	if (typeof message !== 'string' || !message.startsWith(SEAL_PREFIX)) return undefined;
	let seal: Uint8Array;
	try {
		seal = base64url.decode(message.slice(SEAL_PREFIX.length));
	} catch {
		return undefined;
	}
	if (seal.length !== KEY_BYTES + SIGNATURE_BYTES) return undefined;
	const publicKey = seal.subarray(0, KEY_BYTES);
	if (publisherActor(publicKey) !== change.actor) return undefined;
	if (!Array.isArray(change.ops) || !Array.isArray(change.deps)) return undefined;
	const ops: PublishedOp[] = [];
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
		ops.push({ action: 'set', obj: ENTRIES_OBJECT, key: o.key, value: o.value, pred: [] });
	}
	return {
		unsealed: {
			actor: change.actor,
			seq: change.seq,
			startOp: change.startOp,
			time: change.time,
			deps: change.deps,
			ops
		},
		message,
		publicKey,
		signature: seal.subarray(KEY_BYTES)
	};
}

/** A publication's seal holds: its exact canonical bytes, signed by its publishing key. */
async function hasValidSeal(
	change: A.DecodedChange,
	{ unsealed, message, publicKey, signature }: Publication,
	provider: Awaited<ReturnType<typeof cryptoProvider>>
): Promise<boolean> {
	// the exact bytes the seal allows: any other encoding of "the same" change has another hash
	let canonical: string | undefined;
	try {
		canonical = A.decodeChange(
			A.encodeChange({ ...unsealed, message } as unknown as Parameters<typeof A.encodeChange>[0])
		).hash;
	} catch {
		return false;
	}
	if (canonical !== change.hash) return false;
	return provider.verify(signature, sealDigest(unsealed), publicKey);
}
