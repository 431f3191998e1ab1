/**
 * The stock automerge-repo WebSocket server adapter with the limits a public relay needs: message
 * size, per-connection rates, caps on new documents per connection, per address and in total,
 * storage quotas, a cap on refused changes and an optional admission policy. A tripped limit closes
 * the connection with a documented code (close-codes.ts), counts a rejection and writes one log
 * line; what was accepted before is untouched and stays stored. Whatever a peer can repeat without
 * being disconnected (a refused change, a refused document) is logged at most once per address and
 * reason per --refused-window-seconds. Only the wire envelope and the
 * sizes of the changes inside sync messages are looked at (wire-envelope.ts) — and, for admission
 * of a new document, whatever the admission hook chooses to check.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';
import { cbor, type PeerId } from '@automerge/automerge-repo';
import { NodeWSServerAdapter } from '@automerge/automerge-repo-network-websocket';
import type { DocumentId } from '@automerge/automerge-repo';
import type { Admission } from './admission.js';
import { AddressBook, clientAddress, type AddressState } from './address-book.js';
import { CLOSE } from './close-codes.js';
import type { Limits } from './config.js';
import type { DocumentRefusal, Metrics, RejectionReason } from './metrics.js';
import type { PeerGroup } from './peering.js';
import { CreationWindow, RateLimiter } from './rate-limiter.js';
import type { StorageLedger } from './storage-ledger.js';
import { checkPublishedChanges, isSignalData } from '../src/lib/index.js';
import {
	changesIn,
	decodeEnvelope,
	decodeSyncMessage,
	documentOf,
	encodeSyncMessage,
	totalBytes,
	writesDocument,
	type WireEnvelope
} from './wire-envelope.js';

export { CLOSE } from './close-codes.js';
export type { Admission } from './admission.js';

/** Keep at most this many "waiting for the server's next message" timestamps (for the latency histogram). */
const LATENCY_PROBES = 10_000;

interface Connection {
	trusted: boolean;
	/** Shared by every connection from the same remote address. */
	address: AddressState;
	rate: RateLimiter;
	/** Ephemeral messages (presence, typing) relayed for this connection: their own, smaller budget. */
	ephemeral: RateLimiter;
	creations: CreationWindow;
	/** The peer id the client joined with (its own ephemeral messages carry it as sender). */
	peerId?: string;
	/** Messages are judged one after another, so an async admission check cannot reorder them. */
	queue: Promise<void>;
	closed: boolean;
}

export interface GuardDependencies {
	limits: Limits;
	metrics: Metrics;
	ledger: StorageLedger;
	peers: PeerGroup;
	log: Logger;
	admission?: Admission;
	/** Refuse changes without a valid publication seal (default true). */
	requireSeals?: boolean;
	/** Take a connection's address from X-Forwarded-For (the server sits behind a reverse proxy). */
	trustProxy?: boolean;
	/** Told of every document message a client sends, just before the repo gets it (peer-churn.ts). */
	touched?: (peerId: PeerId, documentId: DocumentId) => void;
}

