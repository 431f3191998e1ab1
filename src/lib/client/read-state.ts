/**
 * Unread state and notifications, from the user's private account document (sync/account.ts).
 *
 * - A per-channel **read marker** ("read up to this message") travels in the account envelope, so
 *   it follows the user to every device and nobody else can read it. The furthest marker wins.
 * - **Unread** = the messages after the marker that others wrote; a message of the user's own
 *   reads everything before it (sending in a channel means having read it), without a write.
 * - **Mentions** = unread messages that mention the user (`mentionsMe`).
 * - **Threads** have read markers of their own, under the key `<channel id>/<root id>`
 *   (`threadMarkerKey`) in the same account records — a device that knows no threads keeps them as
 *   markers of a channel it does not have, and ignores them. A channel's unread count leaves its
 *   threads' messages out; its mention count takes in unread mentions inside its threads. The
 *   threads the user took part in (started, or wrote in) are listed with their unread state.
 * - **Notification levels** (all / mentions / none, per space and per channel; a channel's
 *   `default` follows its space) travel in the account too. `onNotify` reports each new message
 *   that the levels say should notify; the app shows it (the web client: the Notification API).
 */
import { CharterError } from '../errors.js';
import type { ChannelId, SpaceId, UserId } from '../identity/ids.js';
import type { AccountDocument, NotificationLevel, ReadMarkerRecord } from '../sync/account.js';
import { NOTIFICATION_LEVELS } from '../sync/account.js';
import type { Channel, Message } from './Channel.js';
import type { Space } from './Space.js';
import type { Thread } from './Channel.js';

export type { NotificationLevel, ReadMarkerRecord as ReadMarker };

/** What a channel or a space has that the user has not read. */
export interface UnreadInfo {
	/** Messages by others after the read marker. */
	unread: number;
	/** Of those, the ones that mention the user. */
	mentions: number;
	/** The first unread message (where a "new messages" divider goes), if any. */
	firstUnread?: string;
}

/** A thread the user took part in, and what it has that they have not read. */
export interface ThreadUnread {
	channel: Channel;
	thread: Thread;
	info: UnreadInfo;
}

/**
 * The read-marker key of a thread: `<channel id>/<root id>`. It is a `ChannelId` by type only (the
 * account's records are keyed by channel), so it travels in the account format unchanged.
 */
export const threadMarkerKey = (channel: ChannelId, root: string): ChannelId =>
	`${channel}/${root}` as ChannelId;

/** A new message the user's notification levels say should notify. */
export interface NotifyEvent {
	space: Space;
	channel: Channel;
	message: Message;
	/** It mentions the user. */
	mention: boolean;
}

/**
 * Whether `message` mentions the user. Until messages carry structured mentions, a mention is the
 * text `@<name>` for one of the user's names in the space (display name, nickname), not followed
 * by a letter or digit. This is the one place to switch to the structured field.
 */
export function mentionsMe(message: Message, names: readonly string[]): boolean {
	const text = message.text.toLowerCase();
	for (const name of names) {
		if (!name) continue;
		const needle = `@${name.toLowerCase()}`;
		let at = text.indexOf(needle);
		while (at >= 0) {
			const next = text.charAt(at + needle.length);
			if (!/[\p{L}\p{N}_]/u.test(next)) return true;
			at = text.indexOf(needle, at + 1);
		}
	}
	return false;
}

/** A new message notifies only if it was written this recently (not history arriving on a sync). */
export const NOTIFY_RECENT_MS = 2 * 60_000;
/** At most this many notifications per channel per change (a burst arriving at once says enough). */
export const NOTIFY_BURST = 3;

interface Host {
	account(): AccountDocument | undefined;
	me(): UserId | undefined;
	spaces(): Space[];
	/** Calls back on every change of the client's space list (returns the unsubscribe). */
	onSpaces(listener: () => void): () => void;
}

const NONE: UnreadInfo = { unread: 0, mentions: 0 };
const afterMarker = (m: Message, r: ReadMarkerRecord) =>
	m.createdAt > r.at || (m.createdAt === r.at && m.id > r.message);

