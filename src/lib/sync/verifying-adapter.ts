/**
 * A network adapter wrapper that lets only sealed publications (publication.ts) reach the repo.
 *
 * Sync messages that would add changes to a document are checked before the repo sees them; a
 * refused change is cut out of the message (the rest is delivered) and counted. Each message's check
 * starts as it arrives — the signature checks of messages that queue up behind a busy main thread
 * run side by side — and messages reach the repo in the order the peer sent them.
 *
 * Ephemeral messages (presence and typing signals, client/presence.ts) reach the repo only when
 * their data is one CBOR byte string no bigger than a signal: automerge-repo decodes the data before
 * anyone can judge it, and answers undecodable data by logging the whole message.
 */
import * as A from '@automerge/automerge';
import {
	cbor,
	type Message,
	type NetworkAdapterInterface,
	type PeerId
} from '@automerge/automerge-repo';
import { MAX_SIGNAL_BYTES } from '../encryption/signal.js';
import type { DecodedValues } from './envelope.js';
import { checkPublishedChanges } from './publication.js';
import { WrappingAdapter } from './wrapping-adapter.js';

const WRITING_TYPES = new Set(['sync', 'request']);
/** A signal's CBOR framing: a byte-string header of at most 3 bytes (lengths up to 65,535). */
const MAX_EPHEMERAL_BYTES = MAX_SIGNAL_BYTES + 3;

/** Whether an ephemeral message's data is a CBOR byte string of a signal's size. */
export function isSignalData(data: unknown): boolean {
	if (!(data instanceof Uint8Array) || data.byteLength > MAX_EPHEMERAL_BYTES) return false;
	try {
		return cbor.decode(data) instanceof Uint8Array;
	} catch {
		return false;
	}
}

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
		if (message.type === 'ephemeral') {
			if (isSignalData(data)) return message;
			this.counter?.refused(1, message.senderId);
			return undefined;
		}
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
