/**
 * The account document: the user's own list of spaces, so a device restored from the recovery
 * phrase (or newly linked) finds every space again. It travels like any envelope document — sealed
 * entries in a deterministic automerge-repo document — but its key is derived from the identity
 * seed, so only the user's own devices can read or write it, and AEAD authenticates every entry.
 *
 *   account id  = SHA-256(DOMAIN.account ‖ identity public key)[0..16]  (the entry's "space id")
 *   account key = HKDF(identity seed, account id, "charter/v1/kdf/account"); epoch id = H(key)
 *   body        = JSON { spaces: [{ id, at, left? }] } — entries accumulate; the latest record per space wins
 */
import * as A from '@automerge/automerge';
import type { Repo } from '@automerge/automerge-repo';
import { DOMAIN } from '../crypto/domains.js';
import { hash } from '../crypto/primitives.js';
import {
	decryptEntry,
	entryKey,
	HASH_BYTES,
	parseEntry,
	sealEntry,
	verifyEntrySignature
} from '../encryption/entry.js';
import { epochIdOf } from '../encryption/keyring.js';
import {
	LOCKBOX_MAGIC,
	parseLockbox,
	sealLockbox,
	type ParsedLockbox
} from '../encryption/lockbox.js';
import { ID_BYTES, isSpaceId, type SpaceId } from '../identity/ids.js';
import { bytesEqual, randomBytes, utf8 } from '../util/bytes.js';
import {
	appendEntries,
	bytesWrittenBy,
	envelopeDocumentId,
	EnvelopeReader,
	openEnvelope,
	type EnvelopeDoc
} from './envelope.js';
import type { DocHandle } from '@automerge/automerge-repo';

export interface SpaceRecord {
	id: SpaceId;
	at: number;
	left?: boolean;
}

export interface AccountKeys {
	userKey: Uint8Array;
	deviceKey: Uint8Array;
	accountKey: Uint8Array;
	sign(message: Uint8Array): Promise<Uint8Array>;
}

export class AccountDocument {
	#records = new Map<SpaceId, SpaceRecord>();
	#listeners = new Set<() => void>();
	#shareListeners = new Set<(lockbox: ParsedLockbox) => void | Promise<void>>();
	#seenShares = new Set<string>();
	#reader: EnvelopeReader;
	readonly #account: Uint8Array;
	readonly #epoch: Uint8Array;
	#session = randomBytes(8);
	#seq = 0;
	#prev: Uint8Array = new Uint8Array(HASH_BYTES);
	#queue: Promise<void> = Promise.resolve();

