/**
 * Svelte 5 bindings for Charter: reactive views over a client, its spaces and their channels.
 *
 * Each view is backed by `createSubscriber` (svelte/reactivity): reading a getter inside an effect
 * or a component's template subscribes to the underlying object, and the subscription ends when the
 * last effect reading it is destroyed — so navigating away from a space or channel leaks nothing.
 * Spaces and channels change in place; every getter therefore returns a fresh snapshot (new arrays,
 * new objects) so that Svelte sees the change.
 *
 *   const live = liveCharter(client);
 *   {#each live.spaces as space (space.id)} {liveSpace(space).name} {/each}
 */
import { createSubscriber } from 'svelte/reactivity';
import {
	Permission,
	type Ban,
	type Channel,
	type Charter,
	type Durability,
	type Invite,
	type Member,
	type Message,
	type Pin,
	type PeerSyncStatus,
	type PermissionName,
	type Profile,
	type Role,
	type SettingChange,
	type Space,
	type SuccessionInfo,
	type DeletedSpace,
	type SyncServerStatus,
	type Thread,
	type ThreadUnread,
	type UnreadInfo,
	type NotificationLevel,
	type UserId
} from '../index.js';

/**
 * A `createSubscriber` over a `subscribe(listener) => unsubscribe` source. Charter's `subscribe`
 * calls the listener at once; that first call is skipped (the getter is reading the value anyway).
 */
export function subscriberOf(subscribe: (listener: () => void) => () => void): () => void {
	return createSubscriber((update) => {
		let started = false;
		const stop = subscribe(() => {
			if (started) update();
		});
		started = true;
		return stop;
	});
}

/** A reactive view of a client: identity, spaces, devices. */
export class LiveCharter {
	readonly #track: () => void;

	constructor(readonly client: Charter) {
		this.#track = subscriberOf((listener) => client.subscribe(listener));
	}

	get identity() {
		this.#track();
		return this.client.identity;
	}

	get spaces(): Space[] {
		this.#track();
		return this.client.spaces;
	}

	get devices() {
		this.#track();
		return this.client.devices;
	}

	/** Whether this user shows others they are online and typing (off: "appear offline"). */
	get sharePresence(): boolean {
		this.#track();
		return this.client.sharePresence;
	}

	/** This user's recovery friends and threshold, when set up (on any of their devices). */
	get friendRecovery() {
		this.#track();
		return this.client.friendRecovery;
	}

	/** Spaces their owner deleted: forgotten here, listed so the app can say so. */
	get deletedSpaces(): DeletedSpace[] {
		this.#track();
		return this.client.deletedSpaces;
	}

	/** This user's own signed profile, as found in any space that holds it. */
	get profile(): Profile | undefined {
		this.#track();
		const me = this.client.identity?.userId;
		if (!me) return undefined;
		let newest: Profile | undefined;
		for (const space of this.client.spaces) {
			const p = space.profile(me);
			if (p && (!newest || p.updatedAt > newest.updatedAt)) newest = p;
		}
		return newest;
	}
}

export interface ChannelView {
	id: Channel['id'];
	name: string;
	/** What the channel is about ('' for none). */
	topic: string;
	durability: Durability;
	position: number;
	/** @everyone is denied VIEW_CHANNEL. */
	isPrivate: boolean;
	/** Permission overwrites, by `role:<id>` or `user:<id>`. */
	overwrites: { target: string; allow: PermissionName[]; deny: PermissionName[] }[];
	channel: Channel;
}

const PERMISSION_LIST = Object.keys(Permission) as PermissionName[];
const names = (bits: number) => PERMISSION_LIST.filter((p) => (bits & Permission[p]) !== 0);

/** A reactive view of one space. */
export class LiveSpace {
	readonly #track: () => void;
	readonly #trackPresence: () => void;

	constructor(readonly space: Space) {
		this.#track = subscriberOf((listener) => space.subscribe(listener));
		this.#trackPresence = createSubscriber((update) => space.onPresence(() => update()));
	}

	/** Whether a member is online (seen within the last minute; presence signals, never stored). */
	isOnline(user: UserId): boolean {
		this.#trackPresence();
		return this.space.isOnline(user);
	}

	get id() {
		return this.space.id;
	}

	/** Subscribes the reading effect to every change of the space and its channels. */
	track(): void {
		this.#track();
	}

	get name(): string {
		this.#track();
		return this.space.name;
	}

	get ready(): boolean {
		this.#track();
		return this.space.ready;
	}

	get isMember(): boolean {
		this.#track();
		return this.space.isMember;
	}

