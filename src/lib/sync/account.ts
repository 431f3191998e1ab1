/**
 * The account document: the user's own list of spaces, so a device restored from the recovery
 * phrase (or newly linked) finds every space again. It travels like any envelope document — sealed
 * entries in a deterministic automerge-repo document — but its key is derived from the identity
 * seed, so only the user's own devices can read or write it, and AEAD authenticates every entry.
 *
 *   account id  = SHA-256(DOMAIN.account ‖ identity public key)[0..16]  (the entry's "space id")
 *   account key = HKDF(identity seed, account id, "charter/v1/kdf/account"); epoch id = H(key)
 *   body        = JSON { spaces: [{ id, at, left? }], devices?: [{ device, name, at }],
 *                 friendRecovery?: { setup, recoveryPublic, friends, threshold, at },
 *                 read?: [{ channel, message, at }], notify?: [{ target, level, at }],
 *                 presence?: { share, at } } — entries accumulate; the latest record per space
 *                 wins, the latest name per device, the latest friend-recovery setup, the furthest
 *                 read marker per channel, the latest notification level per space or channel, the
 *                 latest presence setting (equal times: not sharing)
 *   (lockboxes in this envelope: encryption-key generations sealed to the user's devices, and
 *   friend-recovery shares sealed to friends — see identity/friend-recovery.ts; told apart by their
 *   document field; and rotation hand-overs sealed to the devices a rotation kept — see
 *   identity/rotation-follow.ts)
 *   (device names are the user's own labels, seen only by their devices — not signed certificates)
 *   (read markers and notification levels, too, are seen only by the user's devices: no co-member,
 *   relay or sync server learns which channels the user read, how far, or muted)
 */
import * as A from '@automerge/automerge';
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
import { ID_BYTES, isSpaceId, type ChannelId, type SpaceId, type UserId } from '../identity/ids.js';
import { parseShareDocument, MAX_RECOVERY_FRIENDS } from '../identity/friend-recovery.js';
import { isFollow, MAX_FOLLOW_BYTES } from '../identity/rotation-follow.js';
import { base64url, bytesEqual, hex, randomBytes, utf8 } from '../util/bytes.js';
import {
	bytesWrittenBy,
	envelopeDocumentId,
	type EnvelopeDoc,
	type EnvelopeReader
} from './envelope.js';
import type { Wire } from './wire.js';
import type { DocHandle } from '@automerge/automerge-repo';

export interface SpaceRecord {
	id: SpaceId;
	at: number;
	left?: boolean;
}

/** A name the user gave one of their devices. */
export interface DeviceNameRecord {
	device: string;
	name: string;
	at: number;
}

/** The user's current friend-recovery setup (friends and threshold; the key itself is split). */
export interface FriendRecoveryRecord {
	/** base58 setup id. */
	setup: string;
	/** Later encryption-key generations are sealed to it too. */
	recoveryPublic: Uint8Array;
	friends: UserId[];
	threshold: number;
	at: number;
}

/** A device name is a short label (as long as a certificate's device name). */
export const MAX_DEVICE_LABEL = 64;

/**
 * How far the user has read a channel: up to and including `message`, whose time is `at` (the
 * message's own `createdAt`). Messages order by (time, id), so the furthest marker is the larger
 * (at, message) pair — on every device, whatever order the markers arrive in.
 */
export interface ReadMarkerRecord {
	channel: ChannelId;
	message: string;
	at: number;
}

/**
 * What notifies for a space or a channel: every message, mentions only, nothing; `default` on a
 * channel follows its space (and on a space, the library's default: every message).
 */
export type NotificationLevel = 'all' | 'mentions' | 'none' | 'default';
export const NOTIFICATION_LEVELS: readonly NotificationLevel[] = [
	'all',
	'mentions',
	'none',
	'default'
];

/** Whether the user shares presence and typing with co-members, and when they set it. */
export interface PresenceSettingRecord {
	share: boolean;
	at: number;
}

/** The user's notification level for one space or channel, and when they set it. */
export interface NotificationSettingRecord {
	target: SpaceId | ChannelId;
	level: NotificationLevel;
	at: number;
}

/** Message ids are short (a few dozen characters); anything longer is junk, not a marker. */
const MAX_MARKER_ID = 128;