export class GuardedServerAdapter extends NodeWSServerAdapter {
	readonly #connections = new WeakMap<object, Connection>();
	readonly #receivedAt = new Map<string, number>();
	readonly #wss: WebSocketServer;
	readonly #deps: GuardDependencies;
	readonly #addresses: AddressBook;
	#quiet = false;
	#attached!: () => void;
	/** Resolves once the repo has attached this adapter: listen only then, or early sockets go unheard. */
	readonly attached = new Promise<void>((resolve) => (this.#attached = resolve));

	constructor(wss: WebSocketServer, deps: GuardDependencies) {
		super(wss as never);
		this.#wss = wss;
		this.#deps = deps;
		this.#addresses = new AddressBook(deps.limits);
	}

	override connect(...args: Parameters<NodeWSServerAdapter['connect']>): void {
		// registered before the stock adapter's own listener, so every socket is set up first
		this.#wss.on('connection', (socket, request) => this.#opened(socket, request));
		super.connect(...args);
		this.#attached();
	}

	#opened(socket: WebSocket, request: IncomingMessage): void {
		const { limits, metrics, peers, log } = this.#deps;
		peers.recognise(socket, request);
		const trusted = peers.isTrustedSocket(socket);
		const remote = clientAddress(request, this.#deps.trustProxy === true);
		const address = this.#addresses.open(remote);
		const connection: Connection = {
			trusted,
			address,
			rate: new RateLimiter(limits.messagesPerSecond, limits.bytesPerSecond),
			ephemeral: new RateLimiter(limits.ephemeralPerSecond, limits.ephemeralPerSecond * 1024),
			creations: new CreationWindow(limits.documentsPerHour),
			queue: Promise.resolve(),
			closed: false
		};
		this.#connections.set(socket, connection);
		metrics.connections.inc();
		metrics.connectionsTotal.inc();
		log.debug({ remote, trusted }, 'connection opened');
		// ws reports a frame above its hard maxPayload ceiling as an 'error' (then closes with
		// 1009); with no listener, that error would crash the whole server
		socket.on('error', (error: Error & { code?: string }) => {
			if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
				metrics.rejections.inc({ reason: 'message-too-big' });
			this.#throttled(connection, 'connection-error', 'warn', 'connection error', {
				code: error.code,
				message: error.message
			});
		});
		socket.on('close', (code) => {
			metrics.connections.dec();
			this.#addresses.close(address);
			log.debug({ code }, 'connection closed');
		});
	}

	override send(message: Parameters<NodeWSServerAdapter['send']>[0]): void {
		const socket = this.sockets[message.targetId];
		const data = (message as WireEnvelope).data;
		if (!socket || data?.byteLength === 0) return super.send(message); // the stock adapter logs or throws
		const documentId = (message as WireEnvelope).documentId;
		if (documentId) {
			const receivedAt = this.#receivedAt.get(documentId);
			if (receivedAt !== undefined) {
				this.#deps.metrics.relayLatency.observe((performance.now() - receivedAt) / 1000);
				this.#receivedAt.delete(documentId);
			}
		}
		// encoded here, once, so the byte counter sees exactly what goes on the wire
		const encoded = cbor.encode(message);
		this.#deps.metrics.messagesOut.inc();
		this.#deps.metrics.bytesOut.inc(encoded.byteLength);
		socket.send(encoded.buffer.slice(encoded.byteOffset, encoded.byteOffset + encoded.byteLength));
	}

