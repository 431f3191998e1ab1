/**
 * The web client's shared state: the open client, what is selected, which dialog is open, and the
 * notices (errors and confirmations) shown to the user. One instance per page, found by context.
 */
import { getContext, setContext } from 'svelte';
import {
	isCharterError,
	LINK_PREFIX,
	type Channel,
	type Charter,
	type NotifyEvent,
	type SettingChange,
	type Space,
	type Thread,
	type UserId
} from '../../index.js';
import {
	liveCharter,
	liveReadState,
	liveSpace,
	shortId,
	type LiveCharter,
	type LiveReadState
} from '../index.svelte.js';

export type DialogName =
	| ''
	| 'add-space'
	| 'space-settings'
	| 'user-settings'
	| 'sync'
	| 'create-channel'
	| 'notifications';

/** A notification's body shows at most this much of the message. */
const NOTIFICATION_TEXT = 140;
/** A thread's notification names it by this much of its root's text. */
const NOTIFICATION_THREAD = 40;
/** `text` on one line, cut to `max` characters with an ellipsis. */
const clip = (text: string, max: number) => {
	const flat = text.replace(/\s+/g, ' ').trim();
	return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

export interface Notice {
	id: number;
	kind: 'error' | 'info';
	text: string;
}

const KEY = Symbol('charter-app');
const SERVERS_KEY = 'charter.syncServers';
const LAST_KEY = 'charter.last';
const NAME_KEY = 'charter.displayName';

/** The sync server that serves this page, as a WebSocket URL. */
export function originServer(): string {
	return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
}

/** Sync servers chosen in settings (this browser), or the page's own origin. */
export function configuredServers(): string[] {
	try {
		const saved = JSON.parse(localStorage.getItem(SERVERS_KEY) ?? 'null') as unknown;
		if (Array.isArray(saved) && saved.every((s) => typeof s === 'string')) return saved;
	} catch {
		/* fall through */
	}
	return [originServer()];
}

export function saveServers(servers: string[]) {
	localStorage.setItem(SERVERS_KEY, JSON.stringify(servers));
}

const INVITE_PREFIX = LINK_PREFIX.invite;
/** `#/join/<invite>`: the part of an invite web link after the page's address. */
const JOIN_FRAGMENT = /^#\/join\/([A-Za-z0-9_-]+)$/;

/**
 * An invite as a web link to this client: `https://<host>/#/join/<invite>`. The invite (and its
 * secret) is in the fragment, which browsers never send to the host — the site serving the client
 * learns nothing from a click on it.
 */
export function inviteWebLink(invite: string): string {
	const payload = invite.startsWith(INVITE_PREFIX) ? invite.slice(INVITE_PREFIX.length) : invite;
	return `${location.origin}${location.pathname}#/join/${payload}`;
}

/**
 * The invite this page was opened with (`…/#/join/<invite>`), taken out of the address bar so it
 * stays out of the history and of a bookmark; '' when there is none.
 */
export function takeInviteFromLocation(): string {
	const match = JOIN_FRAGMENT.exec(location.hash);
	if (!match) return '';
	history.replaceState(history.state, '', location.pathname + location.search);
	return `${INVITE_PREFIX}${match[1]}`;
}

/** The databases Charter.open uses in this browser by default (see `browserStores`). */
const DATABASES = ['charter-wire', 'charter-local', 'charter-secrets'];

/**
 * Forgets everything this browser holds of Charter — identity, keys, replicas — then reloads to the
 * welcome screen. Used only to back out of a restore that found nothing.
 */
export async function forgetThisBrowser(client: Charter | undefined): Promise<void> {
	await client?.close();
	await Promise.all(
		DATABASES.map(
			(name) =>
				new Promise<void>((resolve) => {
					const request = indexedDB.deleteDatabase(name);
					request.onsuccess = request.onerror = request.onblocked = () => resolve();
				})
		)
	);
	localStorage.removeItem(LAST_KEY);
	localStorage.removeItem(NAME_KEY);
	location.reload();
}

export function describeError(e: unknown): string {
	if (isCharterError(e)) return e.message.charAt(0).toUpperCase() + e.message.slice(1);
	return e instanceof Error ? e.message : String(e);
}

/**
 * "Renamed by Ada on another device, 1 Dec 10:42 — at about the same time it was also renamed to
 * “Book club”; the later edit wins." for a name set on another device; '' for one set here.
 */
export function describeRename(
	change: SettingChange | undefined,
	me: UserId | undefined,
	displayName: (user: UserId) => string
): string {
	if (!change || change.thisDevice || !change.at) return '';
	const who = change.by ? (change.by === me ? 'you' : displayName(change.by)) : 'someone';
	const lost = change.overruled.length
		? ` — at about the same time it was also renamed to “${change.overruled.join('”, “')}”; the later edit wins.`
		: '.';
	// eslint-disable-next-line svelte/prefer-svelte-reactivity -- formatted once, not state
	const when = new Date(change.at).toLocaleString();
	return `Renamed by ${who} on another device, ${when}${lost}`;
}

/** A question the app asks before a destructive action (instead of the browser's confirm()). */
export interface Confirmation {
	title: string;
	text: string;
	/** The button that does it, e.g. "Delete channel". */
	action: string;
	danger: boolean;
	answer: (yes: boolean) => void;
}

export class App {
	client = $state.raw<Charter>();
	live = $state.raw<LiveCharter>();
	/** Unread counts and notification levels (the user's, from their account). */
	reads = $state.raw<LiveReadState>();
	/** What the notification settings dialog is for: a space, or one of its channels. */
	notificationTarget = $state.raw<{ space: Space; channel?: Channel }>();
	/** The channel shown at its newest message (it is marked read while the page is visible). */
	#atBottom: { space: Space; channel: Channel } | undefined;
	/** Where each channel's "new messages" divider goes, fixed when the channel is opened. */
	// eslint-disable-next-line svelte/prefer-svelte-reactivity -- fixed once per opening, not state
	#dividers = new Map<string, string | undefined>();
	failure = $state('');
	notices = $state<Notice[]>([]);
	busy = $state(false);
	dialog = $state<DialogName>('');
	settingsTab = $state('overview');
	userTab = $state('profile');
	/** Shown once after creating an identity, until the user has confirmed it. */
	phrase = $state('');
	spaceId = $state('');
	channelId = $state('');
	/** A message to show once its channel is open (a search result): MessageView scrolls to it. */
	jump = $state.raw<{ channel: string; message: string }>();
	/** The thread open in the side panel (ThreadPanel), by its channel and root message. */
	thread = $state.raw<{ channel: string; root: string }>();
	/** The thread shown in the panel while its newest message is in view: it is read too. */
	#threadShown: Thread | undefined;
	/** The member pop-over open now: whose, in which space, and where (below the name clicked). */
	memberCard = $state.raw<{ space: Space; user: UserId; x: number; y: number }>();
	/** A mention asked for elsewhere (the member pop-over): MessageView puts it in the composer. */
	mention = $state.raw<{ user: UserId }>();
	/**
	 * "Message in a new thread" in a member's pop-over: MessageView's composer starts a thread with
	 * them — the message sent mentions them and becomes the root; the thread opens beside it.
	 */
	newThread = $state.raw<{ user: UserId }>();
	drawerOpen = $state(false);
	/** The member list starts open on wide screens only (on a phone it covers the chat). */
	membersOpen = $state(typeof innerWidth === 'number' ? innerWidth > 1000 : true);
	/** Invite links created in this session, by invite id (a link is shown only when created). */
	inviteLinks = $state<Record<string, string>>({});
	#noticeId = 0;
	/** The open confirmation, if any (ConfirmDialog shows it above every other dialog). */
	confirmation = $state.raw<Confirmation>();
	/** The display name last set on this device: shown while no space holds the signed profile. */
	localName = $state(globalThis.localStorage?.getItem(NAME_KEY) ?? '');

	/** An invite this page was opened with, waiting for the user to join (after onboarding). */
	pendingInvite = $state('');
	/** Keeps onboarding on screen after the identity exists (a restore is being checked). */
	holdOnboarding = $state(false);

	constructor() {
		if (typeof location !== 'undefined') this.pendingInvite = takeInviteFromLocation();
		try {
			const last = JSON.parse(localStorage.getItem(LAST_KEY) ?? '{}') as Record<string, string>;
			this.spaceId = last.space ?? '';
			this.channelId = last.channel ?? '';
		} catch {
			/* nothing remembered */
		}
	}

	attach(client: Charter) {
		this.client = client;
		this.live = liveCharter(client);
		this.reads = liveReadState(client);
		client.notificationSettings.onNotify((e) => this.#showNotification(e));
		document.addEventListener('visibilitychange', () => this.#markShownRead());
		// a tab is rarely closed cleanly (close() never runs): leave its stores compacted whenever
		// it goes to the background, so the next open loads one snapshot per envelope
		document.addEventListener('visibilitychange', () => {
			if (document.visibilityState === 'hidden') void client.compactStores().catch(() => 0);
		});
		addEventListener('focus', () => this.#markShownRead());
		this.offerPendingInvite();
	}

	/**
	 * A message the user's levels say should notify: a system notification while the page is
	 * hidden (when it shows, the user sees the channel's unread badge instead). One per message
	 * (`tag`), so several tabs of the app show it once; a click opens its channel — and its thread,
	 * for a message in a thread the user follows ("#general › Which book first? · Book club").
	 */
	#showNotification({ space, channel, thread, message, mention }: NotifyEvent) {
		if (document.visibilityState === 'visible') return;
		if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
		const live = liveSpace(space);
		const root = thread?.root;
		const where = thread
			? `#${channel.name} › ${root && root !== 'deleted' ? clip(root.text, NOTIFICATION_THREAD) : 'thread'}`
			: `#${channel.name}`;
		try {
			const n = new Notification(`${mention ? 'Mention in ' : ''}${where} · ${live.name}`, {
				body: `${live.displayName(message.author)}: ${clip(message.text, NOTIFICATION_TEXT)}`,
				tag: message.id
			});
			n.onclick = () => {
				focus();
				this.select(space.id, channel.id);
				if (thread) this.thread = { channel: channel.id, root: thread.rootId };
				n.close();
			};
		} catch {
			/* a browser that refuses page notifications (some mobile ones): the badge says it */
		}
	}

	/**
	 * Asks for permission to notify, once, when the user first opens notification settings (never
	 * on load: a browser shows the question then, and a user who did not ask for it says no).
	 */
	askNotificationPermission() {
		if (typeof Notification === 'undefined' || Notification.permission !== 'default') return;
		void Notification.requestPermission()
			.then((answer) => (this.notificationPermission = answer))
			.catch(() => undefined);
	}

	/** The browser's answer to "may Charter notify?" (`unsupported` without the API). */
	notificationPermission = $state<NotificationPermission | 'unsupported'>(
		typeof Notification === 'undefined' ? 'unsupported' : Notification.permission
	);

	openNotifications(space: Space, channel?: Channel) {
		this.notificationTarget = { space, ...(channel ? { channel } : {}) };
		this.dialog = 'notifications';
		this.askNotificationPermission();
	}

	/**
	 * The message view calls this with the channel it shows at its newest message (`undefined`
	 * when the reader scrolled up): that channel is read while the page is visible.
	 */
	reading(space: Space | undefined, channel: Channel | undefined) {
		this.#atBottom = space && channel ? { space, channel } : undefined;
		// the divider is placed before the channel is marked read
		if (space && channel) this.dividerOf(space, channel);
		this.#markShownRead();
	}

	/** The thread panel calls this with the thread it shows (`undefined` once closed). */
	readingThread(thread: Thread | undefined) {
		this.#threadShown = thread;
		this.#markShownRead();
	}

	#markShownRead() {
		const thread = this.#threadShown;
		if (thread && this.client && document.visibilityState === 'visible')
			try {
				this.client.readState.markThreadRead(thread);
			} catch {
				/* the account is not open yet: marked on the next change */
			}
		const shown = this.#atBottom;
		if (!shown || !this.client || document.visibilityState !== 'visible') return;
		try {
			this.client.readState.markRead(shown.channel);
		} catch {
			/* the account is not open yet: marked on the next change */
		}
	}

	/**
	 * The first message that was unread when the channel was opened (the "new messages" divider
	 * stays there while the channel is shown, even once it is marked read).
	 */
	dividerOf(space: Space, channel: Channel): string | undefined {
		if (this.#dividers.has(channel.id)) return this.#dividers.get(channel.id);
		const info = this.reads?.channel(space, channel);
		// nothing arrived yet: decide when the first messages do
		if (!info || !channel.messages.length) return undefined;
		this.#dividers.set(channel.id, info.firstUnread);
		return info.firstUnread;
	}

	/** Once there is an identity and onboarding is done: the join flow for the invite link opened. */
	offerPendingInvite() {
		if (this.pendingInvite && this.client?.identity && !this.phrase && !this.holdOnboarding)
			this.dialog = 'add-space';
	}

	/**
	 * How this user is called where no space says otherwise: the signed profile, the name set on this
	 * device, or a short id. Every avatar of the user's own takes its letter from it.
	 */
	get myName(): string {
		const me = this.live?.identity?.userId ?? '';
		return this.live?.profile?.displayName || this.localName || shortId(me);
	}

	/**
	 * A space this device created or joined gets the user's profile, also after a reload (the library
	 * keeps the profile set before the first space only in memory).
	 */
	async shareProfileWith(space: Space) {
		const name = this.live?.profile?.displayName || this.localName;
		const me = this.client?.identity?.userId;
		if (!name || !me || space.profile(me)) return;
		await this.client
			?.setProfile({
				displayName: name,
				...(this.live?.profile?.avatar ? { avatar: this.live.profile.avatar } : {})
			})
			.catch(() => undefined);
	}

	/** The selected space (or the first one). */
	get space(): Space | undefined {
		const spaces = this.live?.spaces ?? [];
		return spaces.find((s) => s.id === this.spaceId) ?? spaces[0];
	}

	rememberName(name: string) {
		this.localName = name;
		localStorage.setItem(NAME_KEY, name);
	}

	/** Opens the member pop-over for `user` under the element clicked (`event.currentTarget`). */
	openMember(space: Space, user: UserId, event: MouseEvent) {
		const box = (event.currentTarget as HTMLElement | null)?.getBoundingClientRect();
		this.memberCard = {
			space,
			user,
			x: box?.left ?? event.clientX,
			y: box?.bottom ?? event.clientY
		};
	}

	select(spaceId: string, channelId = '') {
		// the channel left and the one opened show their divider afresh next time
		this.#dividers.clear();
		if (this.thread && this.thread.channel !== channelId) this.thread = undefined;
		this.spaceId = spaceId;
		this.channelId = channelId;
		this.drawerOpen = false;
		localStorage.setItem(LAST_KEY, JSON.stringify({ space: spaceId, channel: channelId }));
	}

	/** The selected channel of the selected space (or its first). */
	get channel() {
		const space = this.space;
		if (!space) return undefined;
		const channels = liveSpace(space).channels;
		return channels.find((c) => c.id === this.channelId) ?? channels[0];
	}

	notify(text: string, kind: Notice['kind'] = 'info', ms = kind === 'error' ? 8000 : 3500) {
		const id = ++this.#noticeId;
		this.notices = [...this.notices.slice(-2), { id, kind, text }];
		setTimeout(() => this.dismiss(id), ms);
	}

	dismiss(id: number) {
		this.notices = this.notices.filter((n) => n.id !== id);
	}

	/** Runs an action; a refusal (CharterError) or failure becomes an error notice. */
	async act<T>(fn: (client: Charter) => Promise<T>, done?: string): Promise<T | undefined> {
		const client = this.client;
		if (!client) return undefined;
		this.busy = true;
		try {
			const result = await fn(client);
			if (done) this.notify(done);
			return result;
		} catch (e) {
			this.notify(describeError(e), 'error');
			return undefined;
		} finally {
			this.busy = false;
		}
	}

	/** Asks in the app's own dialog; resolves true if the user confirms. */
	confirm(
		title: string,
		text: string,
		{ action = 'Confirm', danger = true }: { action?: string; danger?: boolean } = {}
	): Promise<boolean> {
		this.confirmation?.answer(false);
		return new Promise((resolve) => {
			this.confirmation = {
				title,
				text,
				action,
				danger,
				answer: (yes) => {
					this.confirmation = undefined;
					resolve(yes);
				}
			};
		});
	}

	/** Removes a space from the user's devices, after asking (members and servers keep theirs). */
	async forgetSpace(space: Space, name: string): Promise<boolean> {
		const yes = await this.confirm(
			`Remove ${name} from your devices?`,
			'It disappears from this browser and your other devices. Nothing is deleted for anyone else: members and sync servers keep their copies.',
			{ action: 'Remove' }
		);
		if (!yes) return false;
		return !!(await this.act(
			(c) => c.forgetSpace(space.id).then(() => true),
			'Space removed from your devices'
		));
	}

	openSettings(tab = 'overview') {
		this.settingsTab = tab;
		this.dialog = 'space-settings';
	}

	openUser(tab = 'profile') {
		this.userTab = tab;
		this.dialog = 'user-settings';
	}
}

export function provideApp(app: App) {
	setContext(KEY, app);
	return app;
}

export function useApp(): App {
	return getContext<App>(KEY);
}
