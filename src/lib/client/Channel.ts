/**
 * A channel of a space: an ordered list of messages, readable by members holding its epoch keys.
 */
import { singleValue } from '../authority/single-values.js';
import * as A from '@automerge/automerge';
import { CharterError } from '../errors.js';
import { channelIdBytes, type ChannelId, type UserId } from '../identity/ids.js';
import {
	asString,
	atom,
	CHANNEL_DOC_ROOT,
	MESSAGES_PER_BUCKET,
	parsePinKey,
	parseReactionKey,
	pinKey,
	reactionKey,
	type ChannelDoc,
	type StoredMessage,
	type ChannelRecord,
	type Durability
} from '../authority/schema.js';
import { Permission } from '../authority/permissions.js';
import {
	MAX_MENTIONS,
	MAX_MESSAGE_LENGTH,
	MAX_PINS,
	MAX_REACTION,
	MAX_TOPIC
} from '../authority/limits.js';
import { mentionKind, reactionProblem } from '../authority/channel-rules.js';
import { channelValidator } from '../authority/document-validators.js';
import { DocumentReplica } from '../sync/replica.js';
import { hex } from '../util/bytes.js';
import { DeliveryTracker, type Delivery } from '../sync/durability.js';
import type { ClientContext, SpaceView } from './context.js';
import type { KeyRing } from '../encryption/keyring.js';
import type { DocHandle } from '@automerge/automerge-repo';
import type { EnvelopeDoc } from '../sync/envelope.js';
import { channelTyping, type Typing } from './presence.js';
import { rootProblem, summaryOf, ThreadIndex, type ThreadSummary } from './threads.js';

export { MAX_MESSAGE_LENGTH, MAX_PINS, MAX_REACTION, MAX_TOPIC };

/** A pinned message of a channel (`channel.pins`). */
export interface Pin {
	message: Message;
	/** When it was pinned (the pinner's clock, ms). */
	pinnedAt: number;
}

/** Whom a message mentions (stored with it when it is sent; an edit does not change it). */
export interface Mentions {
	users: readonly UserId[];
	/** Role ids. */
	roles: readonly string[];
	/** `@everyone`: every member. */
	everyone: boolean;
	/**
	 * `@here`: the members who are online when it is said. Each device judges for its own user
	 * (`space.presentAt(message.createdAt)`): a mention only while the space was open there and its
	 * user not appearing offline — a UI and notification rule; the permission rule is @everyone's.
	 */
	here: boolean;
}

/** One emoji's reactions on a message. */
export interface Reaction {
	emoji: string;
	/** How many members reacted with it (= `users.length`). */
	count: number;
	/** Who reacted, earliest first. */
	users: readonly UserId[];
	/** Whether this user is among them. */
	mine: boolean;
}

export interface Message {
	id: string;
	author: UserId;
	text: string;
	createdAt: number;
	editedAt?: number;
	/**
	 * The id of the message this one replies to (absent: not a reply). Read the original, as it is
	 * now, with `channel.lookup(replyTo)`: edited, deleted, or not (yet) on this device.
	 */
	replyTo?: string;
	/** Whom the message mentions (absent: nobody). See `channel.mentionsMe(message)`. */
	mentions?: Mentions;
	/** Reactions, by emoji, in the order each emoji was first used (absent: none). */
	reactions?: readonly Reaction[];
	/** In a thread: the id of its root (the message is in `channel.thread(inThread)`, not in `messages`). */
	inThread?: string;
	/** On a root: its thread's summary (absent: nothing posted in a thread under it). */
	thread?: ThreadSummary;
	/**
	 * `pending` until a persistent node (a sync server or home node) reported holding this message,
	 * then `stored`: every message of a guaranteed channel, and in any channel the messages this
	 * client sent since it opened (so an offline send never looks like it reached anyone).
	 */
	delivery?: Delivery;
}

export interface SendOptions {
	/**
	 * Resolve only once a persistent node reported holding the message (any channel; guaranteed
	 * channels follow every message anyway). Rejects with `unavailable` after `timeoutMs` — the
	 * message is sent all the same and stays pending until a node confirms it.
	 */
	awaitStored?: boolean;
	/** With `awaitStored`: how long to wait (default 30 s). */
	timeoutMs?: number;
	/** The id of a message of this channel this one replies to (not a deleted one). */
	replyTo?: string;
	/**
	 * Whom the message mentions (the app finds them in the text, e.g. from its autocomplete): members
	 * by user id, roles by id, `everyone`, `here`. Roles, @everyone and @here need MENTION_EVERYONE.
	 */
	mentions?: Partial<Mentions>;
	/**
	 * Posts in the thread of this message of the channel (its root; not a message in a thread, and
	 * deleted or not). See `channel.thread(root)`.
	 */
	thread?: string;
}

export class Channel {
	#messages: readonly Message[] | undefined;
	/** Every message, those in threads too (`messages` leaves them out). */
	#all: readonly Message[] = [];
	#threads = new ThreadIndex<Message>();
	#listeners = new Set<(messages: readonly Message[]) => void>();
	#changeListeners = new Set<() => void>();
	/** Messages sent in each writer session of this client (the channel's, one per history segment). */
	#sent = new Map<string, number>();
	/**
	 * This client's writer sessions in the channel: its own, and one per later history segment it
	 * wrote in. Message and bucket ids start with the session's tag (`<tag>.<n>`).
	 */
	#ownTags = new Set<string>();
	#delivery: DeliveryTracker;
	/** Trackers of earlier history generations, for messages still pending there. */
	#retiredDeliveries: DeliveryTracker[] = [];
	#deliveryEnvelope: DocHandle<EnvelopeDoc>;
	/** Who is typing here (ephemeral signals, never stored: client/presence.ts). */
	readonly #typing: Typing;