/** The read markers of the user's channels: `client.readState`. */
export class ReadState {
	#listeners = new Set<() => void>();
	#cache = new WeakMap<
		Channel,
		{ messages: readonly Message[]; marker?: ReadMarkerRecord; names: string; info: UnreadInfo }
	>();
	#names = new WeakMap<Space, { doc: unknown; names: string[] }>();

	/** @internal Made by the client. */
	constructor(private readonly host: Host) {}

	/** @internal The account changed (a marker from another device, a setting). */
	changed(): void {
		for (const l of this.#listeners) {
			try {
				l();
			} catch {
				/* a subscriber's bug must not break the client */
			}
		}
	}

	/** Calls `listener` when a read marker or a notification level changes (on any device). */
	subscribe(listener: () => void): () => void {
		this.#listeners.add(listener);
		return () => this.#listeners.delete(listener);
	}

	/** How far the user has read `channel`, on any of their devices. */
	marker(channel: ChannelId): ReadMarkerRecord | undefined {
		return this.host.account()?.readMarkers.get(channel);
	}

	/** @internal The user's names in a space, for mentions (cached per space document). */
	namesIn(space: Space): string[] {
		const me = this.host.me();
		if (!me) return [];
		const doc = space.document;
		const known = this.#names.get(space);
		if (known?.doc === doc) return known.names;
		const member = space.members.find((m) => m.user === me);
		const names = [
			...new Set(
				[member?.nickname, member?.displayName, space.profile(me)?.displayName].filter(
					(n): n is string => !!n
				)
			)
		];
		this.#names.set(space, { doc, names });
		return names;
	}

	/** Unread messages and mentions in one channel of `space`. */
	channel(space: Space, channel: Channel): UnreadInfo {
		const me = this.host.me();
		if (!me) return NONE;
		const messages = channel.messages;
		const marker = this.marker(channel.id);
		const names = this.namesIn(space);
		const key = names.join('\u0000');
		const cached = this.#cache.get(channel);
		let info: UnreadInfo;
		if (cached && cached.messages === messages && cached.marker === marker && cached.names === key)
			info = cached.info;
		else {
			info = unreadIn(messages, marker, me, names);
			this.#cache.set(channel, { messages, marker, names: key, info });
		}
		// mentions inside its threads count for the channel (their other messages do not)
		let inThreads = 0;
		for (const thread of channel.threads()) inThreads += this.thread(space, thread).mentions;
		return inThreads ? { ...info, mentions: info.mentions + inThreads } : info;
	}

	/** Unread messages and mentions in one thread (its own marker; the root is not counted). */
	thread(space: Space, thread: Thread): UnreadInfo {
		const me = this.host.me();
		if (!me) return NONE;
		const messages = thread.messages;
		const marker = this.marker(threadMarkerKey(thread.channel.id, thread.rootId));
		const names = this.namesIn(space);
		const key = names.join('\u0000');
		const cached = this.#threadCache.get(messages);
		if (cached && cached.marker === marker && cached.names === key) return cached.info;
		const info = unreadIn(messages, marker, me, names);
		if (messages.length) this.#threadCache.set(messages, { marker, names: key, info });
		return info;
	}
	#threadCache = new WeakMap<
		readonly Message[],
		{ marker?: ReadMarkerRecord; names: string; info: UnreadInfo }
	>();

	/**
	 * The threads of `space` the user took part in — started (wrote the root) or wrote in — newest
	 * activity first, with their unread state: what a "Threads" indicator lists.
	 */
	threads(space: Space): ThreadUnread[] {
		const me = this.host.me();
		if (!me) return [];
		const out: (ThreadUnread & { lastAt: number })[] = [];
		for (const channel of space.channels)
			for (const thread of channel.threads()) {
				const messages = thread.messages;
				const root = thread.root;
				const started = root !== undefined && root !== 'deleted' && root.author === me;
				if (!started && !messages.some((m) => m.author === me)) continue;
				out.push({
					channel,
					thread,
					info: this.thread(space, thread),
					lastAt: messages.at(-1)!.createdAt
				});
			}
		return out.sort((a, b) => b.lastAt - a.lastAt).map(({ lastAt: _, ...t }) => t);
	}

