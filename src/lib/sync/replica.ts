/**
 * A replica of one plaintext document of a space on this device, fed by its envelope document.
 *
 *   wire → verify → open → validate → materialise      (incoming)
 *   change → validate → seal → append to envelope      (local)
 *
 * The plaintext document lives only here and in the never-networked local store. Validation is the
 * authority layer's (a ReplicaValidator); this class moves bytes, keeps the bookkeeping (entries
 * waiting for a key, a dependency or the space; entries refused, with their reason) and never throws
 * at the network: failures are counted in `stats.dropped`.
 */
import * as A from '@automerge/automerge';
import { cbor, type DocHandle, type StorageAdapterInterface } from '@automerge/automerge-repo';
import { CharterError } from '../errors.js';
import {
	decryptEntry,
	ENTRY_MAGIC,
	entryHash,
	entryKey,
	HASH_BYTES,
	parseEntry,
	sealEntry,
	verifyEntrySignature,
	type EntryHeader,
	type ParsedEntry
} from '../encryption/entry.js';
/** Where a replica finds epoch keys (a KeyRing, or keys derived from one). */
export interface EpochKeySource {
	get(document: Uint8Array, epoch: Uint8Array): Uint8Array | undefined;
}
import type { OpenedEntry } from '../authority/opened-entry.js';
import type { ReplicaValidator, ValidationResult } from '../authority/verdict.js';
import { hash } from '../crypto/primitives.js';
import { base58, bytesEqual, compareBytes, hex } from '../util/bytes.js';
import { decodeChangeBatch, encodeChangeBatch } from './body.js';
import {
	isFragment,
	MAX_FRAGMENT_ENTRIES,
	openFragment,
	parseFragment,
	sealFragment,
	verifyFragmentSignature,
	type ParsedFragment
} from '../encryption/fragment.js';
import { envelopeDocumentId, type EnvelopeDoc, type EnvelopeReader } from './envelope.js';
import type { Wire } from './wire.js';
import { nextTask } from '../util/tasks.js';
import { actorFor } from '../authority/actors.js';
import { randomBytes } from '../util/bytes.js';
import { SESSION_BYTES } from '../encryption/entry.js';
import { sameHeads } from '../util/heads.js';

export interface ReplicaSigner {
	author: Uint8Array;
	session: Uint8Array;
	actor: string;
	sign(message: Uint8Array): Promise<Uint8Array>;
}

export interface ReplicaOptions<T> {
	space: Uint8Array;
	document: Uint8Array;
	wire: Wire;
	local?: StorageAdapterInterface;
	/** Saved deterministic root of this document type. */
	root: Uint8Array;
	keys: EpochKeySource;
	signer: ReplicaSigner;
	validator: ReplicaValidator<T>;
	/** The epoch local changes are sealed under. */
	currentEpoch(): Uint8Array | undefined;
	/** Authority context sealed with local changes (channel documents: the space heads). */
	context(): string[];
	/** Envelope entries that are not sealed change batches (lockboxes, genesis). */
	onOtherEntry?(bytes: Uint8Array): Promise<void>;
	/** Read the whole envelope on open instead of resuming (small documents re-validated in full). */
	fullScanOnOpen?: boolean;
	/** The document's current history generation (compacted documents; default 0). */
	generation?(): number;
	/**
	 * The history segment writes go to (docs/protocol.md §8.3): the id of the epoch that started it,
	 * or undefined for the document's first segment — a document whose history was never cut, where
	 * changes are made on the whole document as always.
	 */
	segment?(): Uint8Array | undefined;
}

export interface ReplicaStats {
	accepted: number;
	pending: number;
	rejected: number;
	dropped: Record<string, number>;
}

/**
 * What a replica keeps in the local store, beside its document. Format 4 stores the document as
 * automerge-repo stores documents — one snapshot plus the changes saved since, each in its own
 * chunk (`DocumentChunks`) — so that saving after a change costs the change, not the document.
 * Format 3 (before) held the whole document in `doc`, rewritten on every save; it is read as it is
 * and the next save writes format 4.
 */
interface SavedReplica {
	v: 4;
	/** Envelope heads read so far, per history generation followed. */
	generations: Record<string, string[]>;
	pending: Uint8Array[];
	rejected: { entry: Uint8Array; reason: string }[];
	/** Heads of each later history segment's plaintext (absent: the document has one segment). */
	segments?: Record<string, string[]>;
}
type SavedReplicaV3 = Omit<SavedReplica, 'v'> & { v: 3; doc: Uint8Array };
type SavedReplicaV2 = Omit<SavedReplica, 'v' | 'generations'> & {
	v: 2;
	doc: Uint8Array;
	heads: string[];
};

const SAVE_DEBOUNCE_MS = 150;
/** Rebuilds in a row after a validator threw, before the replica waits for new entries instead. */
const MAX_FAILED_REBUILDS = 3;
/** Entries verified, opened and validated between two yields to the event loop. */
const INGEST_SLICE = 500;

const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Raw entries per compacted fragment: well under the sync server's message limit. */
const FRAGMENT_TARGET_BYTES = 1024 * 1024;

interface Generation {
	number: number;
	handle: DocHandle<EnvelopeDoc>;
	reader: EnvelopeReader;
	/** Entries the reader reported that wait for the queued ingest task (see `#follow`). */
	arrived: Uint8Array[];
	/** Whether an ingest task for `arrived` is queued and has not started yet. */
	ingestQueued: boolean;
	/** The envelope heads the reader had reached when it reported the last of `arrived`. */
	arrivedHeads: A.Heads;
	/**
	 * The envelope heads up to which every entry has been ingested (decided, or kept waiting or
	 * refused): what `save` records, so a reload reads again whatever was only scanned.
	 */
	ingested: A.Heads;
}

/**
 * A later history segment of the document (docs/protocol.md §8.3): the plaintext written in it is
 * made on the bare root plus that segment's own changes, so none of it depends on what was said
 * before the cut, and a reader who holds only the keys from the cut on can apply it. The replica's
 * document holds every segment it can read (they merge: concurrent branches from one root); this
 * keeps the segment's own plaintext, to write on.
 */
interface Segment {
	id: Uint8Array;
	/** The segment's plaintext (root + its changes), made when first needed. */
	doc?: A.Doc<unknown>;
	/** Its heads, when read from the local store and not materialised yet. */
	heads: string[];
	writer: SegmentWriter;
}

/** This device's writer session in a segment: a fresh Automerge actor, its own hash chain. */
interface SegmentWriter {
	session: Uint8Array;
	actor: string;
	seq: number;
	prev: Uint8Array;
}