	get isBanned(): boolean {
		this.#track();
		return this.space.isBanned;
	}

	get owner(): UserId | undefined {
		this.#track();
		return this.space.owner;
	}

	/** The successors named in advance, the quorum, and the approvals of this term. */
	get succession(): SuccessionInfo {
		this.#track();
		return this.space.succession;
	}

	get channels(): ChannelView[] {
		this.#track();
		return this.space.channels.map((channel) => {
			const record = channel.record;
			const overwrites = Object.entries(record?.overwrites ?? {}).map(([target, o]) => ({
				target,
				allow: names(o.allow),
				deny: names(o.deny)
			}));
			const everyone = record?.overwrites?.['role:everyone'];
			return {
				id: channel.id,
				name: channel.name,
				topic: channel.topic,
				durability: channel.durability,
				position: record?.position ?? 0,
				isPrivate: !!everyone && (everyone.deny & Permission.VIEW_CHANNEL) !== 0,
				overwrites,
				channel
			};
		});
	}

	get members(): Member[] {
		this.#track();
		return this.space.members;
	}

	get roles(): Role[] {
		this.#track();
		return this.space.roles;
	}

	get bans(): Ban[] {
		this.#track();
		return this.space.bans;
	}

	get invites(): Invite[] {
		this.#track();
		return this.space.invites.sort((a, b) => b.createdAt - a.createdAt);
	}

	/** Entries of the space and its channels that peers sent and this device refused, with reasons. */
	get rejections(): { entry: string; reason: string; where: string }[] {
		this.#track();
		return [
			...this.space.rejections.map((r) => ({ ...r, where: 'space' })),
			...this.space.channels.flatMap((c) =>
				c.rejections.map((r) => ({ ...r, where: `#${c.name}` }))
			)
		];
	}

	/** Space entries waiting for a key or a dependency. */
	get waiting(): { entry: string; reason: string }[] {
		this.#track();
		return [...this.space.waiting];
	}

	can(permission: PermissionName, channel?: Channel['id']): boolean {
		this.#track();
		return this.space.can(permission, channel);
	}

	profile(user: UserId): Profile | undefined {
		this.#track();
		return this.space.profile(user);
	}

	/** The space's name and who set it last (concurrent renames: the later clock wins). */
	get nameChange(): SettingChange | undefined {
		this.#track();
		return this.space.nameChange;
	}

	/** A channel's name and who set it last (concurrent renames: the later clock wins). */
	channelNameChange(id: Channel['id']): SettingChange | undefined {
		this.#track();
		return this.space.channelNameChange(id);
	}

	/** A role's name and who set it last (concurrent renames: the later clock wins). */
	roleNameChange(id: Role['id']): SettingChange | undefined {
		this.#track();
		return this.space.roleNameChange(id);
	}

	/**
	 * How to call a member here: nickname, then display name, then a short id. Former members (left,
	 * kicked, banned) keep the nickname and profile they had when they left.
	 */
	displayName(user: UserId): string {
		this.#track();
		const member = this.space.members.find((m) => m.user === user);
		const former = member ? undefined : this.space.formerMember(user);
		return (
			member?.nickname ||
			member?.displayName ||
			former?.nickname ||
			this.space.profile(user)?.displayName ||
			shortId(user)
		);
	}
}

/** A reactive view of one channel's messages. */
export class LiveChannel {
	readonly #track: () => void;

	readonly #trackTyping: () => void;

	constructor(readonly channel: Channel) {
		this.#track = subscriberOf((listener) => channel.subscribe(listener));
		this.#trackTyping = createSubscriber((update) => channel.onTyping(() => update()));
	}

	/** Other members typing here now (each until a few seconds after their last keystroke). */
	get typingUsers(): UserId[] {
		this.#trackTyping();
		return this.channel.typingUsers;
	}

	/** A new array after every change (the channel rebuilds its list lazily). */
	get messages(): readonly Message[] {
		this.#track();
		return this.channel.messages;
	}

	/** The messages of the thread under `root` (a new array when they change). */
	thread(root: string): readonly Message[] {
		this.#track();
		return this.channel.threadMessages(root);
	}

	/** The pinned messages, most recently pinned first (a new array after every change). */
	get pins(): readonly Pin[] {
		this.#track();
		return this.channel.pins;
	}
}

/**
 * The user's unread state and notification levels, live: changes when a message arrives (the
 * space's change) and when a read marker or a level changes on any of the user's devices.
 */
export class LiveReadState {
	readonly #track: () => void;