	/** Marks a thread read up to `upTo` (default: its newest message), like `markRead`. */
	markThreadRead(thread: Thread, upTo?: Message): boolean {
		const account = this.#requireAccount();
		const last = upTo ?? thread.messages.at(-1);
		if (!last) return false;
		const moved = account.markRead({
			channel: threadMarkerKey(thread.channel.id, thread.rootId),
			message: last.id,
			at: last.createdAt
		});
		if (moved) this.changed();
		return moved;
	}
	/** Unread messages and mentions over the channels of a space this user can see. */
	space(space: Space): UnreadInfo {
		let unread = 0;
		let mentions = 0;
		for (const channel of space.channels) {
			const info = this.channel(space, channel);
			unread += info.unread;
			mentions += info.mentions;
		}
		return { unread, mentions };
	}

	/**
	 * Marks `channel` read up to `upTo` (default: its newest message). Never moves a marker back.
	 * Applies at once on this device; reaches the user's other devices with the next coalesced
	 * account entry (at most one per few seconds, `READ_MARKER_DELAY_MS`). Returns whether the
	 * marker moved.
	 */
	markRead(channel: Channel, upTo?: Message): boolean {
		const account = this.#requireAccount();
		const last = upTo ?? channel.messages.at(-1);
		if (!last) return false;
		const moved = account.markRead({ channel: channel.id, message: last.id, at: last.createdAt });
		if (moved) this.changed();
		return moved;
	}

	/** Marks every channel of `space` read ("mark all read"). */
	markSpaceRead(space: Space): void {
		for (const channel of space.channels) {
			this.markRead(channel);
			for (const thread of channel.threads()) this.markThreadRead(thread);
		}
	}

	/** Writes the coalesced markers now, so other devices get them without waiting. */
	async flush(): Promise<void> {
		await this.host.account()?.flushRead();
	}

	#requireAccount(): AccountDocument {
		const account = this.host.account();
		if (!account) throw new CharterError('unavailable', 'the account is not open yet');
		return account;
	}
}

/** Messages by others after `marker` (a message of the user's own reads all before it), and mentions. */
function unreadIn(
	messages: readonly Message[],
	marker: ReadMarkerRecord | undefined,
	me: UserId,
	names: readonly string[]
): UnreadInfo {
	// messages are in (createdAt, id) order: the first after the marker, by binary search
	let lo = 0;
	let hi = messages.length;
	if (marker)
		while (lo < hi) {
			const mid = (lo + hi) >>> 1;
			if (afterMarker(messages[mid]!, marker)) hi = mid;
			else lo = mid + 1;
		}
	let unread = 0;
	let mentions = 0;
	let firstUnread: string | undefined;
	for (let i = lo; i < messages.length; i++) {
		const m = messages[i]!;
		if (m.author === me) {
			// the user wrote here after all these: they had read them
			unread = 0;
			mentions = 0;
			firstUnread = undefined;
			continue;
		}
		unread++;
		firstUnread ??= m.id;
		if (mentionsMe(m, names)) mentions++;
	}
	const info: UnreadInfo = firstUnread ? { unread, mentions, firstUnread } : NONE;
	return info;
}

/** The user's notification levels (`client.notificationSettings`), and the new-message event. */
export class NotificationSettings {
	#notifyListeners = new Set<(event: NotifyEvent) => void>();
	#watch: { stop: () => void } | undefined;

	/** @internal Made by the client. */
	constructor(
		private readonly host: Host,
		private readonly readState: ReadState
	) {}

	/** The level set for a space or a channel (`default` when none is). */
	level(target: SpaceId | ChannelId): NotificationLevel {
		return this.host.account()?.notificationLevels.get(target)?.level ?? 'default';
	}