	private constructor(
		readonly id: ChannelId,
		/** @internal Its space, as the space's children see it (context.ts). */
		readonly space: SpaceView,
		private readonly replica: DocumentReplica<ChannelDoc>,
		private readonly context: ClientContext,
		keys: KeyRing
	) {
		const document = channelIdBytes(id);
		this.#typing = channelTyping(
			{
				space: space.idBytes,
				document,
				handle: () => replica.envelope,
				currentEpoch: () => space.currentEpoch(document),
				keys,
				state: () => space.evaluation?.state,
				signer: context.signer
			},
			id,
			context.identity.userId,
			() => context.sharePresence?.() ?? true
		);
		this.#ownTags.add(hex.encode(context.signer.session));
		this.#deliveryEnvelope = replica.envelope;
		this.#delivery = this.#newTracker();
		replica.subscribe(() => this.#changed());
	}

	#newTracker(): DeliveryTracker {
		const tracker = new DeliveryTracker(this.replica.envelope, this.context.wire.remote);
		tracker.onStored(() => this.#changed());
		return tracker;
	}

	/** After a compaction: new messages are followed in the new generation's envelope. */
	#retarget() {
		if (this.replica.envelope === this.#deliveryEnvelope) return;
		this.#deliveryEnvelope = this.replica.envelope;
		this.#retiredDeliveries.push(this.#delivery);
		this.#delivery = this.#newTracker();
	}

	#trackerOf(id: string): DeliveryTracker {
		if (this.#delivery.delivery(id)) return this.#delivery;
		return this.#retiredDeliveries.find((t) => t.delivery(id)) ?? this.#delivery;
	}

