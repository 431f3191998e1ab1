/**
 * Presence and typing: who is online in a space, who is typing in a channel. Sent as ephemeral
 * signals (encryption/signal.ts) over automerge-repo's ephemeral channel (`DocHandle.broadcast`,
 * the handle's `ephemeral-message` event) on the envelope of the space or the channel, sealed under
 * that document's current epoch key and signed by the device key like an entry. Never stored: not
 * in any document, not in the local store; receivers keep them in memory only, with an expiry.
 *
 * On receipt, a signal is checked in the order cheapest first, and any failure drops it, counted in
 * `stats.dropped` (never thrown, never logged): size and rate, structure, its space and document,
 * its epoch (the current one, held here), its device (a live device of a current member — not
 * revoked, banned or gone), the member's permission (typing needs SEND_MESSAGES in the channel),
 * the signature, the decryption, then its time (within `FRESHNESS_MS` of ours, and later than the
 * last signal of the same device session: a replayed signal is dropped).
 */
import type { DocHandle, DocHandleEphemeralMessagePayload } from '@automerge/automerge-repo';
import { Permission } from '../authority/permissions.js';
import type { SpaceState } from '../authority/state.js';
import type { ChannelId, UserId } from '../identity/ids.js';
import {
	openSignal,
	parseSignal,
	sealSignal,
	SIGNAL_KIND,
	verifySignalSignature,
	MAX_SIGNAL_BYTES,
	type SignalKind
} from '../encryption/signal.js';
import type { EnvelopeDoc } from '../sync/envelope.js';
import type { ReplicaSigner } from '../sync/replica.js';
import { bytesEqual, hex } from '../util/bytes.js';

export { SIGNAL_KIND, type SignalKind };

// ---- timing: every presence constant, explained once --------------------------------------------

/** Someone is shown typing this long after their last "typing" signal (unless "stopped" comes). */
export const TYPING_TTL_MS = 6_000;
/**
 * A typist sends "typing" at most this often: half the time it is shown, so one lost signal does
 * not make them flicker, and a relay sees one small message per 3 s of typing, not per key.
 */
export const TYPING_THROTTLE_MS = 3_000;
/** Someone is online while their last "online" signal is younger than this. */
export const ONLINE_TTL_MS = 60_000;
/** How often an online client says so: two heartbeats fit in `ONLINE_TTL_MS`, so one may be lost. */
export const HEARTBEAT_MS = 25_000;
/**
 * A signal's sending time must be within this of the receiver's clock, either way: an older one is
 * a replay (or too late to mean anything); a later one, a clock too far off to trust.
 */
export const FRESHNESS_MS = 30_000;
/**
 * Answering a newcomer's "online" with ours (so they see us at once, not at our next heartbeat)
 * happens at most this often per space: a flood of newcomers makes at most one answer per 3 s.
 */
export const ANSWER_THROTTLE_MS = 3_000;
/**
 * After a peer connects, wait this long before saying we are online: automerge-repo first decides
 * whether to share each document with the new peer (asynchronously), and a broadcast reaches only
 * peers the document is shared with.
 */
export const PEER_SETTLE_MS = 300;
/**
 * Signals one document's listener processes per second, sustained (and twice that in a burst):
 * each costs a signature check, so a peer (or a relay) flooding a document gets the rest dropped.
 * Honest traffic is far below: one "typing" per typist per 3 s, one heartbeat per member per 25 s.
 */
export const SIGNALS_PER_SECOND = 50;
/** Device sessions remembered per document (for the replay check); oldest forgotten first. */
export const MAX_SESSIONS = 4_096;
/**
 * Signals held for a second look (presence only): dropped because their author was not a member
 * here yet, or sealed under an epoch this device does not hold yet. A newcomer's first "online"
 * often arrives before its join or the join's new epoch does; held, it is looked at again — every
 * check, in full — when the space changes or a key arrives, until it is no longer fresh
 * (`FRESHNESS_MS`), instead of the newcomer showing offline until its next heartbeat. The oldest
 * goes first: junk from strangers can push a genuine one out, never grow the list.
 */
