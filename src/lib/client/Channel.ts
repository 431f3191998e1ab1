/**
 * A channel of a space: an ordered list of messages, readable by members holding its epoch keys.
 */
import * as A from '@automerge/automerge';
import { CharterError } from '../errors.js';
import { channelIdBytes, type ChannelId, type UserId } from '../identity/ids.js';
import { CHANNEL_DOC_ROOT, MESSAGES_PER_BUCKET, type ChannelDoc, type ChannelRecord } from '../authority/schema.js';
import { notYet } from '../authority/verdict.js';
import { DocumentReplica } from '../sync/replica.js';
import { base58, hex } from '../util/bytes.js';
import type { ClientContext } from './context.js';
import type { Space } from './Space.js';
import type { KeyRing } from '../encryption/keyring.js';

export const MAX_MESSAGE_LENGTH = 4000;

export interface Message {
	id: string;
	author: UserId;
	text: string;
	createdAt: number;
	editedAt?: number;
}

export class Channel {
	#messages: Message[] | undefined;
	#listeners = new Set<(messages: readonly Message[]) => void>();
	#sent = 0;
	#sessionTag: string;

	private constructor(
		readonly id: ChannelId,
		readonly space: Space,
		private readonly replica: DocumentReplica<ChannelDoc>,
		private readonly context: ClientContext
	) {
		this.#sessionTag = hex.encode(context.signer.session);
		replica.subscribe(() => {
			this.#messages = undefined;
			const messages = this.messages;
			for (const listener of this.#listeners) listener(messages);
		});
	}

	/** @internal Opened by its Space. */
	static async open(space: Space, id: ChannelId, context: ClientContext, keys: KeyRing): Promise<Channel> {
		const document = channelIdBytes(id);
		const replica = await DocumentReplica.open<ChannelDoc>({
			space: space.idBytes,
			document,
			wire: context.wire,
			local: context.local,
			root: CHANNEL_DOC_ROOT,
			keys,
			signer: context.signer,
			authorize: (header, changes) =>
				space.authority ? space.authority.authorize('channel', header, changes) : notYet('no-genesis'),
			currentEpoch: () => space.currentEpoch(document)
		});
		return new Channel(id, space, replica, context);
	}

	get record(): ChannelRecord | undefined {
		return this.space.document.channels[this.id];
	}

	get name(): string {
		return this.record?.name ?? '';
	}

	/** Messages in display order (creation time, then id), deleted ones left out. */
	get messages(): readonly Message[] {
		if (this.#messages) return this.#messages;
		const out: Message[] = [];
		for (const bucket of Object.values(this.replica.doc.buckets ?? {})) {
			for (const [id, m] of Object.entries(bucket ?? {})) {
				if (!m || m.deleted) continue;
				out.push({
					id,
					author: m.author,
					text: m.text?.toString() ?? '',
					createdAt: m.createdAt,
					...(m.editedAt ? { editedAt: m.editedAt } : {})
				});
			}
		}
		out.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
		this.#messages = out;
		return out;
	}

	/** Calls `listener` with the message list now and after every change; returns an unsubscribe. */
	subscribe(listener: (messages: readonly Message[]) => void): () => void {
		this.#listeners.add(listener);
		listener(this.messages);
		return () => this.#listeners.delete(listener);
	}

	async send(text: string): Promise<Message> {
		if (typeof text !== 'string' || text.trim().length === 0)
			throw new CharterError('invalid-argument', 'a message needs some text');
		if (text.length > MAX_MESSAGE_LENGTH)
			throw new CharterError('invalid-argument', `a message is at most ${MAX_MESSAGE_LENGTH} characters`);
		this.space.assertCanWrite('channel');
		if (!this.space.currentEpoch(channelIdBytes(this.id)))
			throw new CharterError('unknown-epoch', 'this device does not hold the key of this channel yet');
		const n = this.#sent++;
		const bucket = `${this.#sessionTag}.${Math.floor(n / MESSAGES_PER_BUCKET)}`;
		const id = `${this.#sessionTag}.${n}`;
		const message: Message = { id, author: this.context.identity.userId, text, createdAt: Date.now() };
		const written = this.replica.change((d) => {
			d.buckets[bucket] ??= {};
			d.buckets[bucket]![id] = {
				author: message.author,
				text: new A.ImmutableString(text),
				createdAt: message.createdAt
			};
		});
		await written;
		return message;
	}

	/** @internal */
	reevaluate(): Promise<void> {
		return this.replica.reevaluate();
	}

	/** Resolves once every entry received so far has been processed. */
	settled(): Promise<void> {
		return this.replica.settled();
	}

	get stats() {
		return this.replica.stats;
	}

	/** @internal */
	get envelope() {
		return this.replica.envelope;
	}

	/** @internal */
	close(): Promise<void> {
		this.#listeners.clear();
		return this.replica.close();
	}

	toString(): string {
		return `Channel(${this.name || base58.encode(channelIdBytes(this.id)).slice(0, 6)})`;
	}
}
