/**
 * A replica of one plaintext document of a space on this device, fed by its envelope document.
 *
 *   wire → verify → open → authorise → materialise      (incoming)
 *   change → seal → append to envelope                  (local; authorised by the caller first)
 *
 * The plaintext document lives only here and in the never-networked local store. Entries that cannot
 * be accepted yet (no key, unknown device, missing dependencies) wait and are retried; entries that
 * fail for good are kept with their reason for audit and never materialised. Nothing here throws at
 * the network: failures are counted in `stats.dropped`.
 */
import * as A from '@automerge/automerge';
import { cbor, type DocHandle, type Repo, type StorageAdapterInterface } from '@automerge/automerge-repo';
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
import type { KeyRing } from '../encryption/keyring.js';
import type { Verdict } from '../authority/verdict.js';
import { base58, bytesEqual, hex } from '../util/bytes.js';
import { decodeChangeBatch, encodeChangeBatch } from './body.js';
import { appendEntries, EnvelopeReader, envelopeDocumentId, openEnvelope, type EnvelopeDoc } from './envelope.js';

export interface ReplicaSigner {
	author: Uint8Array;
	session: Uint8Array;
	actor: string;
	sign(message: Uint8Array): Promise<Uint8Array>;
}

export interface ReplicaOptions {
	space: Uint8Array;
	document: Uint8Array;
	wire: Repo;
	local?: StorageAdapterInterface;
	/** Saved deterministic root of this document type. */
	root: Uint8Array;
	keys: KeyRing;
	signer: ReplicaSigner;
	authorize(header: EntryHeader, changes: A.DecodedChange[]): Verdict;
	/** The epoch local changes are sealed under. */
	currentEpoch(): Uint8Array | undefined;
	/** Envelope entries that are not sealed change batches (lockboxes, genesis). */
	onOtherEntry?(bytes: Uint8Array): Promise<void>;
}

export interface ReplicaStats {
	accepted: number;
	pending: number;
	rejected: number;
	dropped: Record<string, number>;
}

interface SavedReplica {
	v: 1;
	doc: Uint8Array;
	heads: string[];
	pending: Uint8Array[];
	rejected: { entry: Uint8Array; reason: string }[];
}

const SAVE_DEBOUNCE_MS = 150;

export class DocumentReplica<T> {
	#doc: A.Doc<T>;
	#reader!: EnvelopeReader;
	#handle!: DocHandle<EnvelopeDoc>;
	#queue: Promise<void> = Promise.resolve();
	#seen = new Set<string>();
	#verified = new Set<string>();
	#pending = new Map<string, { entry: ParsedEntry; reason: string }>();
	#rejected = new Map<string, { entry: ParsedEntry; reason: string }>();
	#dropped: Record<string, number> = {};
	#accepted = 0;
	#listeners = new Set<(doc: A.Doc<T>) => void>();
	#outbox: A.Change[] = [];
	#flushing: Promise<void> | undefined;
	#seq = 0;
	#prev: Uint8Array = new Uint8Array(HASH_BYTES);
	#saveTimer: ReturnType<typeof setTimeout> | undefined;
	#closed = false;
	readonly #storageKey: string[];

	private constructor(
		private readonly options: ReplicaOptions,
		doc: A.Doc<T>
	) {
		this.#doc = doc;
		this.#storageKey = ['replica', base58.encode(options.space), base58.encode(options.document)];
	}