	private constructor(
		private readonly keys: AccountKeys,
		private readonly handle: DocHandle<EnvelopeDoc>
	) {
		this.#account = accountIdOf(keys.userKey);
		this.#epoch = epochIdOf(keys.accountKey);
		this.#reader = new EnvelopeReader(handle, [], (entries) => {
			this.#queue = this.#queue.then(() => this.#ingest(entries));
		});
	}

	static async open(repo: Repo, keys: AccountKeys): Promise<AccountDocument> {
		const account = accountIdOf(keys.userKey);
		const handle = await openEnvelope(repo, envelopeDocumentId(account, new Uint8Array(ID_BYTES)));
		const doc = new AccountDocument(keys, handle);
		await doc.#ingest(bytesWrittenBy(A.getAllChanges(handle.doc())));
		doc.#reader.scan();
		return doc;
	}

	/** The envelope this account travels in (to ask what peers hold of it). */
	get envelope(): DocHandle<EnvelopeDoc> {
		return this.handle;
	}

	get spaces(): SpaceId[] {
		return [...this.#records.values()].filter((r) => !r.left).map((r) => r.id);
	}

	onChange(listener: () => void): () => void {
		this.#listeners.add(listener);
		return () => this.#listeners.delete(listener);
	}

	async record(id: SpaceId, left = false): Promise<void> {
		const current = this.#records.get(id);
		if (current && !!current.left === left) return;
		const record: SpaceRecord = { id, at: Date.now(), ...(left ? { left } : {}) };
		const sealed = await sealEntry({
			space: this.#account,
			document: new Uint8Array(ID_BYTES),
			epoch: this.#epoch,
			epochKey: this.keys.accountKey,
			author: this.keys.deviceKey,
			session: this.#session,
			seq: ++this.#seq,
			prev: this.#prev,
			body: utf8.encode(JSON.stringify({ spaces: [record] })),
			sign: (m) => this.keys.sign(m)
		});
		this.#prev = sealed.hash;
		this.#apply([record]);
		await appendEntries(this.handle, [{ key: entryKey(sealed.hash), bytes: sealed.bytes }]);
	}

	/** Encryption-key generations sealed to this user's devices or recovery key (after a revocation). */
	onKeyShare(listener: (lockbox: ParsedLockbox) => void | Promise<void>): () => void {
		this.#shareListeners.add(listener);
		return () => this.#shareListeners.delete(listener);
	}

	get keyShares(): ParsedLockbox[] {
		return this.#shares;
	}

	#shares: ParsedLockbox[] = [];

	/** Seals a new encryption-key generation to each recipient key (devices, recovery). */
	async shareGeneration(
		generation: number,
		secret: Uint8Array,
		recipients: Uint8Array[]
	): Promise<void> {
		const lockboxes = await Promise.all(
			recipients.map((recipient) =>
				sealLockbox({
					space: this.#account,
					document: generationDocument(generation),
					epoch: epochIdOf(secret),
					epochKey: secret,
					recipient,
					author: this.keys.deviceKey,
					sign: (m) => this.keys.sign(m)
				})
			)
		);
		await appendEntries(
			this.handle,
			lockboxes.map((l) => ({ key: entryKey(hash(l.bytes)), bytes: l.bytes }))
		);
	}

	async #ingest(entries: Uint8Array[]): Promise<void> {
		const records: SpaceRecord[] = [];
		for (const bytes of entries) {
			if (bytesEqual(bytes.subarray(0, 3), LOCKBOX_MAGIC)) {
				try {
					const lockbox = parseLockbox(bytes);
					const id = Array.from(hash(bytes).subarray(0, 8)).join(',');
					if (!bytesEqual(lockbox.header.space, this.#account) || this.#seenShares.has(id))
						continue;
					this.#seenShares.add(id);
					this.#shares.push(lockbox);
					for (const l of this.#shareListeners) await l(lockbox);
				} catch {
					/* junk */
				}
				continue;
			}
			try {
				const entry = parseEntry(bytes);
				if (
					!bytesEqual(entry.header.space, this.#account) ||
					!bytesEqual(entry.header.epoch, this.#epoch)
				)
					continue;
				if (!(await verifyEntrySignature(entry))) continue;
				const body = JSON.parse(utf8.decode(decryptEntry(entry, this.keys.accountKey))) as {
					spaces?: unknown;
				};
				for (const r of Array.isArray(body.spaces) ? body.spaces : [])
					if (r && isSpaceId(r.id) && typeof r.at === 'number')
						records.push({ id: r.id, at: r.at, ...(r.left === true ? { left: true } : {}) });
			} catch {
				/* not ours, or junk: ignored */
			}
		}
		this.#apply(records);
	}

	#apply(records: SpaceRecord[]) {
		let changed = false;
		for (const r of records) {
			const current = this.#records.get(r.id);
			if (!current || r.at > current.at || (r.at === current.at && r.left && !current.left)) {
				this.#records.set(r.id, r);
				changed = true;
			}
		}
		if (changed) for (const l of this.#listeners) l();
	}

	async settled(): Promise<void> {
		await this.#queue;
	}

	stop(): void {
		this.#reader.stop();
	}
}

export function accountIdOf(userKey: Uint8Array): Uint8Array {
	return hash(DOMAIN.account, userKey).subarray(0, ID_BYTES);
}

/** The generation number travels in the lockbox's document field: u32 big-endian, then zeros. */
export function generationDocument(generation: number): Uint8Array {
	const out = new Uint8Array(ID_BYTES);
	new DataView(out.buffer).setUint32(0, generation, false);
	return out;
}

export function generationOf(document: Uint8Array): number {
	return new DataView(document.buffer, document.byteOffset, document.byteLength).getUint32(
		0,
		false
	);
}