/** Local changes taken from the outbox to be sealed as one entry. */
interface Batch {
	changes: A.Change[];
	decoded: A.DecodedChange[];
	epoch: Uint8Array | undefined;
	segment: Segment | undefined;
	/** The session its changes were made in (a rebuild gives the segment a new one after). */
	writer: SegmentWriter | undefined;
}

export class DocumentReplica<T> {
	/** The document decided so far (during a rebuild: the one being decided again, not shown). */
	#doc: A.Doc<T>;
	/**
	 * During a rebuild, what readers see until the new decision is complete: the document decided
	 * before, with the local changes made since, and the validator that decided it (local changes
	 * are checked against what they are made on). A rebuild starts from the bare root and decides
	 * slice by slice; shown, that half-decided document would be taken for what this device has read
	 * — a ban records the heads it shows as its cut-off, and a cut-off short of what the banned
	 * member wrote refuses all of it (and what depends on it) at every peer.
	 */
	#shown: { doc: A.Doc<T>; validator: ReplicaValidator<T> } | undefined;
	/** The envelopes this replica follows, by history generation; writes go to the newest. */
	#generations = new Map<number, Generation>();
	#current!: Generation;
	/** Fragments waiting for their epoch key. */
	#pendingFragments = new Map<string, ParsedFragment>();
	#queue: Promise<void> = Promise.resolve();
	#seen = new Set<string>();
	#verified = new Set<string>();
	/** Entries verified and decrypted (valid or not yet decided). */
	#opened = new Map<string, OpenedEntry>();
	#parsed = new Map<string, ParsedEntry>();
	/** Entries this device cannot decide on yet: no key, no dependency, no space context. */
	#pending = new Map<string, { entry: ParsedEntry; reason: string }>();
	#rejected = new Map<string, { entry: ParsedEntry; reason: string }>();
	#dropped: Record<string, number> = {};
	#listeners = new Set<(doc: A.Doc<T>) => void>();
	#outbox: A.Change[] = [];
	/** The outbox's changes decoded once, for the rules at the change and the record at the seal. */
	#outboxDecoded: A.DecodedChange[] = [];
	/** This device's sealed entries waiting to be published (a publication failed). */
	#unpublished: { key: string; bytes: Uint8Array }[] = [];
	/** The epoch current when the batch in the outbox began: a change that rotates keys is still
	 * sealed under the old epoch, so everyone who could read before (the removed member too) learns
	 * of it; later entries use the new one. */
	#outboxEpoch: Uint8Array | undefined;
	/** The history segment the outbox's batch is written in (undefined: the first). */
	#outboxSegment: Segment | undefined;
	/** Later history segments seen, by base58 id. */
	#segments = new Map<string, Segment>();
	/** The writer session of the outbox's batch, when in a later segment. */
	#outboxWriter: SegmentWriter | undefined;
	/** Whether any entry opened here was written in a later segment. */
	#segmentsSeen = false;
	#flushScheduled = false;
	#flushed: Promise<void> | undefined;
	#seq = 0;
	#prev: Uint8Array = new Uint8Array(HASH_BYTES);
	#saveTimer: ReturnType<typeof setTimeout> | undefined;
	#closed = false;
	/** Rebuilds in a row started because the validator threw. */
	#failedRebuilds = 0;
	readonly #storageKey: string[];
	readonly #chunks: DocumentChunks | undefined;

	private constructor(
		private readonly options: ReplicaOptions<T>,
		doc: A.Doc<T>,
		chunks: DocumentChunks | undefined
	) {
		this.#doc = doc;
		this.#storageKey = replicaKey(options);
		this.#chunks = chunks;
	}

	static async open<T>(options: ReplicaOptions<T>): Promise<DocumentReplica<T>> {
		const key = replicaKey(options);
		const chunks = options.local
			? new DocumentChunks(options.local, ['replica-doc', ...key.slice(1)])
			: undefined;
		const savedBytes =
			options.local && !options.fullScanOnOpen ? await options.local.load(key) : undefined;
		let saved: SavedReplica | undefined;
		let savedDoc: A.Doc<T> | undefined;
		if (savedBytes) {
			try {
				const decoded = cbor.decode(savedBytes) as SavedReplica | SavedReplicaV3 | SavedReplicaV2;
				if (decoded.v === 4) {
					saved = decoded;
					savedDoc = await chunks!.load<T>(options.signer.actor);
					if (!savedDoc) saved = undefined; // metadata without its document: read afresh
				} else if (decoded.v === 3 || decoded.v === 2) {
					const { doc, ...rest } = decoded;
					saved = {
						...rest,
						v: 4,
						generations: decoded.v === 3 ? decoded.generations : { 0: decoded.heads }
					};
					savedDoc = A.load<T>(doc, { actor: options.signer.actor });
				}
			} catch {
				saved = undefined;
				savedDoc = undefined;
			}
		}
		// a damaged saved document reads as none (the catch above): start from the root and read
		// the whole envelope again
		const doc = savedDoc ?? A.load<T>(options.root, { actor: options.signer.actor });
		const replica = new DocumentReplica<T>(options, doc, chunks);
		for (const [id, heads] of Object.entries(saved?.segments ?? {}))
			replica.#segmentOf(base58.decode(id)).heads = heads;
		for (const r of saved?.rejected ?? []) {
			try {
				const entry = parseEntry(r.entry);
				replica.#rejected.set(hex.encode(entry.hash), { entry, reason: r.reason });
			} catch {
				/* a corrupt audit record is not worth failing the replica for */
			}
		}
		// the current generation first (a new device reads only it), then older ones this device
		// followed before: their late entries are republished into the current one
		const current = options.generation?.() ?? 0;
		const followed = Object.keys(saved?.generations ?? {})
			.map(Number)
			.filter((g) => Number.isInteger(g) && g >= 0 && g < current)
			.sort((a, b) => b - a);
		for (const number of [current, ...followed])
			await replica.#follow(number, saved?.generations?.[number] ?? []);
		if (saved?.pending?.length)
			replica.#enqueue(() => replica.#ingest(saved!.pending)).catch(() => undefined);
		await replica.settled();
		return replica;
	}

