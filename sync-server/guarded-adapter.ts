/**
 * The stock automerge-repo WebSocket server adapter, with the limits a public relay needs:
 * message size, per-connection rates, new-document caps, storage quotas and an optional admission
 * policy. A tripped limit closes the connection with a documented code and counts a rejection;
 * nothing already stored is touched. Only message envelopes (type, document id, sizes) and, for
 * admission of a new document, entry headers and signatures are looked at — never entry bodies.
 */
import * as A from '@automerge/automerge';
import { cbor } from '@automerge/automerge-repo';
import { NodeWSServerAdapter } from '@automerge/automerge-repo-network-websocket';
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Limits } from './config.js';
import type { Metrics, RejectionReason } from './metrics.js';
import type { StorageLedger } from './storage-ledger.js';

/** WebSocket close codes (4000–4999 are application codes). */
export const CLOSE = {
	rateLimited: 4008,
	messageTooBig: 4009,
	quotaExceeded: 4013,
	tooManyDocuments: 4029,
	malformed: 4400
} as const;

export interface Admission {
	/** Decides whether a document the server does not hold may be created by these changes. */
	admit(documentId: string, changes: Uint8Array[]): Promise<boolean>;
}

interface ConnectionState {
	messageTokens: number;
	byteTokens: number;
	refilledAt: number;
	created: number[];
	queue: Promise<void>;
	closed: boolean;
}

interface WireMessage {
	type?: string;
	documentId?: string;
	senderId?: string;
	data?: Uint8Array;
}

export class GuardedServerAdapter extends NodeWSServerAdapter {
	#connections = new WeakMap<object, ConnectionState>();
	#lastReceived = new Map<string, number>();

	constructor(
		server: ConstructorParameters<typeof NodeWSServerAdapter>[0],
		private readonly limits: Limits,
		private readonly metrics: Metrics,
		private readonly ledger: StorageLedger,
		private readonly log: Logger,
		private readonly admission?: Admission
	) {
		super(server);
	}

	#attached!: () => void;
	/** Resolves once the repo has attached this adapter: listen only then, or early sockets go unheard. */
	readonly attached = new Promise<void>((resolve) => (this.#attached = resolve));

	override connect(...args: Parameters<NodeWSServerAdapter['connect']>): void {
		super.connect(...args);
		this.#attached();
	}

	override send(message: Parameters<NodeWSServerAdapter['send']>[0]): void {
		const documentId = (message as WireMessage).documentId;
		const data = (message as WireMessage).data;
		if (documentId && (message as WireMessage).type === 'sync') {
			const received = this.#lastReceived.get(documentId);
			if (received !== undefined) {
				this.metrics.relayLatency.observe((performance.now() - received) / 1000);
				this.#lastReceived.delete(documentId);
			}
		}
		if (data) this.metrics.bytesOut.inc(data.byteLength);
		super.send(message);
	}

	override receiveMessage(messageBytes: Uint8Array, socket: WebSocket): void {
		const state = this.#state(socket);
		if (state.closed) return;
		state.queue = state.queue
			.then(() => this.#guard(messageBytes, socket, state))
			.catch((error) => this.log.error({ err: error }, 'message guard failed'));
	}

	#state(socket: WebSocket): ConnectionState {
		let state = this.#connections.get(socket);
		if (!state) {
			state = {
				messageTokens: this.limits.messagesPerSecond * 2,
				byteTokens: this.limits.bytesPerSecond * 4,
				refilledAt: performance.now(),
				created: [],
				queue: Promise.resolve(),
				closed: false
			};
			this.#connections.set(socket, state);
		}
		return state;
	}

	#reject(socket: WebSocket, state: ConnectionState, reason: RejectionReason, code: number, detail: Record<string, unknown> = {}) {
		this.metrics.rejections.inc({ reason });
		this.log.warn({ reason, code, ...detail }, 'connection closed: limit tripped');
		state.closed = true;
		socket.close(code, reason);
	}

	async #guard(bytes: Uint8Array, socket: WebSocket, state: ConnectionState): Promise<void> {
		if (state.closed) return;
		const size = bytes.byteLength;
		this.metrics.messagesIn.inc();
		this.metrics.bytesIn.inc(size);
		if (size > this.limits.maxMessageBytes) return this.#reject(socket, state, 'message-too-big', CLOSE.messageTooBig, { size });

		const now = performance.now();
		const elapsed = (now - state.refilledAt) / 1000;
		state.refilledAt = now;
		state.messageTokens = Math.min(this.limits.messagesPerSecond * 2, state.messageTokens + elapsed * this.limits.messagesPerSecond);
		state.byteTokens = Math.min(this.limits.bytesPerSecond * 4, state.byteTokens + elapsed * this.limits.bytesPerSecond);
		state.messageTokens -= 1;
		state.byteTokens -= size;
		if (state.messageTokens < 0 || state.byteTokens < 0) return this.#reject(socket, state, 'rate-limited', CLOSE.rateLimited);

		let message: WireMessage;
		try {
			message = cbor.decode(bytes) as WireMessage;
			this.log.trace({ type: message.type, documentId: message.documentId, size }, 'message');
		} catch {
			return this.#reject(socket, state, 'malformed', CLOSE.malformed);
		}
		const { documentId, type, data } = message;
		if (type === 'sync' && documentId && data instanceof Uint8Array) {
			let changes: Uint8Array[] = [];
			try {
				changes = A.decodeSyncMessage(data).changes;
			} catch {
				return this.#reject(socket, state, 'malformed', CLOSE.malformed);
			}
			const incoming = changes.reduce((n, c) => n + c.byteLength, 0);
			if (changes.length) {
				const known = this.ledger.has(documentId);
				if (!known) {
					const hourAgo = Date.now() - 3_600_000;
					state.created = state.created.filter((t) => t > hourAgo);
					if (state.created.length >= this.limits.documentsPerHour)
						return this.#reject(socket, state, 'too-many-documents', CLOSE.tooManyDocuments, { documentId });
					if (this.admission && !(await this.admission.admit(documentId, changes))) {
						this.metrics.rejections.inc({ reason: 'admission' });
						this.log.info({ documentId }, 'document refused by the admission policy');
						return; // dropped: other documents on this connection may be fine
					}
					state.created.push(Date.now());
				}
				const quota = this.ledger.wouldExceed(documentId, incoming);
				if (quota) return this.#reject(socket, state, quota, CLOSE.quotaExceeded, { documentId });
				this.ledger.add(documentId, incoming);
				this.metrics.changesStored.inc(changes.length);
			}
			// change-free sync messages (heads, haves) pass: they store nothing and let the client
			// learn that we lack the document, so it sends the changes that admission can judge
			this.#lastReceived.set(documentId, performance.now());
		}
		super.receiveMessage(bytes, socket as never);
	}
}