	#changed() {
		this.#messages = undefined;
		this.#typing.reattach(); // a compaction moves the channel to a new envelope
		for (const listener of this.#changeListeners) listener();
		if (this.#listeners.size === 0) return; // the list is built lazily, only for subscribers
		const messages = this.messages;
		for (const listener of this.#listeners) listener(messages);
	}

	/** @internal Opened by its Space. */
	static async open(
		space: SpaceView,
		id: ChannelId,
		context: ClientContext,
		keys: KeyRing
	): Promise<Channel> {
		const document = channelIdBytes(id);
		const replica = await DocumentReplica.open<ChannelDoc>({
			space: space.idBytes,
			document,
			wire: context.wire,
			local: context.local,
			root: CHANNEL_DOC_ROOT,
			keys,
			signer: context.signer,
			validator: channelValidator(id, () => space.evaluation),
			generation: () => historyOf(space.document.channels?.[id]),
			currentEpoch: () => space.currentEpoch(document),
			segment: () => space.currentSegment(document),
			context: () => space.contextHeads
		});
		return new Channel(id, space, replica, context, keys);
	}

	get record(): ChannelRecord | undefined {
		return this.space.document.channels?.[this.id];
	}

	get name(): string {
		const resolved = singleValue(this.space.document, ['channels', this.id], 'name')?.value;
		return (resolved ?? this.record?.name)?.toString() ?? '';
	}

	/**
	 * What the channel is about ('' for no topic), set with `space.updateChannel(id, { topic })` by
	 * MANAGE_CHANNELS; concurrent edits resolve like a name (the later clock wins).
	 */
	get topic(): string {
		const resolved = singleValue(this.space.document, ['channels', this.id], 'topic')?.value;
		return (asString(resolved) ?? asString(this.record?.topic) ?? '').slice(0, MAX_TOPIC);
	}

	get durability(): Durability {
		return (asString(this.record?.durability) as Durability | undefined) ?? 'replicated';
	}

	/** @internal The channel document heads this device has (recorded as cut-offs by removals). */
	get heads(): string[] {
		return A.getHeads(this.replica.doc);
	}

	/**
	 * Messages in display order (creation time, then id), deleted ones left out.
	 *
	 * Built incrementally: Automerge's materialised document shares every object a change did not
	 * touch, so a bucket whose object is the one seen at the last build holds the same messages, and
	 * only the buckets a change touched are read again and merged into the sorted list. An incoming
	 * message in a channel of 10,000 then costs one bucket (≤ 128 messages), not a rebuild and sort of
	 * all 10,000 (test/authority/message-list.test.ts checks the result equals a full rebuild).
	 */
	get messages(): readonly Message[] {
		if (this.#messages) return this.#messages;
		const guaranteed = this.durability === 'guaranteed';
		const follow: string[] = [];
		const buckets = this.replica.doc.buckets ?? {};
		// only the buckets a change touched are read again; in them, a message that reads the same
		// keeps its object (and its place in the list): a new message costs one insertion, not n
		const added: Message[] = [];
		const removed: Message[] = [];
		const seen = new Set<string>();
		for (const [bucketId, bucket] of Object.entries(buckets)) {
			seen.add(bucketId);
			const before = this.#built.get(bucketId);
			if (before?.object === bucket) continue;
			// the document keeps the objects of messages no change touched: those are not read again
			const previous = before?.byId ?? new Map<string, { raw: unknown; message: Message }>();
			const byId = new Map<string, { raw: unknown; message: Message }>();
			const list: Message[] = [];
			for (const [id, m] of Object.entries(bucket ?? {})) {
				if (!m || m.deleted) continue;
				const known = previous.get(id);
				if (known?.raw === m) {
					previous.delete(id);
					byId.set(id, known);
					list.push(known.message);
					continue;
				}
				const read = readMessage(id, m, this.context.identity.userId);
				const old = known?.message;
				if (old && sameMessage(old, read)) {
					previous.delete(id);
					byId.set(id, { raw: m, message: old });
					list.push(old);
					continue;
				}
				byId.set(id, { raw: m, message: read });
				list.push(read);
				added.push(read);
			}
			// gone, or edited (its new version is added)
			for (const { message } of previous.values()) removed.push(message);
			this.#built.set(bucketId, { object: bucket, messages: list, byId });
		}
		for (const [bucketId, built] of this.#built)
			if (!seen.has(bucketId)) {
				this.#built.delete(bucketId);
				removed.push(...built.messages);
			}
		const sorted = this.#sorted;
		// a few changes by binary search, many (a first load, a sync) in one pass
		if (removed.length > 32) {
			const gone = new Set(removed);
			this.#sorted = sorted.filter((m) => !gone.has(m));
		} else
			for (const m of removed) {
				let at = insertionPoint(sorted, m) - 1;
				// a time that does not order (NaN from a peer) defeats the search: look it up
				if (sorted[at] !== m) at = sorted.indexOf(m);
				if (at >= 0) sorted.splice(at, 1);
			}
		added.sort(byDisplayOrder);
		if (added.length <= 32)
			for (const m of added) this.#sorted.splice(insertionPoint(this.#sorted, m), 0, m);
		else this.#sorted = mergeSorted(this.#sorted, added);
		// delivery is the tracker's, not the document's: read it again for every message that has one
		let shown: Message[];
		if (guaranteed)
			shown = this.#sorted.map((m) => {
				const delivery = this.#deliveryOf(m.id, follow);
				return delivery ? this.#withDelivery(m, delivery) : m;
			});
		else {
			// only messages this client sent since it opened carry a delivery: find those by bucket
			shown = this.#sorted.slice();
			for (const [bucketId, built] of this.#built) {
				if (!this.#sentHere(bucketId)) continue;
				for (const m of built.messages) {
					let at = insertionPoint(this.#sorted, m) - 1;
					if (shown[at] !== m) at = shown.indexOf(m);
					if (at < 0) continue;
					shown[at] = this.#withDelivery(m, this.#trackerOf(m.id).delivery(m.id) ?? 'pending');
				}
			}
		}
		this.#all = shown;
		this.#messages = this.#threads.split(shown);
		// messages first seen now are judged against the envelope as it is now (never earlier)
		if (follow.length) this.#delivery.track(follow);
		return this.#messages;
	}

	/** @internal Every message, those posted in threads too (search, moderation). */
	get allMessages(): readonly Message[] {
		void this.messages;
		return this.#all;
	}

	/**
	 * The thread under message `root`: its messages, a subscription, a composer's `send`. Refuses a
	 * message that is itself in a thread (no thread of a thread); a root not held here (yet) gives an
	 * empty thread.
	 */
	thread(root: string): Thread {
		if (typeof root !== 'string' || !root)
			throw new CharterError('invalid-argument', 'a thread is named by its root message id');
		const problem = rootProblem(this.#held(root) ?? {});
		if (problem) throw problem;
		return new Thread(this, root);
	}

	/** Every thread of the channel with a message in it. */
	threads(): Thread[] {
		void this.messages;
		return this.#threads.roots().map((root) => new Thread(this, root));
	}

	/** @internal The messages of the thread under `root` (Thread.messages). */
	threadMessages(root: string): readonly Message[] {
		void this.messages;
		return this.#threads.of(root);
	}

	/** `m` as shown with its delivery: the same object as last time while neither changed. */
	#withDelivery(m: Message, delivery: Delivery): Message {
		const last = this.#shownAs.get(m.id);
		if (last && last.base === m && last.shown.delivery === delivery) return last.shown;
		const shown = { ...m, delivery };
		this.#shownAs.set(m.id, { base: m, shown });
		return shown;
	}
	#shownAs = new Map<string, { base: Message; shown: Message }>();

	/** Per bucket: the document object last read, the messages it held, and each one's object. */
	#built = new Map<
		string,
		{ object: unknown; messages: Message[]; byId: Map<string, { raw: unknown; message: Message }> }
	>();
	/** Every message in display order, without delivery. */
	#sorted: Message[] = [];

	/** Sent by this client since it opened (its delivery is followed from the send on). */
	#sentHere(id: string): boolean {
		return this.#ownTags.has(id.slice(0, id.indexOf('.')));
	}

	/** The whole document and this client's own session (what is not in the current segment). */
	#whole() {
		return { doc: this.replica.doc, session: this.context.signer.session, segment: false };
	}

	/** Whether message `id` is in `doc` (a history segment's plaintext, or the whole document). */
	#heldIn(doc: ChannelDoc, id: string): boolean {
		for (const messages of Object.values(doc.buckets ?? {})) if (messages?.[id]) return true;
		return false;
	}

	/**
	 * Where a change of message `id` (in `bucket`) is made: in the current history segment when the
	 * message is in it, so a newcomer who reads the segment applies the change too; else on the
	 * whole document, where it depends on everything before it (docs/protocol.md §8.3).
	 */
	#whereFor(bucket: string, id: string): { segment: boolean } {
		const writing = this.replica.writing;
		return { segment: writing.segment && writing.doc.buckets?.[bucket]?.[id] !== undefined };
	}

