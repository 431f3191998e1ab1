/**
 * A network adapter wrapper that lets only sealed publications (publication.ts) reach the repo.
 *
 * Sync messages that would add changes to a document are checked before the repo sees them; a
 * refused change is cut out of the message (the rest is delivered) and counted. Messages are judged
 * one after another, so the check never reorders what a peer sent.
 */
import * as A from '@automerge/automerge';
import {
	NetworkAdapter,
	type Message,
	type NetworkAdapterInterface,
	type PeerId,
	type PeerMetadata
} from '@automerge/automerge-repo';
import { checkPublishedChanges } from './publication.js';

const WRITING_TYPES = new Set(['sync', 'request']);

export interface RefusalCounter {
	refused(count: number, from: PeerId | undefined): void;
}

export class VerifyingNetworkAdapter extends NetworkAdapter {
	#queue: Promise<void> = Promise.resolve();

	constructor(
		readonly inner: NetworkAdapterInterface,
		private readonly counter?: RefusalCounter
	) {
		super();
		inner.on('peer-candidate', (payload) => this.emit('peer-candidate', payload));
		inner.on('peer-disconnected', (payload) => this.emit('peer-disconnected', payload));
		inner.on('close', () => this.emit('close'));
		inner.on('message', (message) => {
			this.#queue = this.#queue.then(() => this.#deliver(message)).catch(() => undefined);
		});
	}

	async #deliver(message: Message): Promise<void> {
		const data = (message as { data?: unknown }).data;
		if (!WRITING_TYPES.has(message.type) || !(data instanceof Uint8Array))
			return void this.emit('message', message);
		let decoded: A.DecodedSyncMessage;
		try {
			decoded = A.decodeSyncMessage(data);
		} catch {
			this.counter?.refused(1, message.senderId);
			return; // not a sync message: the repo would only log it
		}
		if (decoded.changes.length === 0) return void this.emit('message', message);
		const { accepted, refused } = await checkPublishedChanges(decoded.changes, {
			rememberValues: true
		});
		if (refused === 0) return void this.emit('message', message);
		this.counter?.refused(refused, message.senderId);
		const filtered = A.encodeSyncMessage({ ...decoded, changes: accepted });
		this.emit('message', { ...message, data: filtered } as Message);
	}

	isReady(): boolean {
		return this.inner.isReady();
	}

	whenReady(): Promise<void> {
		return this.inner.whenReady();
	}

	connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
		this.peerId = peerId;
		if (peerMetadata) this.peerMetadata = peerMetadata;
		this.inner.connect(peerId, peerMetadata);
	}

	send(message: Message): void {
		this.inner.send(message);
	}

	disconnect(): void {
		this.inner.disconnect();
	}
}
