/**
 * The sync servers (and home nodes) a client dials: each one's address, where it came from, and
 * whether it answers. automerge-repo's WebSocket adapter retries a dead address every 5 s for as long
 * as the client runs and tells no one; this list makes every address the client tries visible — the
 * ones it was opened with, and those an invite or a device-link code named — and lets the app remove
 * one, which stops its retries for good.
 */
import type { NetworkAdapterInterface, PeerId, Repo } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { CharterError } from '../errors.js';
import { isSyncServerUrl } from '../util/url.js';

/** Where an address came from. */
export type SyncServerSource =
	'configured' | 'invite' | 'device-link' | 'recovery-request' | 'added';

/**
 * `connected`: it answered and is connected now. `connecting`: first attempt, not answered yet.
 * `unreachable`: not connected — never answered, or lost — and retried every few seconds.
 */
export type SyncServerState = 'connected' | 'connecting' | 'unreachable';

export interface SyncServerStatus {
	url: string;
	source: SyncServerSource;
	state: SyncServerState;
	/** When it was added to this client (ms since the epoch). */
	addedAt: number;
	/** When it last answered, if ever. */
	lastConnectedAt?: number;
}

/** automerge-repo's WebSocket client retries a closed connection after this long. */
const RETRY_MS = 5000;

/**
 * automerge-repo's WebSocket client, minus one way to crash: it rethrows every socket error but a
 * refused connection from inside its event handler, which in Node is an uncaught exception that ends
 * the process — a server that resets the connection (ECONNRESET, seen under load) took the whole
 * client down. Here every socket error is a failed or lost connection: counted, and the close that
 * follows (or the retry interval) dials again.
 */
export class WebSocketClient extends WebSocketClientAdapter {
	/** Socket errors seen (refused, reset, …). */
	errors = 0;

	override onError = (): void => {
		this.errors++;
	};

	/**
	 * automerge-repo's disconnect removes the socket's error listener and then closes it; a socket
	 * still connecting (a retry in flight when the client closes) answers that close with an error
	 * event, which with no listener left ends a Node process. It keeps one here.
	 */
	override disconnect(): void {
		const socket = this.socket;
		socket?.addEventListener('error', () => void this.errors++);
		super.disconnect();
	}
}

interface Entry {
	url: string;
	source: SyncServerSource;
	addedAt: number;
	raw: WebSocketClient;
	adapter: NetworkAdapterInterface;
	peer?: PeerId;
	lastConnectedAt?: number;
}

export class SyncServers {
	#entries = new Map<string, Entry>();
	#repo: Repo | undefined;
	#listeners = new Set<() => void>();

	/** `wrap` adds Charter's layers (peer proofs, seal checks) around each WebSocket adapter. */
	constructor(
		private readonly wrap: (adapter: WebSocketClientAdapter) => NetworkAdapterInterface
	) {}

	/** Adapters for the repo's constructor (servers added before the repo exists). */
	get adapters(): NetworkAdapterInterface[] {
		return [...this.#entries.values()].map((e) => e.adapter);
	}

	/** From now on, added servers are connected through this repo. */
	attach(repo: Repo): void {
		this.#repo = repo;
	}

	/** Addresses in the order they were added (what invites and link codes name). */
	get urls(): string[] {
		return [...this.#entries.keys()];
	}

	has(url: string): boolean {
		return this.#entries.has(url);
	}

	/**
	 * Dials `url` (once: an address already listed is left as it is). Refuses with `invalid-argument`
	 * an address that can never connect (see `isSyncServerUrl`).
	 */
	add(url: string, source: SyncServerSource): void {
		if (!isSyncServerUrl(url))
			throw new CharterError(
				'invalid-argument',
				`not a sync server address (ws:// or wss://, a host, a port from 1 to 65535): ${String(url).slice(0, 80)}`
			);
		if (this.#entries.has(url)) return;
		const raw = new WebSocketClient(url, RETRY_MS);
		const entry: Entry = { url, source, addedAt: Date.now(), raw, adapter: this.wrap(raw) };
		raw.on('peer-candidate', ({ peerId }) => {
			entry.peer = peerId;
			entry.lastConnectedAt = Date.now();
			this.#emit();
		});
		raw.on('peer-disconnected', () => {
			entry.peer = undefined;
			this.#emit();
		});
		this.#entries.set(url, entry);
		this.#repo?.networkSubsystem.addNetworkAdapter(entry.adapter);
		this.#emit();
	}

	/** Disconnects from `url` and stops retrying it; false when it was not listed. */
	remove(url: string): boolean {
		const entry = this.#entries.get(url);
		if (!entry) return false;
		this.#entries.delete(url);
		try {
			if (this.#repo) this.#repo.networkSubsystem.removeNetworkAdapter(entry.adapter);
			else if (entry.raw.socket) entry.adapter.disconnect();
		} catch {
			/* never connected: nothing to close */
		}
		// A connection lost shortly before schedules a reconnect the adapter's disconnect() does not
		// cancel: a removed server must never be dialled again.
		entry.raw.connect = () => undefined;
		this.#emit();
		return true;
	}

	list(): SyncServerStatus[] {
		const now = Date.now();
		return [...this.#entries.values()].map((e) => ({
			url: e.url,
			source: e.source,
			state: e.peer
				? 'connected'
				: !e.lastConnectedAt && now - e.addedAt < RETRY_MS
					? 'connecting'
					: 'unreachable',
			addedAt: e.addedAt,
			...(e.lastConnectedAt ? { lastConnectedAt: e.lastConnectedAt } : {})
		}));
	}

	/** Calls `listener` when a server is added, removed, connects or disconnects. */
	onChange(listener: () => void): () => void {
		this.#listeners.add(listener);
		return () => this.#listeners.delete(listener);
	}

	#emit() {
		for (const listener of [...this.#listeners]) {
			try {
				listener();
			} catch {
				/* a listener's bug must not stop the list */
			}
		}
	}
}