	#deliveryOf(id: string, follow: string[]): Delivery {
		const known = this.#trackerOf(id).delivery(id);
		if (known) return known;
		// this session's own sends are followed by send() once their entry is in the envelope
		if (!this.#sentHere(id)) follow.push(id);
		return 'pending';
	}

	/**
	 * Messages not yet confirmed by a persistent node: in a guaranteed channel all of them, in any
	 * other the ones this client sent since it opened; plus this device's writes not yet in the
	 * envelope at all (a publication failed; they go out with the next write).
	 */
	get pending(): number {
		if (this.durability !== 'guaranteed')
			return (
				this.replica.unpublished +
				[this.#delivery, ...this.#retiredDeliveries].reduce((n, t) => n + t.pending, 0)
			);
		return (
			this.replica.unpublished + this.allMessages.filter((m) => m.delivery === 'pending').length
		);
	}

	/**
	 * Resolves once a persistent node (a sync server or home node) reported holding message `id`;
	 * rejects with `unavailable` after `timeoutMs` (default 30 s; the message stays pending) and with
	 * `invalid-argument` for a message whose delivery is not followed (not a guaranteed channel, and
	 * not sent by this client since it opened).
	 */
	whenStored(id: string, options: { timeoutMs?: number } = {}): Promise<void> {
		if (this.durability === 'guaranteed') void this.messages; // follows messages not seen yet
		return this.#trackerOf(id).whenStored(id, options.timeoutMs);
	}

	/** Calls `listener` with the message list now and after every change; returns an unsubscribe. */
	subscribe(listener: (messages: readonly Message[]) => void): () => void {
		this.#listeners.add(listener);
		listener(this.messages);
		return () => this.#listeners.delete(listener);
	}

	/** @internal Notifies of any change without building the message list. */
	onChange(listener: () => void): () => void {
		this.#changeListeners.add(listener);
		return () => this.#changeListeners.delete(listener);
	}

	/** An epoch to seal under: the current one, or one this member names (Space.ensureEpoch). */
	#requireKey(): Promise<Uint8Array> {
		return this.space.ensureEpoch(channelIdBytes(this.id));
	}

	/**
	 * Sends a message. In a guaranteed channel it resolves as soon as the message is sealed, with
	 * `delivery: 'pending'`; pass `{ awaitStored: true }` (or call `whenStored(id)`) to wait until a
	 * persistent node reported holding it.
	 */
	async send(text: string, options: SendOptions = {}): Promise<Message> {
		checkText(text);
		const { replyTo, thread } = options;
		if (thread !== undefined) {
			if (typeof thread !== 'string')
				throw new CharterError('invalid-argument', 'thread is a message id');
			const problem = rootProblem(this.#held(thread));
			if (problem) throw problem;
		}
		if (replyTo !== undefined) {
			if (typeof replyTo !== 'string')
				throw new CharterError('invalid-argument', 'replyTo is a message id');
			if (this.#find(replyTo).message.deleted)
				throw new CharterError('invalid-argument', 'that message was deleted');
		}
		const mentions = mentionKeys(options.mentions);
		await this.space.ensureDeviceRegistered();
		this.space.assertCanWrite(
			Permission.SEND_MESSAGES | Permission.VIEW_CHANNEL,
			'SEND_MESSAGES',
			this.id
		);
		if (mentions.some((k) => mentionKind(k) !== 'user'))
			this.space.assertCanWrite(Permission.MENTION_EVERYONE, 'MENTION_EVERYONE', this.id);
		await this.#requireKey();
		// an id someone else already took (a member squatting this session's next ids) is skipped:
		// the rules refuse a message made under an id its writer had seen taken
		// a reply in a thread goes where its root is: the current history segment, or (a root said
		// before the history was cut) the whole document — where a newcomer cannot read it
		const writing = this.replica.writing;
		const where =
			!writing.segment || !thread || this.#heldIn(writing.doc, thread) ? writing : this.#whole();
		const tag = hex.encode(where.session);
		this.#ownTags.add(tag);
		let n: number, bucket: string, id: string;
		do {
			n = this.#sent.get(tag) ?? 0;
			this.#sent.set(tag, n + 1);
			bucket = `${tag}.${Math.floor(n / MESSAGES_PER_BUCKET)}`;
			id = `${tag}.${n}`;
		} while (this.replica.doc.buckets?.[bucket]?.[id] !== undefined);
		const message: Message = {
			id,
			author: this.context.identity.userId,
			text,
			createdAt: Date.now(),
			...(replyTo ? { replyTo } : {}),
			...(thread ? { inThread: thread } : {})
		};
		const read = readMentions(Object.fromEntries(mentions.map((k) => [k, true])));
		if (read) message.mentions = read;
		await this.replica.change(
			(d) => {
				d.buckets[bucket] ??= {};
				d.buckets[bucket]![id] = {
					author: atom(message.author),
					text: new A.ImmutableString(text),
					createdAt: message.createdAt,
					...(replyTo ? { replyTo: atom(replyTo) } : {}),
					...(thread ? { thread: atom(thread) } : {}),
					...(mentions.length
						? { mentions: Object.fromEntries(mentions.map((k) => [k, true])) }
						: {})
				};
			},
			undefined,
			{ segment: where.segment }
		);
		// the envelope now holds this message's entry: a node must report heads that include these
		this.#delivery.track([id], A.getHeads(this.replica.envelope.doc()));
		void this.#typing.stop();
		message.delivery = this.#delivery.delivery(id);
		if (options.awaitStored) {
			await this.#delivery.whenStored(id, options.timeoutMs);
			message.delivery = 'stored';
		}
		return message;
	}

	/**
	 * This user is typing here: tells the other members (an ephemeral signal, at most one per
	 * `TYPING_THROTTLE_MS`; nothing when presence is turned off or this member may not send).
	 */
	async typing(): Promise<void> {
		const state = this.space.evaluation?.state;
		const me = this.context.identity.userId;
		if (!state?.can(me, Permission.SEND_MESSAGES | Permission.VIEW_CHANNEL, this.id)) return;
		await this.#typing.typing().catch(() => undefined);
	}

	/** This user cleared what they were typing (a send says so by itself). */
	async stopTyping(): Promise<void> {
		await this.#typing.stop().catch(() => undefined);
	}

	/** Other members typing here now (each shown until `TYPING_TTL_MS` after their last signal). */
	get typingUsers(): UserId[] {
		return this.#typing.users;
	}

	/** Called whenever `typingUsers` changes (a signal, a "stopped", an expiry). */
	onTyping(listener: (users: UserId[]) => void): () => void {
		return this.#typing.onChange(() => listener(this.#typing.users));
	}

	/** Typing signals sent, received, accepted and dropped (by reason). */
	get typingStats() {
		return this.#typing.stats;
	}

	/**
	 * Whether `message` mentions this user: by name, through one of their roles (as they are now),
	 * with @everyone, or with @here while they were online here (`space.presentAt`). A user's own
	 * message never does.
	 */
	mentionsMe(message: Pick<Message, 'mentions' | 'author' | 'createdAt'>): boolean {
		const m = message.mentions;
		const me = this.context.identity.userId;
		if (!m || message.author === me) return false;
		if (m.everyone || m.users.includes(me)) return true;
		if (m.here && this.space.presentAt(message.createdAt)) return true;
		if (!m.roles.length) return false;
		const roles = this.space.evaluation?.state.members.get(me)?.roles ?? [];
		return m.roles.some((r) => roles.includes(r));
	}

	/**
	 * Message `id` as shown now (edited or not); `'deleted'` once it was deleted; undefined if this
	 * device does not hold it (never written here, or not received yet). For a reply's preview.
	 */
	lookup(id: string): Message | 'deleted' | undefined {
		void this.messages; // brings the per-bucket reading up to date
		for (const built of this.#built.values()) {
			const found = built.byId.get(id);
			if (found) return found.message;
		}
		for (const bucket of Object.values(this.replica.doc.buckets ?? {}))
			if (bucket?.[id]?.deleted) return 'deleted';
		return undefined;
	}

	/** Message `id` as stored here (deleted or not), if held. */
	#held(id: string): StoredMessage | undefined {
		for (const bucket of Object.values(this.replica.doc.buckets ?? {}))
			if (bucket?.[id]) return bucket[id];
		return undefined;
	}

	#find(id: string) {
		for (const [bucket, messages] of Object.entries(this.replica.doc.buckets ?? {}))
			if (messages?.[id]) return { bucket, message: messages[id]! };
		throw new CharterError('invalid-argument', `no message ${id}`);
	}