	/** What applies to a channel: its own level, else its space's, else `all`. */
	effective(space: SpaceId, channel?: ChannelId): Exclude<NotificationLevel, 'default'> {
		const own = channel ? this.level(channel) : 'default';
		if (own !== 'default') return own;
		const ofSpace = this.level(space);
		return ofSpace === 'default' ? 'all' : ofSpace;
	}

	/** Sets the level for a space or a channel, for all the user's devices. */
	async set(target: SpaceId | ChannelId, level: NotificationLevel): Promise<void> {
		if (!NOTIFICATION_LEVELS.includes(level))
			throw new CharterError('invalid-argument', `not a notification level: ${String(level)}`);
		if (!/^(space|chan)_[1-9A-HJ-NP-Za-km-z]+$/.test(target))
			throw new CharterError('invalid-argument', `not a space or channel id: ${target}`);
		const account = this.host.account();
		if (!account) throw new CharterError('unavailable', 'the account is not open yet');
		await account.setNotificationLevel(target, level);
		this.readState.changed();
	}

	/** Whether a message by someone else in this channel notifies, by the levels and whether it mentions. */
	shouldNotify(space: SpaceId, channel: ChannelId, mention: boolean): boolean {
		const level = this.effective(space, channel);
		return level === 'all' || (level === 'mentions' && mention);
	}

	/**
	 * Calls `listener` for each new message (by someone else, written in the last
	 * `NOTIFY_RECENT_MS`, after the read marker) that the levels say should notify. Watching starts
	 * with the first listener: until then the client does no work for it.
	 */
	onNotify(listener: (event: NotifyEvent) => void): () => void {
		this.#notifyListeners.add(listener);
		this.#watch ??= this.#startWatching();
		return () => {
			this.#notifyListeners.delete(listener);
			if (!this.#notifyListeners.size) {
				this.#watch?.stop();
				this.#watch = undefined;
			}
		};
	}

	#startWatching(): { stop: () => void } {
		/** The newest message seen per channel: what comes after it is new. */
		const newest = new Map<ChannelId, Message | undefined>();
		const watched = new Map<Space, () => void>();
		const review = (space: Space) => {
			const me = this.host.me();
			if (!me) return;
			for (const channel of space.channels) {
				const messages = channel.messages;
				const last = messages.at(-1);
				if (!newest.has(channel.id)) {
					// first sight: what is there already is history, not news
					newest.set(channel.id, last);
					continue;
				}
				const before = newest.get(channel.id);
				if (last === before) continue;
				newest.set(channel.id, last);
				const fresh: Message[] = [];
				for (let i = messages.length - 1; i >= 0 && fresh.length < NOTIFY_BURST; i--) {
					const m = messages[i]!;
					if (
						before &&
						!afterMarker(m, { channel: channel.id, message: before.id, at: before.createdAt })
					)
						break;
					fresh.push(m);
				}
				const marker = this.readState.marker(channel.id);
				const names = this.readState.namesIn(space);
				const now = Date.now();
				for (const m of fresh.reverse()) {
					if (m.author === me || now - m.createdAt > NOTIFY_RECENT_MS) continue;
					if (marker && !afterMarker(m, marker)) continue;
					const mention = mentionsMe(m, names);
					if (!this.shouldNotify(space.id, channel.id, mention)) continue;
					for (const l of this.#notifyListeners) {
						try {
							l({ space, channel, message: m, mention });
						} catch {
							/* a listener's bug must not break the client */
						}
					}
				}
			}
		};
		const follow = () => {
			const spaces = new Set(this.host.spaces());
			for (const [space, stop] of watched)
				if (!spaces.has(space)) {
					stop();
					watched.delete(space);
				}
			for (const space of spaces)
				if (!watched.has(space))
					watched.set(
						space,
						space.subscribe(() => review(space))
					);
		};
		const stopSpaces = this.host.onSpaces(follow);
		follow();
		return {
			stop: () => {
				stopSpaces();
				for (const stop of watched.values()) stop();
				watched.clear();
			}
		};
	}
}