export const MAX_HELD_SIGNALS = 16;
/**
 * Spans of this user's own presence a space remembers (for `@here`, `Presence.presentAt`): one per
 * "appear offline" → online toggle since the space opened; the oldest are forgotten first.
 */
export const MAX_PRESENCE_SPANS = 64;

// ---- one document's ephemeral signals -----------------------------------------------------------

export type SignalDrop =
	| 'malformed'
	| 'rate-limited'
	| 'wrong-document'
	| 'unknown-epoch'
	| 'not-member'
	| 'not-permitted'
	| 'bad-signature'
	| 'decryption-failed'
	| 'wrong-kind'
	| 'stale'
	| 'replayed';

export interface SignalStats {
	sent: number;
	received: number;
	accepted: number;
	dropped: Partial<Record<SignalDrop, number>>;
}

/** What a document's signals are judged against: supplied by its Space or Channel. */
export interface SignalScope {
	space: Uint8Array;
	document: Uint8Array;
	/** The envelope the document travels on now (a channel's changes with its history generation). */
	handle(): DocHandle<EnvelopeDoc>;
	/** The current epoch of the document and its key, when this device holds it. */
	epoch(): { id: Uint8Array; key: Uint8Array } | undefined;
	signer: ReplicaSigner;
	/** The kinds this document carries (typing in channels, online in spaces). */
	kinds: readonly SignalKind[];
	/**
	 * The member whose live device this is, if they may send this document's signals now (typing:
	 * SEND_MESSAGES in the channel; presence: membership); else why not.
	 */
	authorise(device: Uint8Array): UserId | 'not-member' | 'not-permitted';
	/** An accepted signal. */
	received(user: UserId, kind: SignalKind): void;
	/** Injected for tests; default `Date.now`. */
	now?: () => number;
	/** Hold what is dropped as `not-member` or `unknown-epoch` for `retryHeld` (MAX_HELD_SIGNALS). */
	hold?: boolean;
}

export class SignalChannel {
	readonly stats: SignalStats = { sent: 0, received: 0, accepted: 0, dropped: {} };
	#attached: DocHandle<EnvelopeDoc> | undefined;
	/** Last accepted sending time per device session (hex(device ‖ session)). */
	#last = new Map<string, number>();
	#tokens = SIGNALS_PER_SECOND * 2;
	#refilledAt: number;
	#closed = false;
	/** Signals to look at again (`scope.hold`), with when each arrived. */
	#held: { bytes: Uint8Array; at: number }[] = [];
	readonly #listener = (payload: DocHandleEphemeralMessagePayload<EnvelopeDoc>) =>
		void this.#receive(payload.message).catch(() => this.#drop('malformed'));

	constructor(private readonly scope: SignalScope) {
		this.#refilledAt = this.#now();
		this.attach();
	}

