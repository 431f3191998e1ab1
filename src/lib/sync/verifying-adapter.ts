/**
 * A network adapter wrapper that lets only sealed publications (publication.ts) reach the repo.
 *
 * Sync messages that would add changes to a document are checked before the repo sees them; a
 * refused change is cut out of the message (the rest is delivered) and counted. Each message's check
 * starts as it arrives — the signature checks of messages that queue up behind a busy main thread
 * run side by side — and messages reach the repo in the order the peer sent them.
 */
import * as A from '@automerge/automerge';
import type { Message, NetworkAdapterInterface, PeerId } from '@automerge/automerge-repo';
import type { DecodedValues } from './envelope.js';
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
		private readonly counter?: RefusalCounter,
		/** Where a client keeps what accepted changes set, for its envelope readers (`Wire.decoded`). */
		private readonly decodedValues?: DecodedValues
	) {
		super(inner);
	}

	protected override onMessage(message: Message): void {
		const checked = this.#check(message).catch(() => undefined);
		this.#queue = this.#queue
			.then(async () => {
				const deliver = await checked;
				if (deliver) this.emit('message', deliver);
			})
			.catch(() => undefined);
	}

	/** The message the repo may see (cut down to its sealed changes), or nothing. */
	async #check(message: Message): Promise<Message | undefined> {
		const data = (message as { data?: unknown }).data;
		if (!WRITING_TYPES.has(message.type) || !(data instanceof Uint8Array)) return message;
		let decoded: A.DecodedSyncMessage;
		try {
			decoded = A.decodeSyncMessage(data);
		} catch {
			this.counter?.refused(1, message.senderId);
			return undefined; // not a sync message: the repo would only log it
		}
		if (decoded.changes.length === 0) return message;
		const { accepted, refused } = await checkPublishedChanges(decoded.changes, {
			...(this.decodedValues ? { remember: this.decodedValues } : {})
		});
		if (refused === 0) return message;
		this.counter?.refused(refused, message.senderId);
		const filtered = A.encodeSyncMessage({ ...decoded, changes: accepted });
		return { ...message, data: filtered } as Message;
	}
}
