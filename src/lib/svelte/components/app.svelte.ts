/**
 * The web client's shared state: the open client, what is selected, which dialog is open, and the
 * notices (errors and confirmations) shown to the user. One instance per page, found by context.
 */
import { getContext, setContext } from 'svelte';
import { isCharterError, type Charter, type Space } from '../../index.js';
import { liveCharter, liveSpace, type LiveCharter } from '../index.svelte.js';

export type DialogName =
	'' | 'add-space' | 'space-settings' | 'user-settings' | 'sync' | 'create-channel';

export interface Notice {
	id: number;
	kind: 'error' | 'info';
	text: string;
}

const KEY = Symbol('charter-app');
const SERVERS_KEY = 'charter.syncServers';
const LAST_KEY = 'charter.last';

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

export function describeError(e: unknown): string {
	if (isCharterError(e)) return e.message.charAt(0).toUpperCase() + e.message.slice(1);
	return e instanceof Error ? e.message : String(e);
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
	drawerOpen = $state(false);
	/** The member list starts open on wide screens only (on a phone it covers the chat). */
	membersOpen = $state(typeof innerWidth === 'number' ? innerWidth > 1000 : true);
	/** Invite links created in this session, by invite id (a link is shown only when created). */
	inviteLinks = $state<Record<string, string>>({});
	#noticeId = 0;
	/** The open confirmation, if any (ConfirmDialog shows it above every other dialog). */
	confirmation = $state.raw<Confirmation>();
	/** The display name last set on this device: shown while no space holds the signed profile. */
	localName = $state(globalThis.localStorage?.getItem('charter.displayName') ?? '');

	constructor() {
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
	}

	/** The selected space (or the first one). */
	get space(): Space | undefined {
		const spaces = this.live?.spaces ?? [];
		return spaces.find((s) => s.id === this.spaceId) ?? spaces[0];
	}

	rememberName(name: string) {
		this.localName = name;
		localStorage.setItem('charter.displayName', name);
	}

	select(spaceId: string, channelId = '') {
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