	/** Starts reading the envelope of one history generation (the newest becomes the current one). */
	async #follow(number: number, heads: string[]): Promise<Generation> {
		const existing = this.#generations.get(number);
		if (existing) return existing;
		const handle = await this.options.wire.open(
			envelopeDocumentId(this.options.space, this.options.document, number)
		);
		const generation: Generation = {
			number,
			handle,
			arrived: [],
			ingestQueued: false,
			arrivedHeads: heads,
			ingested: heads,
			// Entries that arrive while an ingest task waits in the queue join that task: a device
			// that falls behind (a busy chat) decides, applies and announces many entries at once —
			// one Automerge apply, one rebuild of what subscribers read — instead of one by one.
			reader: this.options.wire.read(handle, heads, (entries, scanned) => {
				generation.arrived.push(...entries);
				generation.arrivedHeads = scanned;
				if (generation.ingestQueued) return;
				generation.ingestQueued = true;
				// a failure is counted by the queue; nothing else waits on this task
				this.#enqueue(async () => {
					generation.ingestQueued = false;
					const upTo = generation.arrivedHeads;
					await this.#ingestFrom(generation, generation.arrived.splice(0));
					generation.ingested = upTo;
				}).catch(() => undefined);
			})
		};
		this.#generations.set(number, generation);
		if (!this.#current || number > this.#current.number) this.#current = generation;
		generation.reader.scan();
		return generation;
	}

	/** Moves writes to a newer history generation (after a compaction), still following older ones. */
	advanceGeneration(number: number): Promise<void> {
		if (this.#closed || number <= this.#current.number) return Promise.resolve();
		return this.#enqueue(async () => {
			await this.#sealOutbox();
			await this.#follow(number, []);
		});
	}

	/**
	 * Envelope changes in the current generation besides its root: one per entry written or
	 * republished there, one per fragment — what a new device would download and apply.
	 */
	get envelopeChanges(): number {
		const doc = this.#current.handle.doc();
		return doc ? A.stats(doc).numChanges - 1 : 0;
	}

	/** The history generation written to. */
	get generation(): number {
		return this.#current.number;
	}

	async #ingestFrom(generation: Generation, entries: Uint8Array[]): Promise<void> {
		if (generation === this.#current) return this.#ingest(entries);
		// entries that reach an older generation after the history moved on (written offline, or
		// before the writer heard of the compaction): readers of the new generation would never see
		// them, so every follower republishes them there, verbatim (their authors' signatures hold)
		const late = entries
			.map((bytes) => ({ bytes, hash: entryHash(bytes) }))
			.filter((e) => !this.#seen.has(hex.encode(e.hash)));
		await this.#ingest(entries);
		const republish = late.filter(({ hash }) => {
			const id = hex.encode(hash);
			return (this.#opened.has(id) || this.#pending.has(id)) && !this.#rejected.has(id);
		});
		if (republish.length)
			await this.options.wire.append(
				this.#current.handle,
				republish.map(({ bytes, hash }) => ({ key: entryKey(hash), bytes }))
			);
	}

	get doc(): A.Doc<T> {
		return this.#shown?.doc ?? this.#doc;
	}

	/** Replaces what readers see (during a rebuild, the shown document, not the one being decided). */
	#setShown(doc: A.Doc<T>) {
		if (this.#shown) this.#shown.doc = doc;
		else this.#doc = doc;
	}

	/** The envelope written to (the current history generation's). */
	get envelope(): DocHandle<EnvelopeDoc> {
		return this.#current.handle;
	}

	/** This device's sealed entries not yet in the envelope (a publication failed; retried). */
	get unpublished(): number {
		return this.#unpublished.length;
	}

	get stats(): ReplicaStats {
		return {
			accepted: this.#opened.size - this.#undecidedOrRefused(),
			pending: this.#pending.size,
			rejected: this.#rejected.size,
			dropped: { ...this.#dropped }
		};
	}

	#undecidedOrRefused(): number {
		let n = 0;
		for (const id of this.#opened.keys()) if (this.#pending.has(id) || this.#rejected.has(id)) n++;
		return n;
	}

	/** Entries kept but not materialised, with their reason, for audit and diagnostics. */
	get rejections(): { entry: string; reason: string }[] {
		return [...this.#rejected.entries()].map(([entry, r]) => ({ entry, reason: r.reason }));
	}

	/** Entries waiting for a key, a dependency or the space, with their reason. */
	get waiting(): { entry: string; reason: string }[] {
		return [...this.#pending.entries()].map(([entry, r]) => ({ entry, reason: r.reason }));
	}

	subscribe(listener: (doc: A.Doc<T>) => void): () => void {
		this.#listeners.add(listener);
		return () => this.#listeners.delete(listener);
	}

	/** Resolves once every entry received so far has been processed. */
	async settled(): Promise<void> {
		let queue: Promise<void>;
		do {
			queue = this.#queue;
			await queue;
		} while (queue !== this.#queue);
	}

	/** Retries waiting entries; call when keys or authority changed. */
	reevaluate(): Promise<void> {
		return this.#enqueue(async () => {
			// fragments whose key has arrived (their signature was checked when they were parked)
			for (const [id, fragment] of this.#pendingFragments) {
				const key = this.options.keys.get(this.options.document, fragment.header.epoch);
				if (!key) continue;
				this.#pendingFragments.delete(id);
				await this.#ingest((await this.#open(fragment, key)).filter((e) => !isFragment(e)));
			}
			if (this.#pending.size === 0) return;
			await this.#process([...this.#pending.values()].map((p) => p.entry));
		});
	}

	/**
	 * Re-validates everything from the envelope, from an empty document: used when a late entry (a
	 * removal) may invalidate entries accepted before. Deterministic: same entries, same result.
	 */
	rebuild(fresh: { validator: ReplicaValidator<T> }): Promise<void> {
		return this.#enqueue(async () => {
			await this.#sealOutbox();
			this.#shown = { doc: this.#doc, validator: this.options.validator };
			this.options.validator = fresh.validator;
			this.#doc = A.load<T>(this.options.root, { actor: this.options.signer.actor });
			this.#seen.clear();
			this.#opened.clear();
			this.#parsed.clear();
			this.#pending.clear();
			this.#pendingFragments.clear();
			this.#rejected.clear();
			// each segment's plaintext is made again from the entries decided again, by a new writer
			// session (its old actor's next change might reuse a number of one not decided yet)
			for (const segment of this.#segments.values())
				Object.assign(segment, { doc: undefined, heads: [], writer: this.#writerSession() });
			const all: Uint8Array[] = [];
			const upTo = new Map<Generation, A.Heads>();
			for (const generation of this.#generations.values()) {
				all.push(...generation.reader.collectAll());
				upTo.set(generation, generation.reader.heads);
			}
			try {
				await this.#ingest(all);
				for (const [generation, heads] of upTo) generation.ingested = heads;
			} finally {
				this.#shown = undefined;
				// local changes made meanwhile were made on the document shown: onto the new one too
				this.#reapplyOutbox();
			}
			this.#emit();
			this.#scheduleSave();
		});
	}

	/**
	 * Applies a local change, checks it with the authority layer (throws `not-authorized` and leaves
	 * nothing behind if refused) and seals it, batched with every other change of the same tick into
	 * one entry. Resolves when the entry is in the envelope document. `options.time` stamps the
	 * change (single-value settings use milliseconds: authority/single-values.ts).
	 */
	change(
		fn: A.ChangeFn<T>,
		options?: A.ChangeOptions<T>,
		where?: { segment?: boolean }
	): Promise<void> {
		if (this.#closed) return Promise.reject(new CharterError('closed', 'this document is closed'));
		const segment = where?.segment ? this.#currentSegment() : undefined;
		if (segment) return this.#changeInSegment(segment, fn, options);
		const before = this.doc;
		const after = options ? A.change(before, options, fn) : A.change(before, fn);
		const change = A.getLastLocalChange(after);
		if (!change || sameHeads(A.getHeads(before), A.getHeads(after))) return Promise.resolve();
		const { signer } = this.options;
		const header = { author: signer.author, session: signer.session } as EntryHeader;
		const decoded = A.decodeChange(change);
		const verdict = (this.#shown?.validator ?? this.options.validator).checkLocal(
			{ header, decoded: [decoded], context: this.options.context() },
			before
		);
		if (!verdict.valid) {
			this.#setShown(A.clone(before, { actor: signer.actor }));
			return Promise.reject(new CharterError('not-authorized', verdict.reason));
		}
		// the epoch this batch is sealed under: the one current before it — or, when this device holds
		// no key for that (a change that names the first usable epoch), the one it names. Without
		// either the change is refused here, typed, and leaves nothing behind.
		const batching = this.#outbox.length > 0 && this.#outboxSegment === undefined;
		const epoch =
			(batching ? this.#outboxEpoch : this.#usableEpoch()) ??
			(() => {
				this.#setShown(after);
				return this.#usableEpoch();
			})();
		if (!epoch) {
			this.#setShown(A.clone(before, { actor: signer.actor }));
			return Promise.reject(
				new CharterError('unknown-epoch', 'no epoch key to write this document with')
			);
		}
		this.#startBatch(undefined, epoch, before);
		this.#setShown(after);
		return this.#queueChange(change, decoded);
	}

	/**
	 * A local change made in the current history segment: on that segment's own plaintext (so it
	 * depends on nothing said before the cut), then applied to the document readers see.
	 */
	#changeInSegment(
		segment: Segment,
		fn: A.ChangeFn<T>,
		options: A.ChangeOptions<T> | undefined
	): Promise<void> {
		const before = this.#segmentDoc(segment);
		const after = options ? A.change(before, options, fn) : A.change(before, fn);
		const change = A.getLastLocalChange(after);
		if (!change || sameHeads(A.getHeads(before), A.getHeads(after))) return Promise.resolve();
		const { writer } = segment;
		const header = { author: this.options.signer.author, session: writer.session } as EntryHeader;
		const decoded = A.decodeChange(change);
		const verdict = (this.#shown?.validator ?? this.options.validator).checkLocal(
			{ header, decoded: [decoded], context: this.options.context() },
			before,
			this.doc
		);
		const batching = this.#outbox.length > 0 && this.#outboxSegment === segment;
		const epoch = batching ? this.#outboxEpoch : this.#usableEpoch();
		if (!verdict.valid || !epoch) {
			segment.doc = A.clone(before, { actor: writer.actor });
			return Promise.reject(
				verdict.valid
					? new CharterError('unknown-epoch', 'no epoch key to write this document with')
					: new CharterError('not-authorized', verdict.reason)
			);
		}
		const whole = this.doc;
		this.#startBatch(segment, epoch, whole);
		segment.doc = after;
		this.#setShown(A.applyChanges(whole, [change])[0]);
		return this.#queueChange(change, decoded);
	}

	/**
	 * Begins a batch (unless the outbox holds one of the same segment): a batch is sealed in one
	 * writer session, so the outbox's batch of another segment is sealed first, on its own.
	 */
	#startBatch(segment: Segment | undefined, epoch: Uint8Array, before: A.Doc<T>) {
		if (
			this.#outbox.length &&
			(this.#outboxSegment !== segment || this.#outboxWriter !== segment?.writer)
		) {
			const batch = this.#takeBatch();
			this.#enqueue(() => this.#sealBatch(batch)).catch(() => undefined);
		}
		if (this.#outbox.length === 0) {
			this.#outboxEpoch = epoch;
			this.#outboxSegment = segment;
			this.#outboxWriter = segment?.writer;
		}
		if (this.#unsealed === 0) this.#unsealedBase = A.getHeads(before);
		this.#unsealed++;
	}

	#queueChange(change: A.Change, decoded: A.DecodedChange): Promise<void> {
		this.#outbox.push(change);
		this.#outboxDecoded.push(decoded);
		this.#emit();
		this.#scheduleSave();
		if (!this.#flushScheduled) {
			this.#flushScheduled = true;
			this.#flushed = new Promise<void>((resolve, reject) =>
				nextTask(() => {
					this.#flushScheduled = false;
					this.#enqueue(() => this.#sealOutbox()).then(resolve, reject);
				})
			);
		}
		return this.#flushed!;
	}

	/** The segment writes go to now (undefined: the document's first, the whole document). */
	#currentSegment(): Segment | undefined {
		const id = this.options.segment?.();
		return id ? this.#segmentOf(id) : undefined;
	}

	#segmentOf(id: Uint8Array): Segment {
		const key = base58.encode(id);
		let segment = this.#segments.get(key);
		if (!segment) {
			segment = { id, heads: [], writer: this.#writerSession() };
			this.#segments.set(key, segment);
		}
		return segment;
	}

	/** A new writer session for a segment: its own Automerge actor and its own hash chain. */
	#writerSession(): SegmentWriter {
		const session = randomBytes(SESSION_BYTES);
		return {
			session,
			actor: actorFor(this.options.signer.author, session),
			seq: 0,
			prev: new Uint8Array(HASH_BYTES)
		};
	}

	/** A segment's plaintext: made from the document at its saved heads, or from the bare root. */
	#segmentDoc(segment: Segment): A.Doc<T> {
		if (!segment.doc) {
			let doc: A.Doc<unknown> | undefined;
			if (segment.heads.length)
				try {
					doc = A.clone(A.view(this.doc, segment.heads), { actor: segment.writer.actor });
				} catch {
					doc = undefined; // heads the document does not hold (a damaged store): from the root
				}
			segment.doc = doc ?? A.load<T>(this.options.root, { actor: segment.writer.actor });
		}
		return segment.doc as A.Doc<T>;
	}

	/**
	 * What this device writes on now: the current history segment's plaintext and writer session
	 * (`segment` true), or the whole document and its own session. A change of a message that lives
	 * in this plaintext goes to `change` with `{ segment: true }`.
	 */
	get writing(): { doc: A.Doc<T>; session: Uint8Array; segment: boolean } {
		const segment = this.#currentSegment();
		return segment
			? { doc: this.#segmentDoc(segment), session: segment.writer.session, segment: true }
			: { doc: this.doc, session: this.options.signer.session, segment: false };
	}

	/** Accepted entries written in a later segment join that segment's plaintext too. */
	#joinSegments(entries: Iterable<OpenedEntry>) {
		for (const entry of entries) {
			if (!entry.segment) continue;
			const segment = this.#segmentOf(base58.decode(entry.segment));
			const doc = this.#segmentDoc(segment);
			if (
				A.hasHeads(
					doc,
					entry.decoded.map((d) => d.hash!)
				)
			)
				continue;
			// (a change that depends on what was said before the cut waits there for good: it never
			// becomes what later changes of the segment are made on)
			[segment.doc] = A.applyChanges(doc, entry.changes);
		}
	}

	/** Local changes in the document not yet sealed and recorded, and the heads before the first. */
	#unsealed = 0;
	#unsealedBase: A.Heads | undefined;

	/**
	 * The document's heads without this device's changes that are not yet sealed: what an entry of
	 * another document may name as its context. The full heads would name a change no peer — and not
	 * even this device's own validator — knows yet, and the entry would wait for it ("space context
	 * not received yet"), e.g. a message sent while a profile update was still being sealed.
	 */
	get sealedHeads(): A.Heads {
		return this.#unsealed > 0 && this.#unsealedBase ? this.#unsealedBase : A.getHeads(this.doc);
	}

	#usableEpoch(): Uint8Array | undefined {
		const epoch = this.options.currentEpoch();
		return epoch && this.options.keys.get(this.options.document, epoch) ? epoch : undefined;
	}

	#takeBatch(): Batch {
		const batch = {
			changes: this.#outbox.splice(0),
			decoded: this.#outboxDecoded.splice(0),
			epoch: this.#outboxEpoch,
			segment: this.#outboxSegment,
			writer: this.#outboxWriter
		};
		this.#outboxWriter = undefined;
		this.#outboxEpoch = undefined;
		this.#outboxSegment = undefined;
		return batch;
	}

	#sealOutbox(): Promise<void> {
		return this.#sealBatch(this.#takeBatch());
	}

	async #sealBatch(batch: Batch): Promise<void> {
		const { changes } = batch;
		// nothing new: still retry what could not be published (a failure is already counted)
		if (changes.length === 0) return this.#publishOwn().catch(() => undefined);
		let sealed: ParsedEntry;
		try {
			sealed = await this.#seal(batch);
		} finally {
			// sealed and recorded, or given up on: either way no longer waited for as context
			this.#unsealed -= changes.length;
			if (this.#unsealed === 0) this.#unsealedBase = undefined;
		}
		// what the authority layer derives (roles, members, permissions) now includes the change:
		// tell subscribers again, or they keep what they read when the document changed
		this.#emit();
		this.#unpublished.push({ key: entryKey(sealed.hash), bytes: sealed.bytes });
		await this.#publishOwn();
	}

	/** Seals local changes as this device's next entry and records it as valid. */
	async #seal(batch: Batch): Promise<ParsedEntry> {
		const { changes, decoded, segment, writer } = batch;
		const epoch = batch.epoch ?? this.options.currentEpoch();
		const epochKey = epoch && this.options.keys.get(this.options.document, epoch);
		if (!epoch || !epochKey)
			throw new CharterError('unknown-epoch', 'no epoch key to write this document with');
		const { signer } = this.options;
		const context = this.options.context();
		const sealed = await sealEntry({
			space: this.options.space,
			document: this.options.document,
			epoch,
			epochKey,
			author: signer.author,
			session: writer?.session ?? signer.session,
			seq: writer ? ++writer.seq : ++this.#seq,
			prev: writer?.prev ?? this.#prev,
			body: encodeChangeBatch(
				segment ? { context, changes, segment: segment.id } : { context, changes }
			),
			sign: (m) => signer.sign(m)
		});
		if (writer) writer.prev = sealed.hash;
		else this.#prev = sealed.hash;
		const id = hex.encode(sealed.hash);
		this.#seen.add(id);
		this.#verified.add(id);
		const opened: OpenedEntry = {
			id,
			header: sealed.header,
			changes,
			decoded,
			context,
			...(segment ? { segment: base58.encode(segment.id) } : {})
		};
		this.#opened.set(id, opened);
		this.#parsed.set(id, sealed);
		this.options.validator.recordLocal(opened, this.#doc);
		return sealed;
	}

	/**
	 * Publishes this device's sealed entries not yet in the envelope. One that cannot be published
	 * now stays queued (and counted as `unpublished`) and goes out with the next write, so a message
	 * the sender sees is never silently left unsent; the write that failed rejects with the
	 * publisher's CharterError.
	 */
	async #publishOwn(): Promise<void> {
		const entries = this.#unpublished.splice(0);
		if (entries.length === 0) return;
		try {
			await this.options.wire.append(this.#current.handle, entries);
		} catch (error) {
			this.#unpublished.unshift(...entries);
			this.#drop('unpublished');
			throw error instanceof CharterError
				? error
				: new CharterError('unavailable', 'the envelope could not be written', { cause: error });
		}
	}

	/**
	 * Compacts this document's history into the envelope of history generation `generation`: every
	 * entry this device holds that was not refused, verbatim, in compressed fragments sealed under
	 * `epoch`. Resolves once the fragments are in that envelope; the caller then records the new
	 * generation (so others move on) and calls `advanceGeneration`.
	 */
	compact(input: {
		generation: number;
		epoch: Uint8Array;
	}): Promise<{ fragments: number; entries: number }> {
		return this.#enqueue(async () => {
			await this.#sealOutbox();
			const epochKey = this.options.keys.get(this.options.document, input.epoch);
			if (!epochKey) throw new CharterError('unknown-epoch', 'no key for the compaction epoch');
			const kept = new Map<string, ParsedEntry>();
			for (const [id, entry] of this.#parsed) if (!this.#rejected.has(id)) kept.set(id, entry);
			for (const [id, { entry }] of this.#pending) kept.set(id, entry);
			// one writer session's chain together, in order: compresses best and verifies in one walk
			const entries = [...kept.values()].sort(
				(a, b) =>
					compareBytes(a.header.author, b.header.author) ||
					compareBytes(a.header.session, b.header.session) ||
					a.header.seq - b.header.seq
			);
			const batches: Uint8Array[][] = [];
			let batch: Uint8Array[] = [];
			let size = 0;
			for (const entry of entries) {
				if (
					batch.length &&
					(size + entry.bytes.length > FRAGMENT_TARGET_BYTES ||
						batch.length >= MAX_FRAGMENT_ENTRIES)
				) {
					batches.push(batch);
					batch = [];
					size = 0;
				}
				batch.push(entry.bytes);
				size += entry.bytes.length;
			}
			if (batch.length) batches.push(batch);
			const handle = await this.options.wire.open(
				envelopeDocumentId(this.options.space, this.options.document, input.generation)
			);
			const { signer } = this.options;
			for (const entries of batches) {
				const fragment = await sealFragment({
					space: this.options.space,
					document: this.options.document,
					generation: input.generation,
					epoch: input.epoch,
					epochKey,
					compactor: signer.author,
					entries,
					sign: (m) => signer.sign(m)
				});
				const id = entryHash(fragment.bytes);
				this.#seen.add(hex.encode(id));
				await this.options.wire.append(handle, [{ key: entryKey(id), bytes: fragment.bytes }]);
			}
			return { fragments: batches.length, entries: entries.length };
		});
	}

	#enqueue<R>(task: () => Promise<R>): Promise<R> {
		const run = this.#queue.then(task);
		this.#queue = run.then(
			() => undefined,
			(error) => this.#drop('internal-error', error)
		);
		return run;
	}

	#drop(reason: string, _error?: unknown) {
		this.#dropped[reason] = (this.#dropped[reason] ?? 0) + 1;
	}

	async #ingest(raw: Uint8Array[]): Promise<void> {
		const fresh: ParsedEntry[] = [];
		for (const bytes of raw) {
			const hash = entryHash(bytes);
			const id = hex.encode(hash);
			if (this.#seen.has(id)) continue;
			this.#seen.add(id);
			if (isFragment(bytes)) {
				for (const inner of await this.#unpack(bytes)) {
					const innerHash = entryHash(inner);
					const innerId = hex.encode(innerHash);
					if (this.#seen.has(innerId)) continue;
					this.#seen.add(innerId);
					try {
						fresh.push(parseEntry(inner, innerHash));
					} catch (error) {
						this.#drop((error as CharterError).code ?? 'malformed');
					}
				}
			} else if (bytes.length >= 3 && bytesEqual(bytes.subarray(0, 3), ENTRY_MAGIC)) {
				try {
					fresh.push(parseEntry(bytes, hash));
				} catch (error) {
					this.#drop((error as CharterError).code ?? 'malformed');
				}
			} else if (this.options.onOtherEntry) {
				await this.options.onOtherEntry(bytes);
			} else {
				this.#drop('unexpected-entry');
			}
		}
		// A large sync is processed in slices, yielding between them: the main thread stays responsive
		// and subscribers see history arrive slice by slice instead of all at the end. A document that
		// holds nothing yet (a first read, a rebuild) is opened slice by slice too, but decided at once:
		// its changes are then loaded as one document rather than applied slice after slice
		// (ChannelValidator.#withChanges; docs/benchmarks.md).
		if (fresh.length > INGEST_SLICE && this.#bare()) {
			const opened: OpenedEntry[] = [];
			for (let i = 0; i < fresh.length; i += INGEST_SLICE) {
				if (i > 0) await yieldToEventLoop();
				opened.push(...(await this.#openEntries(fresh.slice(i, i + INGEST_SLICE))));
			}
			await this.#decide(opened);
			return;
		}
		for (let i = 0; i < fresh.length; i += INGEST_SLICE) {
			if (i > 0) await yieldToEventLoop();
			await this.#process(fresh.slice(i, i + INGEST_SLICE));
		}
	}

	/** The heads of the bare root (what a document that holds nothing yet is at). */
	#rootHeads: A.Heads | undefined;

	/** Whether the document holds nothing but its root. */
	#bare(): boolean {
		this.#rootHeads ??= A.getHeads(A.load(this.options.root));
		return sameHeads(A.getHeads(this.#doc), this.#rootHeads);
	}

	/** The sealed entries a fragment carries (none when it is damaged, foreign or not ours to read yet). */
	async #unpack(bytes: Uint8Array): Promise<Uint8Array[]> {
		let fragment: ParsedFragment;
		try {
			fragment = parseFragment(bytes);
		} catch (error) {
			this.#drop((error as CharterError).code ?? 'malformed');
			return [];
		}
		if (!bytesEqual(fragment.header.space, this.options.space))
			return (this.#drop('wrong-space'), []);
		if (!bytesEqual(fragment.header.document, this.options.document))
			return (this.#drop('wrong-document'), []);
		if (!(await verifyFragmentSignature(fragment))) return (this.#drop('bad-signature'), []);
		const key = this.options.keys.get(this.options.document, fragment.header.epoch);
		if (!key) {
			this.#pendingFragments.set(hex.encode(entryHash(bytes)), fragment);
			return [];
		}
		return this.#open(fragment, key);
	}

	async #open(fragment: ParsedFragment, key: Uint8Array): Promise<Uint8Array[]> {
		try {
			return await openFragment(fragment, key);
		} catch (error) {
			this.#drop((error as CharterError).code ?? 'malformed');
			return [];
		}
	}

	async #process(entries: ParsedEntry[]): Promise<void> {
		await this.#decide(await this.#openEntries(entries));
	}

	/**
	 * Checks entries (space, document, signature) and decrypts those whose key this device holds:
	 * the ones to decide on, with any this replica opened before and not yet decided.
	 */
	async #openEntries(entries: ParsedEntry[]): Promise<OpenedEntry[]> {
		const { space, document } = this.options;
		const checked: ParsedEntry[] = [];
		for (const entry of entries) {
			if (!bytesEqual(entry.header.space, space)) this.#drop('wrong-space');
			else if (!bytesEqual(entry.header.document, document)) this.#drop('wrong-document');
			else checked.push(entry);
		}
		await this.#verifySignatures(checked.filter((e) => !this.#verified.has(hex.encode(e.hash))));
		const verified = checked.filter((entry) => {
			if (this.#verified.has(hex.encode(entry.hash))) return true;
			this.#drop('bad-signature');
			return false;
		});
		const fresh: OpenedEntry[] = [];
		for (const entry of verified) {
			const id = hex.encode(entry.hash);
			if (this.#opened.has(id)) {
				fresh.push(this.#opened.get(id)!);
				continue;
			}
			const key = this.options.keys.get(document, entry.header.epoch);
			if (!key) {
				this.#pending.set(id, { entry, reason: 'unknown-epoch' });
				continue;
			}
			try {
				const { context, changes, segment } = decodeChangeBatch(decryptEntry(entry, key));
				const opened: OpenedEntry = {
					id,
					header: entry.header,
					changes,
					context,
					decoded: changes.map((c) => A.decodeChange(c)),
					...(segment ? { segment: base58.encode(segment) } : {})
				};
				if (segment) this.#segmentsSeen = true;
				this.#opened.set(id, opened);
				this.#parsed.set(id, entry);
				// every change the document holds was accepted here before: a reader meeting history
				// again (a device reopened after a compaction reads the fragments from the start) need
				// not decide it twice
				if (
					A.hasHeads(
						this.#doc,
						opened.decoded.map((d) => d.hash!)
					)
				) {
					this.#pending.delete(id);
					continue;
				}
				this.#pending.set(id, { entry, reason: 'undecided' });
				fresh.push(opened);
			} catch (error) {
				const reason = (error as CharterError).code ?? 'malformed-change';
				this.#pending.delete(id);
				this.#rejected.set(id, { entry, reason });
				this.#drop(reason);
			}
		}
		return fresh;
	}

	/** Decides on opened entries (and those still waiting), and shows the document that results. */
	async #decide(fresh: OpenedEntry[]): Promise<void> {
		if (fresh.length === 0) return;
		// entries still waiting on a dependency or the space get another chance with the new ones
		const freshIds = new Set(fresh.map((e) => e.id));
		for (const id of this.#pending.keys()) {
			const opened = this.#opened.get(id);
			if (opened && !freshIds.has(id)) fresh.push(opened);
		}
		const result = await this.#evaluate(fresh);
		if (!result) return;
		for (const [id, reason] of result.invalid) {
			this.#pending.delete(id);
			const entry = this.#parsed.get(id);
			if (!entry) continue;
			if (!this.#rejected.has(id)) this.#drop(reason);
			this.#rejected.set(id, { entry, reason });
		}
		// An entry refused before may be valid after a recomputation (its remover was overruled).
		for (const id of [...this.#rejected.keys()])
			if (
				this.#opened.has(id) &&
				!result.invalid.has(id) &&
				!result.waiting.has(id) &&
				result.recomputed
			)
				this.#rejected.delete(id);
		for (const [id, reason] of result.waiting) {
			const p = this.#pending.get(id);
			if (p) p.reason = reason;
		}
		const decided = result.recomputed ? [...this.#opened.keys()] : fresh.map((e) => e.id);
		const segmented: OpenedEntry[] = [];
		for (const id of decided)
			if (!result.invalid.has(id) && !result.waiting.has(id)) {
				this.#pending.delete(id);
				// (a document with one segment pays nothing more per entry)
				const opened = this.#segmentsSeen ? this.#opened.get(id) : undefined;
				if (opened?.segment) segmented.push(opened);
			}
		if (segmented.length) this.#joinSegments(segmented);
		const before = A.getHeads(this.#doc);
		this.#doc = result.doc;
		// (during a rebuild, local changes go onto the new document once it is complete)
		if (result.recomputed && !this.#shown) this.#reapplyOutbox();
		// a rebuild announces its document once, complete
		if (!this.#shown && !sameHeads(before, A.getHeads(this.#doc))) {
			this.#emit();
			this.#scheduleSave();
		}
	}

	/** Local changes not yet sealed, applied to a document decided again (recomputed or rebuilt). */
	#reapplyOutbox() {
		if (this.#outbox.length === 0) return;
		try {
			[this.#doc] = A.applyChanges(
				A.clone(this.#doc, { actor: this.options.signer.actor }),
				this.#outbox
			);
		} catch {
			// local changes made on what is no longer valid: they go out sealed and are decided there
			this.#drop('outbox-not-reapplied');
		}
	}

	/**
	 * The validator's decision on a batch, isolated from the rest of the replica: whatever an entry
	 * holds, a failure is counted and never poisons later batches. A validator that asks for a
	 * rebuild (an equivocation seen late; changes Automerge refused) gets one, from every entry, by
	 * its successor; one that throws gets a rebuild too (the document it was handed may be spoilt),
	 * at most a few times in a row, and meanwhile the batch waits.
	 */
	async #evaluate(fresh: OpenedEntry[]): Promise<ValidationResult<T> | undefined> {
		const validator = this.options.validator;
		let result: ValidationResult<T>;
		try {
			result = await validator.evaluate(this.#opened, fresh, this.#doc);
		} catch (error) {
			this.#drop('internal-error', error);
			if (validator.successor && this.#failedRebuilds++ < MAX_FAILED_REBUILDS)
				void this.rebuild({ validator: validator.successor() }).catch(() => undefined);
			return undefined;
		}
		this.#failedRebuilds = 0;
		if (result.rebuild && validator.successor)
			void this.rebuild({ validator: validator.successor() }).catch(() => undefined);
		return result;
	}

	/**
	 * Marks as verified every entry whose signature holds. A writer session's entries form a hash
	 * chain (each signed header names the hash of the session's previous entry), so a run of one
	 * session costs one signature check — its newest entry's — plus a hash per entry; whatever a
	 * verified successor does not vouch for is checked on its own.
	 */
	async #verifySignatures(entries: ParsedEntry[]): Promise<void> {
		if (entries.length === 0) return;
		const byHash = new Map(entries.map((e) => [hex.encode(e.hash), e]));
		const predecessor = (entry: ParsedEntry): ParsedEntry | undefined => {
			const before = byHash.get(hex.encode(entry.header.prev));
			return before &&
				before.header.seq === entry.header.seq - 1 &&
				bytesEqual(before.header.author, entry.header.author) &&
				bytesEqual(before.header.session, entry.header.session)
				? before
				: undefined;
		};
		const vouchedFor = new Set<ParsedEntry>();
		for (const entry of entries) {
			const before = predecessor(entry);
			if (before) vouchedFor.add(before);
		}
		const check = async (candidates: ParsedEntry[]) => {
			const results = await Promise.all(candidates.map((e) => verifyEntrySignature(e)));
			return candidates.filter((_, i) => results[i]);
		};
		for (const tail of await check(entries.filter((e) => !vouchedFor.has(e)))) {
			for (let entry: ParsedEntry | undefined = tail; entry; entry = predecessor(entry)) {
				const id = hex.encode(entry.hash);
				if (this.#verified.has(id) && entry !== tail) break;
				this.#verified.add(id);
			}
		}
		// links a failed or forged successor claimed: each entry answers for itself
		const rest = entries.filter((e) => !this.#verified.has(hex.encode(e.hash)));
		for (const entry of await check(rest)) this.#verified.add(hex.encode(entry.hash));
	}

	#emit() {
		for (const listener of this.#listeners) {
			try {
				listener(this.doc);
			} catch {
				/* a subscriber's bug must not break replication */
			}
		}
	}

	#scheduleSave() {
		if (!this.options.local || this.#saveTimer) return;
		this.#saveTimer = setTimeout(() => {
			this.#saveTimer = undefined;
			void this.save();
		}, SAVE_DEBOUNCE_MS);
	}

	/** Persists the plaintext document and the waiting/refused entries to the local store. */
	async save(): Promise<void> {
		// mid-rebuild the waiting and refused entries are half re-decided: the rebuild saves at its end
		if (!this.options.local || !this.#chunks || this.#shown) return;
		// the document first: metadata that names heads the store does not hold would be worse
		// than a document that is ahead of its metadata (its entries are then read again, and
		// skipped as already held). Both are taken now, at one moment, and the envelope heads are
		// those up to which entries were ingested, not the reader's: heads scanned but not yet
		// ingested (or scanned while the document was being written) would name entries the stored
		// document lacks, and a reload before the next save would never read them again.
		const doc = this.#doc;
		const saved: SavedReplica = {
			v: 4,
			generations: Object.fromEntries(
				[...this.#generations.values()].map((g) => [g.number, g.ingested])
			),
			pending: [...this.#pending.values()].map((p) => p.entry.bytes),
			rejected: [...this.#rejected.values()].map((r) => ({
				entry: r.entry.bytes,
				reason: r.reason
			})),
			...(this.#segments.size
				? {
						segments: Object.fromEntries(
							[...this.#segments].map(([id, seg]) => [
								id,
								seg.doc ? A.getHeads(seg.doc) : seg.heads
							])
						)
					}
				: {})
		};
		await this.#chunks.save(doc);
		await this.options.local.save(this.#storageKey, cbor.encode(saved));
	}

	async close(): Promise<void> {
		if (this.#closed) return;
		await this.#flushed?.catch(() => undefined);
		this.#closed = true;
		for (const generation of this.#generations.values()) generation.reader.stop();
		await this.settled();
		if (this.#saveTimer) clearTimeout(this.#saveTimer);
		this.#saveTimer = undefined;
		await this.save();
		this.#listeners.clear();
	}
}

function replicaKey(options: { space: Uint8Array; document: Uint8Array }): string[] {
	return ['replica', base58.encode(options.space), base58.encode(options.document)];
}

/**
 * A document in a storage adapter as one snapshot and the changes saved since, each in its own
 * chunk — automerge-repo's layout. Saving writes only what changed since the last save; once the
 * chunks written since the snapshot outweigh it, the next save writes a new snapshot and removes
 * them. Loading reads the snapshot and then each chunk in turn (not concatenated: see
 * `compactStored` in envelope.ts). Chunk names are hashes of their contents, so writing one twice
 * is harmless, and a crash between writing a snapshot and removing the chunks it replaces leaves a
 * store that still loads to the same document.
 */
export class DocumentChunks {
	#heads: A.Heads | undefined;
	#snapshotKey: string[] | undefined;
	#snapshotBytes = 0;
	#incremental: { key: string[]; bytes: number }[] = [];
	#saving: Promise<void> = Promise.resolve();

	constructor(
		private readonly storage: StorageAdapterInterface,
		private readonly prefix: string[]
	) {}

	async load<T>(actor: string): Promise<A.Doc<T> | undefined> {
		const snapshots = await this.storage.loadRange([...this.prefix, 'snapshot']);
		const incremental = await this.storage.loadRange([...this.prefix, 'incremental']);
		let doc: A.Doc<T> | undefined;
		for (const chunk of [...snapshots, ...incremental]) {
			if (!chunk.data) continue;
			doc = doc ? A.loadIncremental(doc, chunk.data) : A.load<T>(chunk.data, { actor });
		}
		if (!doc) return undefined;
		// what is stored now counts as saved; several snapshots (a crash mid-compaction) count as chunks
		this.#heads = A.getHeads(doc);
		const [first, ...rest] = [...snapshots, ...incremental].filter((c) => c.data);
		this.#snapshotKey = first?.key;
		this.#snapshotBytes = first?.data?.length ?? 0;
		this.#incremental = rest.map((c) => ({ key: c.key, bytes: c.data!.length }));
		return doc;
	}

	save(doc: A.Doc<unknown>): Promise<void> {
		const run = this.#saving.then(() => this.#save(doc));
		this.#saving = run.catch(() => undefined);
		return run;
	}

	async #save(doc: A.Doc<unknown>): Promise<void> {
		const heads = A.getHeads(doc);
		if (this.#heads && sameHeads(heads, this.#heads)) return;
		const pending = this.#incremental.reduce((n, c) => n + c.bytes, 0);
		// a document rebuilt from the valid set (a change turned out invalid) no longer holds what
		// was saved: its stored chunks must not come back, so it is written whole
		const descends = !!this.#heads && A.hasHeads(doc, this.#heads);
		if (!descends || !this.#snapshotKey || pending > this.#snapshotBytes) {
			const bytes = A.save(doc);
			const key = [...this.prefix, 'snapshot', chunkName(bytes)];
			await this.storage.save(key, bytes);
			const replaced = [this.#snapshotKey, ...this.#incremental.map((c) => c.key)];
			for (const old of replaced)
				if (old && old.join('/') !== key.join('/')) await this.storage.remove(old);
			this.#snapshotKey = key;
			this.#snapshotBytes = bytes.length;
			this.#incremental = [];
		} else {
			const bytes = A.saveSince(doc, this.#heads!);
			const key = [...this.prefix, 'incremental', chunkName(bytes)];
			await this.storage.save(key, bytes);
			this.#incremental.push({ key, bytes: bytes.length });
		}
		this.#heads = heads;
	}
}

function chunkName(bytes: Uint8Array): string {
	return hex.encode(hash(bytes).subarray(0, 16));
}