	/**
	 * Shutting down: close every connection ("going away") and ignore whatever still arrives, so
	 * the final flush is really final.
	 */
	quiesce(): void {
		this.#quiet = true;
		for (const socket of this.#wss.clients)
			socket.close(CLOSE.shuttingDown, 'server shutting down');
	}

	override receiveMessage(messageBytes: Uint8Array, socket: WebSocket): void {
		const connection = this.#connections.get(socket);
		if (!connection || connection.closed || this.#quiet) return;
		const { limits, metrics } = this.#deps;
		const size = messageBytes.byteLength;
		metrics.messagesIn.inc();
		metrics.bytesIn.inc(size);
		// size and rate are judged on arrival, before any queueing, so a flood cannot pile up in memory
		if (!connection.trusted) {
			if (size > limits.maxMessageBytes)
				return this.#reject(socket, connection, 'message-too-big', CLOSE.messageTooBig, { size });
			if (!connection.rate.take(size))
				return this.#reject(socket, connection, 'rate-limited', CLOSE.rateLimited);
		}
		connection.queue = connection.queue
			.then(() => this.#judge(messageBytes, socket, connection))
			.catch((error: unknown) =>
				this.#throttled(connection, 'guard-failed', 'error', 'message guard failed', { err: error })
			);
	}

	async #judge(received: Uint8Array, socket: WebSocket, connection: Connection): Promise<void> {
		let bytes = received;
		if (connection.closed) return;
		const { peers, ledger, metrics, admission, log } = this.#deps;
		const message = decodeEnvelope(bytes);
		if (!message) return this.#reject(socket, connection, 'malformed', CLOSE.malformed);
		if (log.isLevelEnabled('trace'))
			log.trace(
				{ type: message.type, documentId: message.documentId, size: bytes.byteLength },
				'message'
			);

		if (message.type === 'join' && typeof message.senderId === 'string') {
			connection.peerId ??= message.senderId;
			if (connection.trusted)
				peers.joined(message.senderId as PeerId, 'dialed in with the peer token');
			else if (peers.isServer(message.senderId))
				return this.#reject(socket, connection, 'impersonation', CLOSE.impersonation, {
					peerId: message.senderId
				});
		}

		// Ephemeral messages are relayed, never stored: the repo hands them to the peers it syncs the
		// document with. Judged here so a peer cannot make the server decode junk or relay a flood.
		if (message.type === 'ephemeral' && !connection.trusted) {
			const outcome = !isSignalData(message.data) // a size check first: cheap
				? 'malformed'
				: message.senderId !== connection.peerId
					? 'echo' // another peer's, passed back: this server relayed it already
					: !connection.ephemeral.take(bytes.byteLength)
						? 'rate-limited'
						: !ledger.knows(message.documentId!)
							? 'unknown-document'
							: 'relayed';
			metrics.ephemeral.inc({ outcome });
			if (outcome !== 'relayed') return;
		}

		// Every message routed to a document makes the repo hold it in memory (load, create, or keep a
		// handle for an id it does not have), so the first message about a document the server does
		// not know counts as a new document for the connection, its address and the server.
		const routedTo = documentOf(message);
		const isNew = routedTo !== undefined && !ledger.knows(routedTo);
		if (isNew && !connection.trusted) {
			const refusal = this.#mayAdd(connection);
			if (refusal === 'server') return this.#unavailable(connection, message, routedTo);
			if (refusal) {
				metrics.documentsRefused.inc({ scope: refusal });
				return this.#reject(
					socket,
					connection,
					refusal === 'connection' ? 'too-many-documents' : 'address-documents',
					CLOSE.tooManyDocuments,
					{ documentId: routedTo }
				);
			}
		}

		if (writesDocument(message)) {
			const { documentId } = message;
			const sync = decodeSyncMessage(message.data);
			if (!sync) return this.#reject(socket, connection, 'malformed', CLOSE.malformed);
			let changes = sync.changes;
			if (changes.length && this.#deps.requireSeals !== false) {
				// Only sealed publications are stored or relayed: a change forged under another
				// writer's (actor, seq) would partition the document for everyone who took it.
				const { accepted, refused } = await checkPublishedChanges(changes);
				if (refused) {
					metrics.rejections.inc({ reason: 'unsealed-change' }, refused);
					if (this.#refused(socket, connection, refused, 'unsealed-change', { documentId })) return;
					changes = accepted;
					bytes = cbor.encode({
						...message,
						data: encodeSyncMessage({ ...sync, changes: accepted })
					});
				}
			}
			if (changes.length) {
				if (!ledger.has(documentId)) {
					if (admission && !(await admission.admit(documentId, changes))) {
						metrics.rejections.inc({ reason: 'admission' });
						metrics.documentsRefused.inc({ scope: 'admission' });
						this.#refused(socket, connection, changes.length, 'admission', { documentId });
						return; // dropped; other documents on this connection may be fine
					}
				}
				const incoming = totalBytes(changes);
				const quota = connection.trusted ? undefined : ledger.wouldExceed(documentId, incoming);
				if (quota)
					return this.#reject(socket, connection, quota, CLOSE.quotaExceeded, { documentId });
				ledger.add(documentId, incoming);
				metrics.changesStored.inc(changes.length);
			}
			// change-free sync messages (heads, haves) pass: they store nothing and let the client
			// learn that we lack the document, so it sends the changes that admission can judge
			this.#noteReceived(documentId);
		}
		if (routedTo !== undefined) {
			if (isNew) {
				// a peer server's bulk replication is not its address's budget
				if (!connection.trusted) {
					connection.creations.record();
					connection.address.creations.record();
				}
				ledger.askedFor(routedTo);
			}
			this.#deps.touched?.(message.senderId as PeerId, routedTo as DocumentId);
		}
		super.receiveMessage(bytes, socket as never);
	}