/** The furthest of two read markers of one channel (a total order: a pure function of the set). */
export function furthestMarker(
	a: ReadMarkerRecord | undefined,
	b: ReadMarkerRecord
): ReadMarkerRecord {
	if (!a) return b;
	if (b.at !== a.at) return b.at > a.at ? b : a;
	return b.message > a.message ? b : a;
}

export interface AccountKeys {
	userKey: Uint8Array;
	deviceKey: Uint8Array;
	accountKey: Uint8Array;
	sign(message: Uint8Array): Promise<Uint8Array>;
}

export class AccountDocument {
	#records = new Map<SpaceId, SpaceRecord>();
	#deviceNames = new Map<string, DeviceNameRecord>();
	#friendRecovery: FriendRecoveryRecord | undefined;
	#read = new Map<ChannelId, ReadMarkerRecord>();
	#notify = new Map<SpaceId | ChannelId, NotificationSettingRecord>();
	#presence: PresenceSettingRecord | undefined;
	/** Markers read here and not written yet (coalesced: see `markRead`). */
	#pendingRead = new Map<ChannelId, ReadMarkerRecord>();
	#readTimer: ReturnType<typeof setTimeout> | undefined;
	/** How long a read marker waits for the next before one entry carries them all. */
	readonly #readDelayMs: number;
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
		private readonly wire: Wire,
		private readonly keys: AccountKeys,
		private readonly handle: DocHandle<EnvelopeDoc>,
		readDelayMs: number
	) {
		this.#readDelayMs = readDelayMs;
		this.#account = accountIdOf(keys.userKey);
		this.#epoch = epochIdOf(keys.accountKey);
		this.#reader = wire.read(handle, [], (entries) => {
			this.#queue = this.#queue.then(() => this.#ingest(entries));
		});
	}

	/**
	 * `readDelayMs`: read markers are coalesced — the first marker after a write waits this long,
	 * and one entry then carries the furthest marker of every channel read meanwhile (default
	 * `READ_MARKER_DELAY_MS`).
	 */
	static async open(
		wire: Wire,
		keys: AccountKeys,
		readDelayMs = READ_MARKER_DELAY_MS
	): Promise<AccountDocument> {
		const account = accountIdOf(keys.userKey);
		const handle = await wire.open(envelopeDocumentId(account, new Uint8Array(ID_BYTES)));
		const doc = new AccountDocument(wire, keys, handle, readDelayMs);
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

	/** Spaces the user removed from their devices (the latest record says so). */
	get removed(): SpaceId[] {
		return [...this.#records.values()].filter((r) => r.left).map((r) => r.id);
	}

	onChange(listener: () => void): () => void {
		this.#listeners.add(listener);
		return () => this.#listeners.delete(listener);
	}

	async record(id: SpaceId, left = false): Promise<void> {
		const current = this.#records.get(id);
		if (current && !!current.left === left) return;
		const record: SpaceRecord = { id, at: Date.now(), ...(left ? { left } : {}) };
		this.#apply([record]);
		await this.#write({ spaces: [record] });
	}

	/** Records a space the account has no record of (never undoes a removal made elsewhere). */
	async ensure(id: SpaceId): Promise<void> {
		if (!this.#records.has(id)) await this.record(id);
	}

	/** Names the user gave their devices, by device id. */
	get deviceNames(): ReadonlyMap<string, DeviceNameRecord> {
		return this.#deviceNames;
	}

	/** Names one of the user's devices, for all their devices. */
	async nameDevice(device: string, name: string): Promise<void> {
		const record: DeviceNameRecord = {
			device,
			name: name.trim().slice(0, MAX_DEVICE_LABEL),
			at: Math.max(Date.now(), (this.#deviceNames.get(device)?.at ?? 0) + 1)
		};
		this.#applyNames([record]);
		await this.#write({ devices: [record] });
	}

	/** The latest friend-recovery setup any of the user's devices made, if any. */
	get friendRecovery(): FriendRecoveryRecord | undefined {
		return this.#friendRecovery;
	}

	async recordFriendRecovery(record: FriendRecoveryRecord): Promise<void> {
		this.#applyFriendRecovery([record]);
		await this.#write({
			friendRecovery: { ...record, recoveryPublic: base64url.encode(record.recoveryPublic) }
		});
	}

	/** The furthest read marker of every channel the user read, on any of their devices. */
	get readMarkers(): ReadonlyMap<ChannelId, ReadMarkerRecord> {
		return this.#read;
	}

	/**
	 * Moves a channel's read marker forward (never back: a marker behind the current one is a
	 * no-op). It applies here at once; the write is coalesced — one entry per `readDelayMs` for all
	 * the channels read meanwhile, so reading message after message does not grow the account.
	 */
	markRead(marker: ReadMarkerRecord): boolean {
		const current = this.#read.get(marker.channel);
		if (furthestMarker(current, marker) === current) return false;
		this.#applyRead([marker]);
		this.#pendingRead.set(marker.channel, marker);
		this.#readTimer ??= setTimeout(() => {
			this.#readTimer = undefined;
			void this.flushRead().catch(() => undefined);
		}, this.#readDelayMs);
		return true;
	}

	/** Writes the coalesced read markers now (on close; tests). */
	async flushRead(): Promise<void> {
		clearTimeout(this.#readTimer);
		this.#readTimer = undefined;
		if (!this.#pendingRead.size) return;
		const read = [...this.#pendingRead.values()];
		this.#pendingRead.clear();
		await this.#write({ read });
	}

	/** The user's notification levels, by space or channel. */
	get notificationLevels(): ReadonlyMap<SpaceId | ChannelId, NotificationSettingRecord> {
		return this.#notify;
	}

	async setNotificationLevel(target: SpaceId | ChannelId, level: NotificationLevel): Promise<void> {
		const record: NotificationSettingRecord = {
			target,
			level,
			at: Math.max(Date.now(), (this.#notify.get(target)?.at ?? 0) + 1)
		};
		this.#applyNotify([record]);
		await this.#write({ notify: [record] });
	}

	/** Whether the user shares presence and typing (default true: no record says otherwise). */
	get sharePresence(): boolean {
		return this.#presence?.share ?? true;
	}

	async setSharePresence(share: boolean): Promise<void> {
		const record: PresenceSettingRecord = {
			share,
			at: Math.max(Date.now(), (this.#presence?.at ?? 0) + 1)
		};
		this.#applyPresence([record]);
		await this.#write({ presence: record });
	}

	async #write(body: {
		presence?: PresenceSettingRecord;
		read?: ReadMarkerRecord[];
		notify?: NotificationSettingRecord[];
		spaces?: SpaceRecord[];
		devices?: DeviceNameRecord[];
		friendRecovery?: Omit<FriendRecoveryRecord, 'recoveryPublic'> & { recoveryPublic: string };
	}): Promise<void> {
		const sealed = await sealEntry({
			space: this.#account,
			document: new Uint8Array(ID_BYTES),
			epoch: this.#epoch,
			epochKey: this.keys.accountKey,
			author: this.keys.deviceKey,
			session: this.#session,
			seq: ++this.#seq,
			prev: this.#prev,
			body: utf8.encode(JSON.stringify(body)),
			sign: (m) => this.keys.sign(m)
		});
		this.#prev = sealed.hash;
		await this.wire.append(this.handle, [{ key: entryKey(sealed.hash), bytes: sealed.bytes }]);
	}

	/**
	 * After an identity rotation (this document sealed under the new account key): writes again what
	 * `previous` (the same account under the old key) holds — spaces, the names of `keepDevices`,
	 * read markers, notification levels — in one entry. Not the friend-recovery setup: its kit holds
	 * the old identity seed, so it is left behind with the old key. Entries under the old key are
	 * ignored from now on (another epoch), so whoever holds the old phrase writes nothing the user's
	 * devices read.
	 */
	async carryOver(previous: AccountDocument, keepDevices: readonly string[]): Promise<void> {
		const spaces = [...previous.#records.values()];
		const devices = keepDevices
			.map((d) => previous.#deviceNames.get(d))
			.filter((r): r is DeviceNameRecord => !!r);
		const read = [...previous.#read.values()];
		const notify = [...previous.#notify.values()];
		this.#apply(spaces);
		this.#applyNames(devices);
		this.#applyRead(read);
		this.#applyNotify(notify);
		await this.#write({ spaces, devices, read, notify });
	}

	/**
	 * Rotation hand-overs (identity/rotation-follow.ts) written beside the account's entries, for
	 * whichever device they are sealed to: a kept device reads them under its old account key too.
	 */
	onHandOver(listener: (bytes: Uint8Array) => void | Promise<void>): () => void {
		this.#handOverListeners.add(listener);
		return () => this.#handOverListeners.delete(listener);
	}

	get handOvers(): readonly Uint8Array[] {
		return this.#handOvers;
	}

	#handOvers: Uint8Array[] = [];
	#seenHandOvers = new Set<string>();
	#handOverListeners = new Set<(bytes: Uint8Array) => void | Promise<void>>();

	/** Writes rotation hand-overs (sealed already, one per kept device) into the account envelope. */
	async handOver(records: readonly Uint8Array[]): Promise<void> {
		if (records.length)
			await this.wire.append(
				this.handle,
				records.map((bytes) => ({ key: entryKey(hash(bytes)), bytes }))
			);
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
		await this.wire.append(
			this.handle,
			lockboxes.map((l) => ({ key: entryKey(hash(l.bytes)), bytes: l.bytes }))
		);
	}

	async #ingest(entries: Uint8Array[]): Promise<void> {
		const records: SpaceRecord[] = [];
		const names: DeviceNameRecord[] = [];
		const setups: FriendRecoveryRecord[] = [];
		const read: ReadMarkerRecord[] = [];
		const notify: NotificationSettingRecord[] = [];
		const presence: PresenceSettingRecord[] = [];
		for (const bytes of entries) {
			if (isFollow(bytes)) {
				const id = hex.encode(hash(bytes));
				if (bytes.length > MAX_FOLLOW_BYTES || this.#seenHandOvers.has(id)) continue;
				this.#seenHandOvers.add(id);
				this.#handOvers.push(bytes);
				for (const l of this.#handOverListeners) await l(bytes);
				continue;
			}
			if (bytesEqual(bytes.subarray(0, 3), LOCKBOX_MAGIC)) {
				try {
					const lockbox = parseLockbox(bytes);
					// a friend's share, not a key for this user's devices
					if (parseShareDocument(lockbox.header.document)) continue;
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
					devices?: unknown;
					friendRecovery?: unknown;
					read?: unknown;
					notify?: unknown;
					presence?: { share?: unknown; at?: unknown };
				};
				const p = body.presence;
				if (p && typeof p.share === 'boolean' && typeof p.at === 'number' && Number.isFinite(p.at))
					presence.push({ share: p.share, at: p.at });
				for (const r of Array.isArray(body.read) ? body.read : []) {
					const marker = readMarkerOf(r);
					if (marker) read.push(marker);
				}
				for (const n of Array.isArray(body.notify) ? body.notify : []) {
					const setting = notificationSettingOf(n);
					if (setting) notify.push(setting);
				}
				const setup = friendRecoveryOf(body.friendRecovery);
				if (setup) setups.push(setup);
				for (const r of Array.isArray(body.spaces) ? body.spaces : [])
					if (r && isSpaceId(r.id) && typeof r.at === 'number')
						records.push({ id: r.id, at: r.at, ...(r.left === true ? { left: true } : {}) });
				for (const d of Array.isArray(body.devices) ? body.devices : [])
					if (
						d &&
						typeof d.device === 'string' &&
						d.device.length <= 128 &&
						typeof d.name === 'string' &&
						d.name.length <= MAX_DEVICE_LABEL &&
						typeof d.at === 'number'
					)
						names.push({ device: d.device, name: d.name, at: d.at });
			} catch {
				/* not ours, or junk: ignored */
			}
		}
		this.#apply(records);
		this.#applyNames(names);
		this.#applyFriendRecovery(setups);
		this.#applyRead(read);
		this.#applyNotify(notify);
		this.#applyPresence(presence);
	}

	/** The latest setting wins; equal times → not sharing (private wins; a pure function of the set). */
	#applyPresence(records: PresenceSettingRecord[]) {
		let changed = false;
		for (const r of records) {
			const current = this.#presence;
			if (!current || r.at > current.at || (r.at === current.at && !r.share && current.share)) {
				this.#presence = r;
				changed = true;
			}
		}
		if (changed) for (const l of this.#listeners) l();
	}

	/** The furthest marker per channel wins (`furthestMarker`: any order, the same result). */
	#applyRead(records: ReadMarkerRecord[]) {
		let changed = false;
		for (const r of records) {
			const current = this.#read.get(r.channel);
			const next = furthestMarker(current, r);
			if (next !== current) {
				this.#read.set(r.channel, next);
				changed = true;
			}
		}
		if (changed) for (const l of this.#listeners) l();
	}

	/** The latest level per target wins; equal times → the smaller level (a pure function of the set). */
	#applyNotify(records: NotificationSettingRecord[]) {
		let changed = false;
		for (const r of records) {
			const current = this.#notify.get(r.target);
			if (!current || r.at > current.at || (r.at === current.at && r.level < current.level)) {
				this.#notify.set(r.target, r);
				changed = true;
			}
		}
		if (changed) for (const l of this.#listeners) l();
	}

	/** The latest setup wins; equal times → the smaller setup id (a pure function of the set). */
	#applyFriendRecovery(records: FriendRecoveryRecord[]) {
		let changed = false;
		for (const r of records) {
			const current = this.#friendRecovery;
			if (!current || r.at > current.at || (r.at === current.at && r.setup < current.setup)) {
				this.#friendRecovery = r;
				changed = true;
			}
		}
		if (changed) for (const l of this.#listeners) l();
	}

	/** The latest name per device wins; equal times → the smaller name (a pure function of the set). */
	#applyNames(records: DeviceNameRecord[]) {
		let changed = false;
		for (const r of records) {
			const current = this.#deviceNames.get(r.device);
			if (!current || r.at > current.at || (r.at === current.at && r.name < current.name)) {
				this.#deviceNames.set(r.device, r);
				changed = true;
			}
		}
		if (changed) for (const l of this.#listeners) l();
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
		clearTimeout(this.#readTimer);
		this.#reader.stop();
	}
}

/**
 * Read markers wait this long for the next one before they are written: reading a busy channel
 * (a marker per message seen) or several channels in a row costs one account entry per 3 s at
 * most, carrying the furthest marker of each channel read meanwhile.
 */
export const READ_MARKER_DELAY_MS = 3000;

function readMarkerOf(value: unknown): ReadMarkerRecord | undefined {
	if (!value || typeof value !== 'object') return undefined;
	const r = value as Record<string, unknown>;
	if (
		typeof r.channel !== 'string' ||
		!r.channel.startsWith('chan_') ||
		r.channel.length > MAX_MARKER_ID ||
		typeof r.message !== 'string' ||
		r.message.length > MAX_MARKER_ID ||
		typeof r.at !== 'number' ||
		!Number.isFinite(r.at)
	)
		return undefined;
	return { channel: r.channel as ChannelId, message: r.message, at: r.at };
}

function notificationSettingOf(value: unknown): NotificationSettingRecord | undefined {
	if (!value || typeof value !== 'object') return undefined;
	const r = value as Record<string, unknown>;
	if (
		typeof r.target !== 'string' ||
		!(r.target.startsWith('chan_') || r.target.startsWith('space_')) ||
		r.target.length > MAX_MARKER_ID ||
		!NOTIFICATION_LEVELS.includes(r.level as NotificationLevel) ||
		typeof r.at !== 'number' ||
		!Number.isFinite(r.at)
	)
		return undefined;
	return { target: r.target as SpaceId | ChannelId, level: r.level as NotificationLevel, at: r.at };
}

function friendRecoveryOf(value: unknown): FriendRecoveryRecord | undefined {
	if (!value || typeof value !== 'object') return undefined;
	const r = value as Record<string, unknown>;
	try {
		const recoveryPublic = base64url.decode(String(r.recoveryPublic));
		if (
			typeof r.setup !== 'string' ||
			r.setup.length > 64 ||
			recoveryPublic.length !== 32 ||
			!Array.isArray(r.friends) ||
			r.friends.length > MAX_RECOVERY_FRIENDS ||
			!r.friends.every((f) => typeof f === 'string' && f.startsWith('user_') && f.length < 128) ||
			typeof r.threshold !== 'number' ||
			typeof r.at !== 'number'
		)
			return undefined;
		return {
			setup: r.setup,
			recoveryPublic,
			friends: r.friends as UserId[],
			threshold: r.threshold,
			at: r.at
		};
	} catch {
		return undefined;
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