	/** Edits one of this user's own messages. */
	async edit(id: string, text: string): Promise<void> {
		checkText(text);
		await this.space.ensureDeviceRegistered();
		const { bucket, message } = this.#find(id);
		if (asString(message.author) !== this.context.identity.userId)
			throw new CharterError('not-authorized', 'only the author edits a message');
		this.space.assertCanWrite(
			Permission.SEND_MESSAGES | Permission.VIEW_CHANNEL,
			'SEND_MESSAGES',
			this.id
		);
		await this.#requireKey();
		await this.replica.change(
			(d) => {
				const m = d.buckets[bucket]![id]!;
				m.text = new A.ImmutableString(text);
				m.editedAt = Date.now();
			},
			undefined,
			this.#whereFor(bucket, id)
		);
	}

	/** Deletes a message: one's own, or anyone's with MANAGE_MESSAGES. The text is cleared. */
	async delete(id: string): Promise<void> {
		const { bucket, message } = this.#find(id);
		const own = asString(message.author) === this.context.identity.userId;
		this.space.assertCanWrite(
			Permission.VIEW_CHANNEL | (own ? 0 : Permission.MANAGE_MESSAGES),
			own ? 'VIEW_CHANNEL' : 'MANAGE_MESSAGES',
			this.id
		);
		await this.#requireKey();
		await this.replica.change(
			(d) => {
				const m = d.buckets[bucket]![id]!;
				m.deleted = true;
				m.text = new A.ImmutableString('');
			},
			undefined,
			this.#whereFor(bucket, id)
		);
	}

	/**
	 * Reacts to a message with `emoji` (one emoji, or a short string such as `:tada:`; at most
	 * MAX_REACTION characters). Needs ADD_REACTIONS here. Reacting twice with one emoji changes
	 * nothing.
	 */
	async react(id: string, emoji: string): Promise<void> {
		const problem = reactionProblem(emoji);
		if (problem) throw new CharterError('invalid-argument', problem);
		await this.space.ensureDeviceRegistered();
		const { bucket, message } = this.#find(id);
		if (message.deleted) throw new CharterError('invalid-argument', 'that message was deleted');
		this.space.assertCanWrite(
			Permission.ADD_REACTIONS | Permission.VIEW_CHANNEL,
			'ADD_REACTIONS',
			this.id
		);
		const key = reactionKey(this.context.identity.userId, emoji);
		if (typeof message[key] === 'number') return;
		await this.#requireKey();
		await this.replica.change(
			(d) => {
				d.buckets[bucket]![id]![key] = Date.now();
			},
			undefined,
			this.#whereFor(bucket, id)
		);
	}