	/** Whose limit one more new document would break, if anyone's. */
	#mayAdd(connection: Connection): Exclude<DocumentRefusal, 'admission'> | undefined {
		const { limits, ledger } = this.#deps;
		if (!connection.creations.allows()) return 'connection';
		if (!connection.address.creations.allows()) return 'address';
		if (limits.maxDocuments && ledger.held >= limits.maxDocuments) return 'server';
		return undefined;
	}

	/**
	 * The server holds --max-documents: this document is refused, not the peer (it did nothing
	 * wrong), so the connection stays and the peer hears "doc-unavailable" for it.
	 */
	#unavailable(connection: Connection, message: WireEnvelope, documentId: string): void {
		const { metrics, limits } = this.#deps;
		metrics.rejections.inc({ reason: 'document-limit' });
		metrics.documentsRefused.inc({ scope: 'server' });
		this.#throttled(connection, 'document-limit', 'warn', 'new document refused: server full', {
			documentId,
			maxDocuments: limits.maxDocuments
		});
		if (message.type !== 'doc-unavailable' && message.type !== 'ephemeral' && message.senderId)
			this.send({
				type: 'doc-unavailable',
				senderId: this.peerId!,
				targetId: message.senderId as PeerId,
				documentId: documentId as DocumentId
			});
	}

	/**
	 * `count` changes were refused. Counted per address; past --max-refused-changes in a window
	 * the connection is closed (true), else at most one line per window says so.
	 */
	#refused(
		socket: WebSocket,
		connection: Connection,
		count: number,
		reason: 'unsealed-change' | 'admission',
		detail: Record<string, unknown>
	): boolean {
		if (connection.trusted) return false; // a peer server relays what it was given; never cut off
		const { limits } = this.#deps;
		const inWindow = connection.address.refused.add(count);
		if (inWindow > limits.maxRefusedChanges) {
			this.#reject(socket, connection, 'refused-changes', CLOSE.refusedChanges, {
				refusedInWindow: inWindow,
				windowSeconds: limits.refusedWindowSeconds
			});
			return true;
		}
		this.#throttled(
			connection,
			reason,
			'info',
			reason === 'admission'
				? 'document refused by the admission policy'
				: 'unsealed changes dropped',
			{ ...detail, refused: count, refusedInWindow: inWindow }
		);
		return false;
	}

	/** One line per address and reason per window; the next one says how many were left out. */
	#throttled(
		connection: Connection,
		reason: string,
		level: 'info' | 'warn' | 'error',
		text: string,
		detail: Record<string, unknown>
	): void {
		const leftOut = connection.address.logs.admit(reason);
		if (leftOut === undefined) return;
		this.#deps.log[level](
			{ ...detail, remote: connection.address.address, ...(leftOut ? { leftOut } : {}) },
			text
		);
	}

	#noteReceived(documentId: string): void {
		if (this.#receivedAt.size >= LATENCY_PROBES) this.#receivedAt.clear();
		this.#receivedAt.set(documentId, performance.now());
	}

	#reject(
		socket: WebSocket,
		connection: Connection,
		reason: RejectionReason,
		code: number,
		detail: Record<string, unknown> = {}
	): void {
		this.#deps.metrics.rejections.inc({ reason });
		this.#deps.metrics.peersDisconnected.inc({ reason });
		this.#deps.log.warn(
			{ reason, code, remote: connection.address.address, ...detail },
			'connection closed: limit tripped'
		);
		connection.closed = true;
		socket.close(code, reason);
	}
}

/** Trusted peers (dialed servers) bypass the guard; their writes still count towards the ledger. */
export function accountPeerWrite(
	message: WireEnvelope,
	ledger: StorageLedger,
	metrics: Metrics
): void {
	if (!writesDocument(message)) return;
	const changes = changesIn(message.data);
	if (!changes?.length) return;
	ledger.add(message.documentId, totalBytes(changes));
	metrics.changesStored.inc(changes.length);
}
