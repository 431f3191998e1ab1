/**
 * Peering between sync servers. Clients get nothing announced (sharePolicy false, like the stock
 * automerge-repo-sync-server: knowing a document id is the only way to reach it). Peer servers get
 * everything announced, so each one of a group ends up holding every document.
 *
 * A server is a peer when this one dialed it (--peer), or when it dialed in presenting the group's
 * shared secret (--peer-token) in the WebSocket URL. Trust is bound to the socket that presented
 * the secret, never to a peer id alone: peer ids are public (/healthz shows them).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { PeerId } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import type { Metrics } from './metrics.js';

/** Query parameter that carries the peer token on a dialing server's WebSocket URL. */
export const PEER_TOKEN_PARAM = 'charter-peer-token';

export class PeerGroup {
	/** Peer ids of the sync servers connected right now. */
	readonly #servers = new Set<PeerId>();
	readonly #trustedSockets = new WeakSet<object>();
	readonly #tokenDigest?: Buffer;

	constructor(
		private readonly token: string | undefined,
		private readonly log: Logger,
		private readonly metrics: Metrics
	) {
		if (token) this.#tokenDigest = digest(token);
	}

	/** Share policy for the repo: announce every document to peer servers, nothing to clients. */
	readonly sharePolicy = async (peerId: PeerId): Promise<boolean> => this.#servers.has(peerId);

	/** Whether this server takes part in a group at all (then it preloads what it holds). */
	get enabled(): boolean {
		return this.#tokenDigest !== undefined;
	}

	/** On each WebSocket upgrade: a socket whose URL carries the right token is a peer server's. */
	recognise(socket: object, request: IncomingMessage): void {
		if (!this.#tokenDigest) return;
		const presented = new URL(request.url ?? '/', 'http://x').searchParams.get(PEER_TOKEN_PARAM);
		if (presented && timingSafeEqual(digest(presented), this.#tokenDigest))
			this.#trustedSockets.add(socket);
		else if (presented)
			this.log.warn(
				{ remote: request.socket.remoteAddress },
				'wrong peer token; treated as a client'
			);
	}

	isTrustedSocket(socket: object): boolean {
		return this.#trustedSockets.has(socket);
	}

	/** A peer id a peer server uses: an untrusted socket claiming it is an impersonation. */
	isServer(peerId: string): boolean {
		return this.#servers.has(peerId as PeerId);
	}

	joined(peerId: PeerId, how: string): void {
		this.#servers.add(peerId);
		this.metrics.peerServers.set(this.#servers.size);
		this.log.info({ peerId, how }, 'peer sync server connected');
	}

	left(peerId: PeerId): void {
		if (!this.#servers.delete(peerId)) return;
		this.metrics.peerServers.set(this.#servers.size);
		this.log.info({ peerId }, 'peer sync server disconnected');
	}

	/** A client adapter that dials another sync server and marks it as a peer once it answers. */
	dial(url: string, retryMs: number): PeerDialAdapter {
		const target = new URL(url);
		if (this.token) target.searchParams.set(PEER_TOKEN_PARAM, this.token);
		const shown = url; // logged without the token
		const adapter = new PeerDialAdapter(
			target.toString(),
			retryMs,
			this.log.child({ peer: shown })
		);
		adapter.on('peer-candidate', ({ peerId }) => this.joined(peerId, `dialed ${shown}`));
		adapter.on('peer-disconnected', ({ peerId }) => this.left(peerId));
		return adapter;
	}
}

/**
 * The stock WebSocket client adapter, made safe to run inside a server for days. The stock one
 *  - throws from its socket error handler on anything but ECONNREFUSED, so a peer that dies
 *    mid-connection would take this server down with it;
 *  - throws when asked to send while the socket is closing;
 *  - on disconnect() while still connecting, closes a socket it has just removed its error listener
 *    from, and ws's "closed before the connection was established" error then crashes the process;
 *  - can revive itself from a retry timer after disconnect().
 * Here all of these only log, or wait for a reconnect; automerge-repo's sync protocol resends
 * whatever was lost once the peer is back.
 */
export class PeerDialAdapter extends WebSocketClientAdapter {
	#stopped = false;

	constructor(
		url: string,
		retryMs: number,
		private readonly log: Logger
	) {
		super(url, retryMs);
		this.onError = (event) => {
			const error = (event as { error?: { code?: string; message?: string } }).error;
			this.log.warn(
				{ code: error?.code, message: error?.message },
				'peer connection failed; retrying'
			);
		};
	}

	override connect(...args: Parameters<WebSocketClientAdapter['connect']>): void {
		if (this.#stopped) return;
		super.connect(...args);
	}

	override send(message: Parameters<WebSocketClientAdapter['send']>[0]): void {
		if (this.socket?.readyState !== 1 /* OPEN */) return;
		super.send(message);
	}

	override disconnect(): void {
		this.#stopped = true;
		if (!this.socket) return;
		this.socket.addEventListener('error', () => undefined); // outlives the stock listeners
		super.disconnect();
	}
}

function digest(secret: string): Buffer {
	return createHash('sha256').update(secret).digest();
}