	/**
	 * Removes a reaction: this user's own (`user` left out), or another member's with
	 * MANAGE_MESSAGES. A reaction that is not there changes nothing.
	 */
	async unreact(id: string, emoji: string, user: UserId = this.context.identity.userId) {
		await this.space.ensureDeviceRegistered();
		const { bucket, message } = this.#find(id);
		const own = user === this.context.identity.userId;
		this.space.assertCanWrite(
			Permission.VIEW_CHANNEL | (own ? 0 : Permission.MANAGE_MESSAGES),
			own ? 'VIEW_CHANNEL' : 'MANAGE_MESSAGES',
			this.id
		);
		const key = reactionKey(user, emoji);
		if (typeof message[key] !== 'number') return;
		await this.#requireKey();
		await this.replica.change(
			(d) => {
				delete d.buckets[bucket]![id]![key];
			},
			undefined,
			this.#whereFor(bucket, id)
		);
	}

	/**
	 * The pinned messages, most recently pinned first: at most MAX_PINS, and only messages this
	 * device holds and that are not deleted (a deleted message's pin no longer shows).
	 */
	get pins(): readonly Pin[] {
		const doc = this.replica.doc;
		const pins: { key: string; bucket: string; message: string; at: number }[] = [];
		for (const key of Object.keys(doc)) {
			const parsed = parsePinKey(key);
			const at = doc[key as `pin:${string}`];
			if (parsed && typeof at === 'number') pins.push({ key, ...parsed, at });
		}
		if (!pins.length) return [];
		pins.sort((a, b) => b.at - a.at || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
		void this.messages; // brings the per-bucket reading up to date (deleted messages left out)
		const out: Pin[] = [];
		for (const p of pins) {
			const found = this.#built.get(p.bucket)?.byId.get(p.message)?.message;
			if (!found) continue;
			out.push({ message: found, pinnedAt: p.at });
			if (out.length === MAX_PINS) break;
		}
		return out;
	}

	/** Whether message `id` is pinned (and shown among `pins`). */
	isPinned(id: string): boolean {
		return this.pins.some((p) => p.message.id === id);
	}

	/**
	 * Pins a message (MANAGE_MESSAGES here): not a deleted one, and at most MAX_PINS per channel.
	 * Pinning a pinned message changes nothing.
	 */
	async pin(id: string): Promise<void> {
		await this.space.ensureDeviceRegistered();
		const { bucket, message } = this.#find(id);
		if (message.deleted) throw new CharterError('invalid-argument', 'that message was deleted');
		this.space.assertCanWrite(
			Permission.MANAGE_MESSAGES | Permission.VIEW_CHANNEL,
			'MANAGE_MESSAGES',
			this.id
		);
		// a pin goes where its message is; the cap counts the pins there (the rule counts them at the
		// heads the pin was made on)
		const where = this.#whereFor(bucket, id);
		const doc = where.segment ? this.replica.writing.doc : this.replica.doc;
		const key = pinKey(bucket, id);
		if (typeof doc[key] === 'number') return;
		const keys = Object.keys(doc).filter((k) => parsePinKey(k));
		// pins of messages deleted since count against the cap but show nowhere: at the cap, this
		// change takes them away (the rule counts the pins after the whole entry)
		const stale =
			keys.length < MAX_PINS
				? []
				: keys.filter((k) => {
						const { bucket: b, message: m } = parsePinKey(k)!;
						return doc.buckets?.[b]?.[m]?.deleted === true;
					});
		if (keys.length - stale.length >= MAX_PINS)
			throw new CharterError(
				'invalid-argument',
				`a channel pins at most ${MAX_PINS} messages: unpin one first`
			);
		await this.#requireKey();
		await this.replica.change(
			(d) => {
				for (const k of stale) delete d[k as `pin:${string}`];
				d[key] = Date.now();
			},
			undefined,
			where
		);
	}

	/** Unpins a message (MANAGE_MESSAGES here). A message that is not pinned changes nothing. */
	async unpin(id: string): Promise<void> {
		await this.space.ensureDeviceRegistered();
		this.space.assertCanWrite(
			Permission.MANAGE_MESSAGES | Permission.VIEW_CHANNEL,
			'MANAGE_MESSAGES',
			this.id
		);
		const keys = Object.keys(this.replica.doc).filter((k) => parsePinKey(k)?.message === id);
		if (!keys.length) return;
		const writing = this.replica.writing;
		const segment = writing.segment && keys.every((k) => k in writing.doc);
		await this.#requireKey();
		await this.replica.change(
			(d) => {
				for (const key of keys) delete d[key as `pin:${string}`];
			},
			undefined,
			{ segment }
		);
	}

	/** @internal Deletes every message of a user (moderation). */
	async deleteMessagesBy(user: UserId): Promise<number> {
		const doomed = this.allMessages.filter((m) => m.author === user);
		if (!doomed.length) return 0;
		this.space.assertCanWrite(
			Permission.MANAGE_MESSAGES | Permission.VIEW_CHANNEL,
			'MANAGE_MESSAGES',
			this.id
		);
		await this.#requireKey();
		// those in the current history segment are deleted there (a newcomer sees them go), the rest
		// on the whole document
		const placed = doomed.map((m) => {
			const { bucket } = this.#find(m.id);
			return { id: m.id, bucket, ...this.#whereFor(bucket, m.id) };
		});
		for (const segment of [true, false]) {
			const these = placed.filter((p) => p.segment === segment);
			if (!these.length) continue;
			await this.replica.change(
				(d) => {
					for (const { id, bucket } of these) {
						const stored = d.buckets[bucket]![id]!;
						stored.deleted = true;
						stored.text = new A.ImmutableString('');
					}
				},
				undefined,
				{ segment }
			);
		}
		return doomed.length;
	}

	/** @internal */
	reevaluate(): Promise<void> {
		const history = historyOf(this.record);
		if (history > this.replica.generation)
			void this.replica.advanceGeneration(history).then(
				() => this.#retarget(),
				() => undefined
			);
		return this.replica.reevaluate();
	}

	/** @internal Re-validates every entry (after a removal that may invalidate accepted ones). */
	rebuild(): Promise<void> {
		return this.replica.rebuild({
			validator: channelValidator(this.id, () => this.space.evaluation)
		});
	}

	/**
	 * Changes a new device would download for this channel: one per entry since the last compaction
	 * (plus one per fragment). A home node compacts when it passes `--compact-after`.
	 */
	get uncompacted(): number {
		return this.replica.envelopeChanges;
	}

	/** The channel's history generation on this device: how many times it was compacted. */
	get generation(): number {
		return this.replica.generation;
	}

	/**
	 * Compacts the channel's history (needs MANAGE_MESSAGES here): every entry this device holds is
	 * packed, verbatim and still signed by its author, into a few compressed fragments sealed under the
	 * channel's current epoch, in a new envelope; the space then records the new generation, and new
	 * devices download only that envelope. Entries written to the old one later are republished into
	 * the new one by whoever still follows it. See docs/protocol.md, "Compaction".
	 */
	async compact(): Promise<{ generation: number; fragments: number; entries: number }> {
		await this.space.ensureDeviceRegistered();
		this.space.assertCanWrite(
			Permission.MANAGE_MESSAGES | Permission.VIEW_CHANNEL,
			'MANAGE_MESSAGES',
			this.id
		);
		const epoch = await this.#requireKey();
		await this.replica.settled();
		const generation = Math.max(this.replica.generation, historyOf(this.record)) + 1;
		const packed = await this.replica.compact({ generation, epoch });
		await this.space.recordChannelHistory(this.id, generation);
		await this.replica.advanceGeneration(generation);
		this.#retarget();
		return { generation, ...packed };
	}

	/** Resolves once every entry received so far has been processed. */
	settled(): Promise<void> {
		return this.replica.settled();
	}

	get stats() {
		return this.replica.stats;
	}

	/** Entries refused, with reasons (audit). */
	get rejections() {
		return this.replica.rejections;
	}

	/** @internal */
	get envelope() {
		return this.replica.envelope;
	}

	/** @internal */
	close(): Promise<void> {
		this.#listeners.clear();
		this.#changeListeners.clear();
		this.#typing.close();
		this.#delivery.stop();
		for (const tracker of this.#retiredDeliveries) tracker.stop();
		return this.replica.close();
	}
}

function checkText(text: string) {
	if (typeof text !== 'string' || text.trim().length === 0)
		throw new CharterError('invalid-argument', 'a message needs some text');
	if (text.length > MAX_MESSAGE_LENGTH)
		throw new CharterError(
			'invalid-argument',
			`a message is at most ${MAX_MESSAGE_LENGTH} characters`
		);
}

function historyOf(record: ChannelRecord | undefined): number {
	const history = record?.history;
	return typeof history === 'number' && Number.isSafeInteger(history) && history > 0 ? history : 0;
}

/** Display order: creation time, then id. */
function byDisplayOrder(a: Message, b: Message): number {
	return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** A stored message as the API shows it (`me`: whose reactions are `mine`). */
function readMessage(id: string, m: StoredMessage, me: UserId): Message {
	const message: Message = {
		id,
		author: asString(m.author) as UserId,
		text: m.text?.toString() ?? '',
		createdAt: m.createdAt,
		...(m.editedAt ? { editedAt: m.editedAt } : {})
	};
	const replyTo = asString(m.replyTo);
	if (replyTo) message.replyTo = replyTo;
	const thread = asString(m.thread);
	if (thread) message.inThread = thread;
	const mentions = readMentions(m.mentions);
	if (mentions) message.mentions = mentions;
	const reactions = readReactions(m, me);
	if (reactions) message.reactions = reactions;
	return message;
}

/** The stored keys of `mentions` (`user:<id>`, `role:<id>`, `everyone`, `here`), checked. */
function mentionKeys(mentions: Partial<Mentions> | undefined): string[] {
	if (mentions === undefined) return [];
	if (typeof mentions !== 'object' || mentions === null)
		throw new CharterError('invalid-argument', 'mentions is an object');
	const keys = new Set<string>();
	for (const user of mentions.users ?? []) {
		if (typeof user !== 'string' || !user.startsWith('user_'))
			throw new CharterError('invalid-argument', `not a user id: ${String(user)}`);
		keys.add(`user:${user}`);
	}
	for (const role of mentions.roles ?? []) {
		if (typeof role !== 'string' || !role)
			throw new CharterError('invalid-argument', 'not a role id');
		keys.add(`role:${role}`);
	}
	if (mentions.everyone) keys.add('everyone');
	if (mentions.here) keys.add('here');
	for (const key of keys)
		if (!mentionKind(key)) throw new CharterError('invalid-argument', `cannot mention ${key}`);
	if (keys.size > MAX_MENTIONS)
		throw new CharterError('invalid-argument', `a message mentions at most ${MAX_MENTIONS}`);
	return [...keys];
}

/** A stored `mentions` map as the API shows it (undefined: none). */
function readMentions(stored: Record<string, unknown> | undefined): Mentions | undefined {
	if (!stored) return undefined;
	const users: UserId[] = [];
	const roles: string[] = [];
	let everyone = false;
	let here = false;
	for (const key of Object.keys(stored)) {
		if (key === 'everyone') everyone = true;
		else if (key === 'here') here = true;
		else if (key.startsWith('user:')) users.push(key.slice(5) as UserId);
		else if (key.startsWith('role:')) roles.push(key.slice(5));
	}
	if (!users.length && !roles.length && !everyone && !here) return undefined;
	return { users: users.sort(), roles: roles.sort(), everyone, here };
}

/** The reactions among a message's keys, grouped by emoji (a handful of keys: no index needed). */
function readReactions(m: StoredMessage, me: UserId): Reaction[] | undefined {
	let byEmoji: Map<string, { first: number; users: { user: UserId; at: number }[] }> | undefined;
	for (const key in m) {
		const parsed = parseReactionKey(key);
		if (!parsed) continue;
		const raw = m[key as `reaction:${string}`];
		const at = typeof raw === 'number' && Number.isFinite(raw) ? raw : 0;
		byEmoji ??= new Map();
		let entry = byEmoji.get(parsed.emoji);
		if (!entry) byEmoji.set(parsed.emoji, (entry = { first: at, users: [] }));
		entry.first = Math.min(entry.first, at);
		entry.users.push({ user: parsed.user, at });
	}
	if (!byEmoji) return undefined;
	const inOrder = (a: { at: number; id: string }, b: { at: number; id: string }) =>
		a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
	return [...byEmoji]
		.map(([emoji, { first, users }]) => ({ emoji, first, users }))
		.sort((a, b) => inOrder({ at: a.first, id: a.emoji }, { at: b.first, id: b.emoji }))
		.map(({ emoji, users }) => {
			const ordered = users
				.sort((a, b) => inOrder({ at: a.at, id: a.user }, { at: b.at, id: b.user }))
				.map((u) => u.user);
			return { emoji, count: ordered.length, users: ordered, mine: ordered.includes(me) };
		});
}

/** Whether two readings of a message show the same thing. */
function sameMessage(a: Message, b: Message): boolean {
	return (
		a.author === b.author &&
		a.text === b.text &&
		a.createdAt === b.createdAt &&
		a.editedAt === b.editedAt &&
		a.replyTo === b.replyTo &&
		a.inThread === b.inThread &&
		(a.mentions === b.mentions || JSON.stringify(a.mentions) === JSON.stringify(b.mentions)) &&
		sameReactions(a.reactions, b.reactions)
	);
}

function sameReactions(a: readonly Reaction[] | undefined, b: readonly Reaction[] | undefined) {
	if (a === b) return true;
	if (!a || !b || a.length !== b.length) return false;
	return a.every(
		(r, i) =>
			r.emoji === b[i]!.emoji &&
			r.mine === b[i]!.mine &&
			r.users.length === b[i]!.users.length &&
			r.users.every((u, j) => u === b[i]!.users[j])
	);
}

/** Where `m` goes in the sorted `list`: after every message that comes before it (or is it). */
function insertionPoint(list: readonly Message[], m: Message): number {
	let lo = 0;
	let hi = list.length;
	while (lo < hi) {
		const mid = (lo + hi) >>> 1;
		if (byDisplayOrder(list[mid]!, m) <= 0) lo = mid + 1;
		else hi = mid;
	}
	return lo;
}

/** Two sorted lists as one. */
function mergeSorted(a: readonly Message[], b: readonly Message[]): Message[] {
	const out: Message[] = new Array(a.length + b.length);
	let i = 0;
	let j = 0;
	let k = 0;
	while (i < a.length && j < b.length)
		out[k++] = byDisplayOrder(a[i]!, b[j]!) <= 0 ? a[i++]! : b[j++]!;
	while (i < a.length) out[k++] = a[i++]!;
	while (j < b.length) out[k++] = b[j++]!;
	return out;
}

/**
 * One thread of a channel: its root (as it is now; `'deleted'` once deleted — the thread stays
 * readable and open) and its messages. Get one with `channel.thread(rootId)`.
 */
export class Thread {
	/** @internal Made by `channel.thread`. */
	constructor(
		readonly channel: Channel,
		readonly rootId: string
	) {}

	/** The root as shown now; `'deleted'`; undefined while this device does not hold it. */
	get root(): Message | 'deleted' | undefined {
		return this.channel.lookup(this.rootId);
	}

	/** The thread's messages in display order (not the root). */
	get messages(): readonly Message[] {
		return this.channel.threadMessages(this.rootId);
	}

	/** The summary the root shows (undefined: nothing posted in the thread yet). */
	get summary(): ThreadSummary | undefined {
		const messages = this.messages;
		return messages.length ? summaryOf(messages) : undefined;
	}

	/** Calls `listener` with the thread's messages now and whenever they change; returns an unsubscribe. */
	subscribe(listener: (messages: readonly Message[]) => void): () => void {
		let last: readonly Message[] | undefined;
		return this.channel.subscribe(() => {
			const messages = this.messages;
			if (messages === last) return;
			last = messages;
			listener(messages);
		});
	}

	/** Posts in the thread (needs SEND_MESSAGES, as any message). */
	send(text: string, options: Omit<SendOptions, 'thread'> = {}): Promise<Message> {
		return this.channel.send(text, { ...options, thread: this.rootId });
	}
}
