/**
 * A network adapter wrapper that lets only sealed publications (publication.ts) reach the repo.
 *
 * Sync messages that would add changes to a document are checked before the repo sees them; a
 * refused change is cut out of the message (the rest is delivered) and counted. Messages are judged
 * one after another, so the check never reorders what a peer sent.
 */
import * as A from '@automerge/automerge';
import type { Message, NetworkAdapterInterface, PeerId } from '@automerge/automerge-repo';
import { checkPublishedChanges } from './publication.js';
import { WrappingAdapter } from './wrapping-adapter.js';

const WRITING_TYPES = new Set(['sync', 'request']);

export interface RefusalCounter {
	refused(count: number, from: PeerId | undefined): void;
}

export class VerifyingNetworkAdapter extends WrappingAdapter {
	#queue: Promise<void> = Promise.resolve();

	constructor(
		inner: NetworkAdapterInterface,
		private readonly counter?: RefusalCounter
	) {
		super(inner);
	}

	protected override onMessage(message: Message): void {
		this.#queue = this.#queue.then(() => this.#deliver(message)).catch(() => undefined);
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
}
