/**
 * Unread state and notifications, from the user's private account document (sync/account.ts).
 *
 * - A per-channel **read marker** ("read up to this message") travels in the account envelope, so
 *   it follows the user to every device and nobody else can read it. The furthest marker wins.
 * - **Unread** = the messages after the marker that others wrote; a message of the user's own
 *   reads everything before it (sending in a channel means having read it), without a write.
 * - **Mentions** = unread messages that mention the user (`ReadState.mentions`): whom the message
 *   names in its `mentions` (the user, one of their roles, @everyone, and @here only if the user
 *   was online when it was said: `channel.mentionsMe`), or `@<name>` in its text (`mentionsMe`).
 * - **Threads** have read markers of their own, under the key `<channel id>/<root id>`
 *   (`threadMarkerKey`) in the same account records — a device that knows no threads keeps them as
 *   markers of a channel it does not have, and ignores them. A channel's unread count leaves its
 *   threads' messages out; its mention count takes in unread mentions inside its threads.
 * - The user **follows** a thread (as on Discord) when they wrote its root, wrote in it, or were
 *   mentioned in it (in the root or in one of its messages): `follows`. Followed threads are listed
 *   with their unread state (`threads`), and their new messages notify like a channel's.
 * - **Notification levels** (all / mentions / none, per space and per channel; a channel's
 *   `default` follows its space) travel in the account too. `onNotify` reports each new message
 *   that the levels say should notify — in a channel, or in a thread the user follows, by the
 *   level of the thread's channel — and the app shows it (the web client: the Notification API).
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
	/** The followed thread the message was posted in (absent: in the channel itself). */
	thread?: Thread;
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
		{
			messages: readonly Message[];
			marker?: ReadMarkerRecord;
			names: string;
			doc: unknown;
			info: UnreadInfo;
		}
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

	/**
	 * Whether `message` (in `channel` of `space`) mentions the user: its `mentions` say so
	 * (`channel.mentionsMe`: the user, one of their roles, @everyone, @here while they were online
	 * here), or its text holds `@<name>` for one of their names in the space (`mentionsMe`).
	 */
	mentions(space: Space, channel: Channel, message: Message): boolean {
		if (message.author === this.host.me()) return false;
		return channel.mentionsMe(message) || mentionsMe(message, this.namesIn(space));
	}

	/** Unread messages and mentions in one channel of `space`. */
	channel(space: Space, channel: Channel): UnreadInfo {
		const me = this.host.me();
		if (!me) return NONE;
		const messages = channel.messages;
		const marker = this.marker(channel.id);
		const names = this.namesIn(space);
		const key = names.join('\u0000');
		// roles (a role mention) are in the space document: a new one decides again
		const doc = space.document;
		const cached = this.#cache.get(channel);
		let info: UnreadInfo;
		if (
			cached &&
			cached.messages === messages &&
			cached.marker === marker &&
			cached.names === key &&
			cached.doc === doc
		)
			info = cached.info;
		else {
			info = unreadIn(messages, marker, me, (m) => this.mentions(space, channel, m));
			this.#cache.set(channel, { messages, marker, names: key, doc, info });
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
		const doc = space.document;
		const cached = this.#threadCache.get(messages);
		if (cached && cached.marker === marker && cached.names === key && cached.doc === doc)
			return cached.info;
		const info = unreadIn(messages, marker, me, (m) => this.mentions(space, thread.channel, m));
		if (messages.length) this.#threadCache.set(messages, { marker, names: key, doc, info });
		return info;
	}
	#threadCache = new WeakMap<
		readonly Message[],
		{ marker?: ReadMarkerRecord; names: string; doc: unknown; info: UnreadInfo }
	>();

	/**
	 * Whether the user follows `thread` (as on Discord): they wrote its root, wrote in it, or were
	 * mentioned in it — in the root or in any of its messages (`mentions`). A followed thread is
	 * listed by `threads` and its new messages notify (`NotificationSettings.onNotify`).
	 */
	follows(space: Space, thread: Thread): boolean {
		const me = this.host.me();
		if (!me) return false;
		const root = thread.root;
		const channel = thread.channel;
		if (root !== undefined && root !== 'deleted') {
			if (root.author === me || this.mentions(space, channel, root)) return true;
		}
		return thread.messages.some((m) => m.author === me || this.mentions(space, channel, m));
	}

	/**
	 * The threads of `space` the user follows (`follows`: started, wrote in, or mentioned in),
	 * newest activity first, with their unread state: what a "Threads" indicator lists.
	 */
	threads(space: Space): ThreadUnread[] {
		const me = this.host.me();
		if (!me) return [];
		const out: (ThreadUnread & { lastAt: number })[] = [];
		for (const channel of space.channels)
			for (const thread of channel.threads()) {
				const messages = thread.messages;
				if (!this.follows(space, thread)) continue;
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
	mentions: (message: Message) => boolean
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
	let mentioned = 0;
	let firstUnread: string | undefined;
	for (let i = lo; i < messages.length; i++) {
		const m = messages[i]!;
		if (m.author === me) {
			// the user wrote here after all these: they had read them
			unread = 0;
			mentioned = 0;
			firstUnread = undefined;
			continue;
		}
		unread++;
		firstUnread ??= m.id;
		if (mentions(m)) mentioned++;
	}
	const info: UnreadInfo = firstUnread ? { unread, mentions: mentioned, firstUnread } : NONE;
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
		/** The newest message seen per channel and per thread (marker key): what comes after is new. */
		const newest = new Map<ChannelId, Message | undefined>();
		const watched = new Map<Space, () => void>();
		const tell = (event: NotifyEvent) => {
			for (const l of this.#notifyListeners) {
				try {
					l(event);
				} catch {
					/* a listener's bug must not break the client */
				}
			}
		};
		/**
		 * The new messages of a channel or a thread (`key`: its marker's), at most `NOTIFY_BURST`,
		 * oldest first. On first sight what is there is history, not news — except in a thread that
		 * appears under a channel seen before (`fresh`): its messages are all new.
		 */
		const news = (key: ChannelId, messages: readonly Message[], fresh: boolean): Message[] => {
			const last = messages.at(-1);
			if (!newest.has(key) && !fresh) {
				newest.set(key, last);
				return [];
			}
			const before = newest.get(key);
			if (last === before) return [];
			newest.set(key, last);
			const out: Message[] = [];
			for (let i = messages.length - 1; i >= 0 && out.length < NOTIFY_BURST; i--) {
				const m = messages[i]!;
				if (before && !afterMarker(m, { channel: key, message: before.id, at: before.createdAt }))
					break;
				out.push(m);
			}
			const marker = this.readState.marker(key);
			const now = Date.now();
			const me = this.host.me();
			return out
				.reverse()
				.filter(
					(m) =>
						m.author !== me &&
						now - m.createdAt <= NOTIFY_RECENT_MS &&
						!(marker && !afterMarker(m, marker))
				);
		};
		const review = (space: Space) => {
			if (!this.host.me()) return;
			for (const channel of space.channels) {
				const seenBefore = newest.has(channel.id);
				for (const m of news(channel.id, channel.messages, false)) {
					const mention = this.readState.mentions(space, channel, m);
					if (this.shouldNotify(space.id, channel.id, mention))
						tell({ space, channel, message: m, mention });
				}
				for (const thread of channel.threads()) {
					const key = threadMarkerKey(channel.id, thread.rootId);
					const fresh = news(key, thread.messages, seenBefore);
					// only a thread the user follows notifies (a mention in it makes them follow it)
					if (!fresh.length || !this.readState.follows(space, thread)) continue;
					for (const m of fresh) {
						const mention = this.readState.mentions(space, channel, m);
						if (this.shouldNotify(space.id, channel.id, mention))
							tell({ space, channel, thread, message: m, mention });
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