	static async open<T>(options: ReplicaOptions): Promise<DocumentReplica<T>> {
		const key = ['replica', base58.encode(options.space), base58.encode(options.document)];
		const savedBytes = options.local ? await options.local.load(key) : undefined;
		let saved: SavedReplica | undefined;
		if (savedBytes) {
			try {
				saved = cbor.decode(savedBytes) as SavedReplica;
			} catch {
				saved = undefined;
			}
		}
		const doc = A.load<T>(saved?.doc ?? options.root, { actor: options.signer.actor });
		const replica = new DocumentReplica<T>(options, doc);
		replica.#handle = await openEnvelope(options.wire, envelopeDocumentId(options.space, options.document));
		for (const r of saved?.rejected ?? []) {
			try {
				const entry = parseEntry(r.entry);
				replica.#rejected.set(hex.encode(entry.hash), { entry, reason: r.reason });
				replica.#seen.add(hex.encode(entry.hash));
			} catch {
				/* a corrupt audit record is not worth failing the replica for */
			}
		}
		replica.#reader = new EnvelopeReader(replica.#handle, saved?.heads ?? [], (entries) =>
			replica.#enqueue(() => replica.#ingest(entries))
		);
		if (saved?.pending.length) replica.#enqueue(() => replica.#ingest(saved.pending, true));
		replica.#reader.scan();
		await replica.#queue;
		return replica;
	}

	get doc(): A.Doc<T> {
		return this.#doc;
	}

	get envelope(): DocHandle<EnvelopeDoc> {
		return this.#handle;
	}

	get stats(): ReplicaStats {
		return {
			accepted: this.#accepted,
			pending: this.#pending.size,
			rejected: this.#rejected.size,
			dropped: { ...this.#dropped }
		};
	}

	/** Reasons of entries kept but not materialised, for audit and diagnostics. */
	get rejections(): { entry: string; reason: string }[] {
		return [...this.#rejected.entries()].map(([entry, r]) => ({ entry, reason: r.reason }));
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
			if (this.#pending.size === 0) return;
			await this.#process([...this.#pending.values()].map((p) => p.entry));
		});
	}

	/**
	 * Applies a local change and seals it, batched with every other change of the same tick into one
	 * entry. The caller has authorised it, and made sure an epoch key will be current when the batch is
	 * sealed (the change may itself name that epoch). Resolves when the entry is in the envelope.
	 */
	change(fn: A.ChangeFn<T>): Promise<void> {
		if (this.#closed) return Promise.reject(new CharterError('closed', 'this replica is closed'));
		const before = A.getHeads(this.#doc);
		this.#doc = A.change(this.#doc, fn);
		const change = A.getLastLocalChange(this.#doc);
		if (!change || sameHeads(before, A.getHeads(this.#doc))) return Promise.resolve();
		this.#outbox.push(change);
		this.#emit();
		this.#scheduleSave();
		this.#flushing ??= new Promise<void>((resolve, reject) => {
			setTimeout(() => {
				this.#flushing = undefined;
				this.#sealOutbox().then(resolve, reject);
			}, 0);
		});
		return this.#flushing;
	}

	async #sealOutbox(): Promise<void> {
		const changes = this.#outbox.splice(0);
		if (changes.length === 0) return;
		const epoch = this.options.currentEpoch();
		const epochKey = epoch && this.options.keys.get(this.options.document, epoch);
		if (!epoch || !epochKey) throw new CharterError('unknown-epoch', 'no epoch key to write this document with');
		const { signer } = this.options;
		const entry = await sealEntry({
			space: this.options.space,
			document: this.options.document,
			epoch,
			epochKey,
			author: signer.author,
			session: signer.session,
			seq: ++this.#seq,
			prev: this.#prev,
			body: encodeChangeBatch(changes),
			sign: (m) => signer.sign(m)
		});
		this.#prev = entry.hash;
		const id = hex.encode(entry.hash);
		this.#seen.add(id);
		this.#verified.add(id);
		this.#accepted++;
		appendEntries(this.#handle, [{ key: entryKey(entry.hash), bytes: entry.bytes }]);
	}

	#enqueue(task: () => Promise<void>): Promise<void> {
		const run = this.#queue.then(task).catch((error) => this.#drop('internal-error', error));
		this.#queue = run;
		return run;
	}

	#drop(reason: string, _error?: unknown) {
		this.#dropped[reason] = (this.#dropped[reason] ?? 0) + 1;
	}

	async #ingest(raw: Uint8Array[], fromSavedPending = false): Promise<void> {
		const fresh: ParsedEntry[] = [];
		for (const bytes of raw) {
			const id = hex.encode(entryHash(bytes));
			if (this.#seen.has(id) && !fromSavedPending) continue;
			this.#seen.add(id);
			if (bytes.length >= 3 && bytesEqual(bytes.subarray(0, 3), ENTRY_MAGIC)) {
				try {
					fresh.push(parseEntry(bytes));
				} catch (error) {
					this.#drop((error as CharterError).code ?? 'malformed');
				}
			} else if (this.options.onOtherEntry) {
				await this.options.onOtherEntry(bytes);
			} else {
				this.#drop('unexpected-entry');
			}
		}
		if (fresh.length) await this.#process(fresh);
	}

	async #process(entries: ParsedEntry[]): Promise<void> {
		const { space, document } = this.options;
		const checked = await Promise.all(
			entries.map(async (entry) => {
				const id = hex.encode(entry.hash);
				if (!bytesEqual(entry.header.space, space)) return this.#drop('wrong-space');
				if (!bytesEqual(entry.header.document, document)) return this.#drop('wrong-document');
				if (!this.#verified.has(id)) {
					if (!(await verifyEntrySignature(entry))) return this.#drop('bad-signature');
					this.#verified.add(id);
				}
				return entry;
			})
		);
		const accepted: { id: string; entry: ParsedEntry; hashes: string[] }[] = [];
		const changes: A.Change[] = [];
		for (const entry of checked) {
			if (!entry) continue;
			const id = hex.encode(entry.hash);
			const key = this.options.keys.get(document, entry.header.epoch);
			if (!key) {
				this.#pending.set(id, { entry, reason: 'unknown-epoch' });
				continue;
			}
			let batch: Uint8Array[];
			let decoded: A.DecodedChange[];
			try {
				batch = decodeChangeBatch(decryptEntry(entry, key));
				decoded = batch.map((c) => A.decodeChange(c));
			} catch (error) {
				this.#pending.delete(id);
				this.#rejected.set(id, { entry, reason: (error as CharterError).code ?? 'malformed-change' });
				this.#drop((error as CharterError).code ?? 'malformed-change');
				continue;
			}
			const verdict = this.options.authorize(entry.header, decoded);
			if (verdict.valid) {
				accepted.push({ id, entry, hashes: decoded.map((d) => d.hash) });
				changes.push(...batch);
			} else if (verdict.final) {
				this.#pending.delete(id);
				this.#rejected.set(id, { entry, reason: verdict.reason });
				this.#drop(verdict.reason);
			} else {
				this.#pending.set(id, { entry, reason: verdict.reason });
			}
		}
		if (changes.length === 0) return;
		const before = A.getHeads(this.#doc);
		try {
			[this.#doc] = A.applyChanges(this.#doc, changes);
		} catch (error) {
			// One undecodable change must not sink the batch: fall back to one entry at a time.
			for (const a of accepted) this.#pending.set(a.id, { entry: a.entry, reason: 'retry-single' });
			return this.#applyOneByOne(accepted);
		}
		let progressed = false;
		for (const a of accepted) {
			if (A.hasHeads(this.#doc, a.hashes)) {
				this.#pending.delete(a.id);
				this.#accepted++;
				progressed = true;
			} else {
				this.#pending.set(a.id, { entry: a.entry, reason: 'missing-dependencies' });
			}
		}
		if (!sameHeads(before, A.getHeads(this.#doc))) {
			this.#emit();
			this.#scheduleSave();
		}
		// Entries that waited on dependencies may apply now.
		const waiting = [...this.#pending.values()].filter((p) => p.reason === 'missing-dependencies');
		if (progressed && waiting.length) await this.#process(waiting.map((p) => p.entry));
	}

	async #applyOneByOne(accepted: { id: string; entry: ParsedEntry; hashes: string[] }[]) {
		for (const a of accepted) {
			const key = this.options.keys.get(this.options.document, a.entry.header.epoch)!;
			try {
				const batch = decodeChangeBatch(decryptEntry(a.entry, key));
				[this.#doc] = A.applyChanges(this.#doc, batch);
				this.#pending.delete(a.id);
				this.#accepted++;
			} catch {
				this.#pending.delete(a.id);
				this.#rejected.set(a.id, { entry: a.entry, reason: 'malformed-change' });
				this.#drop('malformed-change');
			}
		}
		this.#emit();
		this.#scheduleSave();
	}

	#emit() {
		for (const listener of this.#listeners) {
			try {
				listener(this.#doc);
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

	/** Persists the plaintext document and the waiting/rejected entries to the local store. */
	async save(): Promise<void> {
		if (!this.options.local) return;
		const saved: SavedReplica = {
			v: 1,
			doc: A.save(this.#doc),
			heads: this.#reader.heads,
			pending: [...this.#pending.values()].map((p) => p.entry.bytes),
			rejected: [...this.#rejected.values()].map((r) => ({ entry: r.entry.bytes, reason: r.reason }))
		};
		await this.options.local.save(this.#storageKey, cbor.encode(saved));
	}

	async close(): Promise<void> {
		if (this.#closed) return;
		await this.#flushing?.catch(() => undefined);
		this.#closed = true;
		this.#reader.stop();
		await this.settled();
		if (this.#saveTimer) clearTimeout(this.#saveTimer);
		this.#saveTimer = undefined;
		await this.save();
		this.#listeners.clear();
	}
}

function sameHeads(a: A.Heads, b: A.Heads): boolean {
	if (a.length !== b.length) return false;
	const set = new Set(a);
	return b.every((h) => set.has(h));
}