	constructor(readonly client: Charter) {
		this.#track = subscriberOf((listener) => client.readState.subscribe(listener));
	}

	/** Unread messages, mentions and the first unread message of one channel. */
	channel(space: Space, channel: Channel): UnreadInfo {
		this.#track();
		liveSpace(space).track();
		return this.client.readState.channel(space, channel);
	}

	/** Unread messages and mentions over a space's channels. */
	space(space: Space): UnreadInfo {
		this.#track();
		liveSpace(space).track();
		return this.client.readState.space(space);
	}

	/** Unread messages and mentions of one thread (its own marker). */
	thread(space: Space, thread: Thread): UnreadInfo {
		this.#track();
		liveSpace(space).track();
		return this.client.readState.thread(space, thread);
	}

	/** The threads of a space the user took part in, newest first, with their unread state. */
	threads(space: Space): ThreadUnread[] {
		this.#track();
		liveSpace(space).track();
		return this.client.readState.threads(space);
	}

	/** The level set for a space or a channel (`default`: follow the space, or notify all). */
	level(target: Space['id'] | Channel['id']): NotificationLevel {
		this.#track();
		return this.client.notificationSettings.level(target);
	}

	/** What applies to a channel (or a space): all, mentions or none. */
	effective(space: Space['id'], channel?: Channel['id']) {
		this.#track();
		return this.client.notificationSettings.effective(space, channel);
	}
}

/** Online/offline and what the connected peers hold, polled once a second while shown. */
export class LiveSync {
	readonly #track: () => void;

	constructor(
		readonly client: Charter,
		intervalMs = 1000
	) {
		this.#track = createSubscriber((update) => {
			const timer = setInterval(update, intervalMs);
			const stop = client.subscribe(update);
			addEventListener('online', update);
			addEventListener('offline', update);
			return () => {
				clearInterval(timer);
				stop();
				removeEventListener('online', update);
				removeEventListener('offline', update);
			};
		});
	}

	get peers(): string[] {
		this.#track();
		return [...this.client.peers];
	}

	get status(): PeerSyncStatus[] {
		this.#track();
		return this.client.syncStatus();
	}

	/** The browser has a network and a sync server (a peer that stores) is connected. */
	get online(): boolean {
		this.#track();
		return (
			(typeof navigator === 'undefined' || navigator.onLine) &&
			this.client.syncStatus().some((p) => p.storageId && !isClientPeer(p.peer))
		);
	}

	/** Every sync server the client dials — configured, or named by an invite or link code. */
	get serverList(): SyncServerStatus[] {
		this.#track();
		return this.client.syncServers;
	}

	/** Connected sync servers (peers that store), as opposed to other devices or tabs. */
	get servers(): number {
		this.#track();
		return this.client.syncStatus().filter((p) => p.storageId && !isClientPeer(p.peer)).length;
	}
}

/** Another Charter client (a tab, a device) rather than a sync server or node: its peer id format. */
export function isClientPeer(peer: string): boolean {
	return /^charter-[0-9a-f]{16}$/.test(peer);
}

const spaces = new WeakMap<Space, LiveSpace>();
const channels = new WeakMap<Channel, LiveChannel>();
const clients = new WeakMap<Charter, LiveCharter>();
const readStates = new WeakMap<Charter, LiveReadState>();

/** The (cached) reactive view of a client's read state and notification levels. */
export function liveReadState(client: Charter): LiveReadState {
	let live = readStates.get(client);
	if (!live) readStates.set(client, (live = new LiveReadState(client)));
	return live;
}

/** The (cached) reactive view of a client. */
export function liveCharter(client: Charter): LiveCharter {
	let live = clients.get(client);
	if (!live) clients.set(client, (live = new LiveCharter(client)));
	return live;
}

/** The (cached) reactive view of a space. */
export function liveSpace(space: Space): LiveSpace {
	let live = spaces.get(space);
	if (!live) spaces.set(space, (live = new LiveSpace(space)));
	return live;
}

/** The (cached) reactive view of a channel. */
export function liveChannel(channel: Channel): LiveChannel {
	let live = channels.get(channel);
	if (!live) channels.set(channel, (live = new LiveChannel(channel)));
	return live;
}

/** `user_3xK…q9` → `3xK9…q9Zt`: short enough for a list, distinct enough to tell apart. */
export function shortId(user: string): string {
	const body = user.replace(/^[a-z]+_/, '');
	return body.length > 10 ? `${body.slice(0, 6)}…${body.slice(-4)}` : body;
}