	#now(): number {
		return (this.scope.now ?? Date.now)();
	}

	/** Listens on the document's current envelope (call again after it changed). */
	attach(): void {
		if (this.#closed) return;
		const handle = this.scope.handle();
		if (handle === this.#attached) return;
		this.#attached?.off('ephemeral-message', this.#listener);
		this.#attached = handle;
		handle.on('ephemeral-message', this.#listener);
	}

	/** Seals and broadcasts one signal; false when this device holds no current key to seal under. */
	async send(kind: SignalKind): Promise<boolean> {
		if (this.#closed) return false;
		this.attach();
		const epoch = this.scope.epoch();
		if (!epoch) return false;
		const { signer } = this.scope;
		const bytes = await sealSignal({
			space: this.scope.space,
			document: this.scope.document,
			epoch: epoch.id,
			epochKey: epoch.key,
			author: signer.author,
			session: signer.session,
			body: { kind, sentAt: this.#now() },
			sign: (m) => signer.sign(m)
		});
		if (this.#closed) return false;
		this.#attached?.broadcast(bytes);
		this.stats.sent++;
		return true;
	}

	close(): void {
		this.#closed = true;
		this.#attached?.off('ephemeral-message', this.#listener);
		this.#attached = undefined;
		this.#last.clear();
		this.#held = [];
	}

	/** Looks again at the held signals still fresh (the space changed, or a key arrived). */
	retryHeld(): void {
		if (this.#closed || this.#held.length === 0) return;
		const now = this.#now();
		const held = this.#held.filter((h) => now - h.at <= FRESHNESS_MS);
		this.#held = [];
		for (const h of held) void this.#receive(h.bytes, h.at).catch(() => undefined);
	}

	/** A drop that may be undone by a later space: counted once, held (bounded) if the scope holds. */
	#dropOrHold(reason: 'not-member' | 'unknown-epoch', bytes: Uint8Array, heldSince?: number) {
		if (heldSince === undefined) this.#drop(reason);
		if (!this.scope.hold) return;
		this.#held.push({ bytes, at: heldSince ?? this.#now() });
		if (this.#held.length > MAX_HELD_SIGNALS) this.#held.shift();
	}

	#drop(reason: SignalDrop): void {
		this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1;
	}

	#take(now: number): boolean {
		const burst = SIGNALS_PER_SECOND * 2;
		this.#tokens = Math.min(
			burst,
			this.#tokens + ((now - this.#refilledAt) / 1000) * SIGNALS_PER_SECOND
		);
		this.#refilledAt = now;
		if (this.#tokens < 1) return false;
		this.#tokens -= 1;
		return true;
	}

	/** `heldSince`: a held signal looked at again (counted and rate-limited when it first came). */
	async #receive(message: unknown, heldSince?: number): Promise<void> {
		if (this.#closed) return;
		const scope = this.scope;
		// a held signal's drop was counted when it came
		const drop = (reason: SignalDrop) => (heldSince === undefined ? this.#drop(reason) : undefined);
		if (heldSince === undefined) {
			this.stats.received++;
			if (!(message instanceof Uint8Array) || message.length > MAX_SIGNAL_BYTES)
				return this.#drop('malformed');
			if (!this.#take(this.#now())) return this.#drop('rate-limited');
		}
		if (!(message instanceof Uint8Array)) return;
		let signal;
		try {
			signal = parseSignal(message);
		} catch {
			return drop('malformed');
		}
		const { header } = signal;
		if (!bytesEqual(header.space, scope.space) || !bytesEqual(header.document, scope.document))
			return drop('wrong-document');
		const epoch = scope.epoch();
		if (!epoch || !bytesEqual(header.epoch, epoch.id))
			return this.#dropOrHold('unknown-epoch', message, heldSince);
		// before the signature check: an outsider cannot make this device verify anything
		const member = scope.authorise(header.author);
		if (member === 'not-member') return this.#dropOrHold(member, message, heldSince);
		if (member === 'not-permitted') return drop(member);
		if (!(await verifySignalSignature(signal))) return drop('bad-signature');
		let body;
		try {
			body = openSignal(signal, epoch.key);
		} catch (error) {
			const code = (error as { code?: string }).code;
			return drop(code === 'decryption-failed' ? 'decryption-failed' : 'malformed');
		}
		if (!scope.kinds.includes(body.kind)) return drop('wrong-kind');
		const now = this.#now();
		if (Math.abs(now - body.sentAt) > FRESHNESS_MS) return drop('stale');
		const session = hex.encode(header.author) + hex.encode(header.session);
		const last = this.#last.get(session);
		if (last !== undefined && body.sentAt <= last) return drop('replayed');
		this.#last.delete(session); // re-inserted last: the map's order is least recently heard first
		this.#last.set(session, body.sentAt);
		if (this.#last.size > MAX_SESSIONS) this.#last.delete(this.#last.keys().next().value!);
		if (this.#closed) return;
		const user = scope.authorise(header.author); // the state may have moved meanwhile
		if (user === 'not-member' || user === 'not-permitted') return drop(user);
		this.stats.accepted++;
		scope.received(user, body.kind);
	}
}

// ---- expiring sets ------------------------------------------------------------------------------

/**
 * Users with an expiry each: `add` (re)starts one, `delete` ends it, listeners hear every change —
 * including an expiry, from one timer set for the next one due (unref'd: it never keeps Node up).
 */
export class ExpiringSet {
	#until = new Map<UserId, number>();
	#listeners = new Set<() => void>();
	#timer: ReturnType<typeof setTimeout> | undefined;
	#timerAt = Infinity;

	constructor(
		private readonly ttlMs: number,
		private readonly now: () => number = Date.now
	) {}

	get users(): UserId[] {
		const now = this.now();
		return [...this.#until].filter(([, until]) => until > now).map(([user]) => user);
	}

	has(user: UserId): boolean {
		return (this.#until.get(user) ?? 0) > this.now();
	}

	/** Returns whether `user` was absent before. */
	add(user: UserId): boolean {
		const was = this.has(user);
		this.#until.set(user, this.now() + this.ttlMs);
		this.#schedule();
		if (!was) this.#emit();
		return !was;
	}

	delete(user: UserId): void {
		const was = this.has(user);
		this.#until.delete(user);
		if (was) this.#emit();
	}

	/** Drops everyone not in `keep` (members who left, lost the permission, …). */
	retain(keep: (user: UserId) => boolean): void {
		let changed = false;
		for (const user of [...this.#until.keys()])
			if (!keep(user)) {
				changed ||= this.has(user);
				this.#until.delete(user);
			}
		if (changed) this.#emit();
	}

	onChange(listener: () => void): () => void {
		this.#listeners.add(listener);
		return () => this.#listeners.delete(listener);
	}

	clear(): void {
		this.#until.clear();
		if (this.#timer) clearTimeout(this.#timer);
		this.#timer = undefined;
		this.#timerAt = Infinity;
		this.#listeners.clear();
	}

	#schedule(): void {
		const next = Math.min(...this.#until.values());
		if (next >= this.#timerAt) return;
		if (this.#timer) clearTimeout(this.#timer);
		this.#timerAt = next;
		this.#timer = setTimeout(() => this.#expire(), Math.max(0, next - this.now()) + 5);
		(this.#timer as { unref?: () => void }).unref?.();
	}

	#expire(): void {
		this.#timer = undefined;
		this.#timerAt = Infinity;
		const now = this.now();
		let changed = false;
		for (const [user, until] of [...this.#until])
			if (until <= now) {
				this.#until.delete(user);
				changed = true;
			}
		if (this.#until.size) this.#schedule();
		if (changed) this.#emit();
	}

	#emit(): void {
		for (const listener of this.#listeners) {
			try {
				listener();
			} catch {
				/* a listener's error is its own */
			}
		}
	}
}

// ---- typing in a channel, presence in a space ---------------------------------------------------

/** Who is typing in one channel; sends this user's own typing, throttled. */
export class Typing {
	readonly #typists: ExpiringSet;
	readonly #signals: SignalChannel;
	#sentAt = -Infinity;

	constructor(
		scope: Omit<SignalScope, 'kinds' | 'received'>,
		private readonly me: UserId,
		private readonly sharing: () => boolean
	) {
		const now = scope.now ?? Date.now;
		this.#typists = new ExpiringSet(TYPING_TTL_MS, now);
		this.#signals = new SignalChannel({
			...scope,
			kinds: [SIGNAL_KIND.typing, SIGNAL_KIND.stopped],
			received: (user, kind) => {
				if (user === this.me) return; // this user typing on another device
				if (kind === SIGNAL_KIND.typing) this.#typists.add(user);
				else this.#typists.delete(user);
			}
		});
	}

	/** Others typing now. */
	get users(): UserId[] {
		return this.#typists.users;
	}

	get stats(): SignalStats {
		return this.#signals.stats;
	}

	/** This user typed: tells the channel, at most once per `TYPING_THROTTLE_MS`. */
	async typing(now = Date.now()): Promise<void> {
		if (!this.sharing() || now - this.#sentAt < TYPING_THROTTLE_MS) return;
		this.#sentAt = now;
		if (!(await this.#signals.send(SIGNAL_KIND.typing))) this.#sentAt = -Infinity;
	}

	/** This user sent or cleared what they typed: "stopped", if "typing" went out recently. */
	async stop(now = Date.now()): Promise<void> {
		if (now - this.#sentAt >= TYPING_TTL_MS) return;
		this.#sentAt = -Infinity;
		await this.#signals.send(SIGNAL_KIND.stopped);
	}

	/** Someone wrote a message: they are not typing it any more. */
	wrote(user: UserId): void {
		this.#typists.delete(user);
	}

	/** Forget those who may no longer type here (call when the space state changes). */
	retain(keep: (user: UserId) => boolean): void {
		this.#typists.retain(keep);
	}

	reattach(): void {
		this.#signals.attach();
	}

	onChange(listener: () => void): () => void {
		return this.#typists.onChange(listener);
	}

	close(): void {
		this.#signals.close();
		this.#typists.clear();
	}
}

/** Who is online in a space; says this user is, every `HEARTBEAT_MS`, while they share presence. */
export class Presence {
	readonly #online: ExpiringSet;
	readonly #signals: SignalChannel;
	#heartbeat: ReturnType<typeof setInterval> | undefined;
	#answeredAt = -Infinity;
	#sharing = false;
	#closed = false;
	/** When this user was online here, as this device saw it (`to` absent: still), oldest first. */
	readonly #spans: { from: number; to?: number }[] = [];
	readonly #now: () => number;

	constructor(
		scope: Omit<SignalScope, 'kinds' | 'received'>,
		private readonly me: UserId
	) {
		const now = (this.#now = scope.now ?? Date.now);
		this.#online = new ExpiringSet(ONLINE_TTL_MS, now);
		this.#signals = new SignalChannel({
			...scope,
			hold: true,
			kinds: [SIGNAL_KIND.online, SIGNAL_KIND.offline],
			received: (user, kind) => {
				if (kind === SIGNAL_KIND.offline) {
					if (user !== this.me) this.#online.delete(user);
					return;
				}
				if (this.#online.add(user) && user !== this.me) this.#answer(now());
			}
		});
	}

	/** Members seen online in the last `ONLINE_TTL_MS` (this user too, while sharing). */
	get users(): UserId[] {
		return this.#online.users;
	}

	isOnline(user: UserId): boolean {
		return this.#online.has(user);
	}

	get sharing(): boolean {
		return this.#sharing;
	}

	/**
	 * Whether this user was online here at `at` (ms, a message's sending time), as this device saw
	 * it: the space was open here and sharing presence (not "appear offline"). What `@here` asks —
	 * a UI and notification rule, not an authorisation one. Spans start when the space opens, so
	 * what was said before this device was here (closed, offline, reloaded) was not said to it.
	 */
	presentAt(at: number): boolean {
		for (let i = this.#spans.length - 1; i >= 0; i--) {
			const span = this.#spans[i]!;
			if (at >= span.from && (span.to === undefined || at <= span.to)) return true;
			if (span.from <= at) return false; // spans are in order: none before this one covers it
		}
		return false;
	}

	#endSpan(): void {
		const last = this.#spans.at(-1);
		if (last && last.to === undefined) last.to = this.#now();
	}

	get stats(): SignalStats {
		return this.#signals.stats;
	}

	/** Starts or stops sharing this user's presence (stopping says "offline" first). */
	share(on: boolean): void {
		if (this.#closed || on === this.#sharing) return;
		this.#sharing = on;
		if (on) {
			this.#spans.push({ from: this.#now() });
			if (this.#spans.length > MAX_PRESENCE_SPANS) this.#spans.shift();
			this.#online.add(this.me);
			this.#heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
			(this.#heartbeat as { unref?: () => void }).unref?.();
			void this.beat();
			// a space opened on a connection already up: its envelope is shared with the peers a
			// moment later (as after a peer connects), and a broadcast before that reaches nobody
			const settled = setTimeout(() => void this.beat(), PEER_SETTLE_MS);
			(settled as { unref?: () => void }).unref?.();
		} else {
			this.#endSpan();
			clearInterval(this.#heartbeat);
			this.#heartbeat = undefined;
			this.#online.delete(this.me);
			void this.#signals.send(SIGNAL_KIND.offline).catch(() => undefined);
		}
	}

	/** Says "online" now (a heartbeat; also when a peer connects or the key arrives). */
	async beat(): Promise<void> {
		if (!this.#sharing || this.#closed) return;
		this.#online.add(this.me);
		await this.#signals.send(SIGNAL_KIND.online).catch(() => undefined);
	}

	#answer(now: number): void {
		if (now - this.#answeredAt < ANSWER_THROTTLE_MS) return;
		this.#answeredAt = now;
		void this.beat();
	}

	retain(keep: (user: UserId) => boolean): void {
		this.#online.retain(keep);
	}

	/** Looks again at signals of members not known yet (the space changed; a key arrived). */
	retryHeld(): void {
		this.#signals.retryHeld();
	}

	reattach(): void {
		this.#signals.attach();
	}

	onChange(listener: () => void): () => void {
		return this.#online.onChange(listener);
	}

	/** Says "offline" (while sharing) and stops listening. */
	async close(): Promise<void> {
		if (this.#closed) return;
		this.#endSpan();
		if (this.#sharing) await this.#signals.send(SIGNAL_KIND.offline).catch(() => undefined);
		this.#closed = true;
		clearInterval(this.#heartbeat);
		this.#signals.close();
		this.#online.clear();
	}
}

// ---- what a Space and a Channel hand over -------------------------------------------------------

/** What both kinds of scope are built from. */
export interface PresenceSource {
	space: Uint8Array;
	/** The document: the space's id for presence, the channel's id bytes for typing. */
	document: Uint8Array;
	handle(): DocHandle<EnvelopeDoc>;
	/** The document's current epoch id (Space.currentEpoch). */
	currentEpoch(): Uint8Array | undefined;
	keys: { get(document: Uint8Array, epoch: Uint8Array): Uint8Array | undefined };
	state(): SpaceState | undefined;
	signer: ReplicaSigner;
}

function scopeOf(
	source: PresenceSource,
	may: (state: SpaceState, user: UserId) => boolean
): Omit<SignalScope, 'kinds' | 'received'> {
	return {
		space: source.space,
		document: source.document,
		handle: () => source.handle(),
		signer: source.signer,
		epoch: () => {
			const id = source.currentEpoch();
			const key = id && source.keys.get(source.document, id);
			return id && key ? { id, key } : undefined;
		},
		authorise: (device) => {
			const state = source.state();
			const user = state?.userOfDevice(device); // live devices of current members only
			if (!state || !user) return 'not-member';
			return may(state, user) ? user : 'not-permitted';
		}
	};
}

/** Typing in a channel: only members who may send messages in it are heard. */
export function channelTyping(
	source: PresenceSource,
	channel: ChannelId,
	me: UserId,
	sharing: () => boolean
): Typing {
	return new Typing(
		scopeOf(source, (state, user) => state.can(user, TYPING_PERMISSION, channel)),
		me,
		sharing
	);
}

/** Presence in a space: every member is heard. */
export function spacePresence(source: PresenceSource, me: UserId): Presence {
	return new Presence(
		scopeOf(source, (state, user) => state.isMember(user)),
		me
	);
}

/** Typing is heard only from a member who could send what they type. */
export const TYPING_PERMISSION = Permission.SEND_MESSAGES | Permission.VIEW_CHANNEL;
