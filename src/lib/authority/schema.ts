/**
 * The plaintext document types of a space. Each starts from a deterministic root change (fixed actor,
 * time 0) that creates its top-level containers, so concurrent writers never create competing maps.
 * Messages live in small per-writer-session buckets so the cost of one more message stays flat.
 */
import * as A from '@automerge/automerge';
import type { ChannelId, UserId } from '../identity/ids.js';

export type Durability = 'replicated' | 'strict' | 'guaranteed';

export interface MemberRecord {
	/** The member's signed user card (identity key, encryption key, device certificates). */
	card: Uint8Array;
	addedAt: number;
	nickname?: string;
}

export interface ChannelRecord {
	name: string;
	position: number;
	createdAt: number;
	durability: Durability;
}

export interface SpaceDoc {
	name: string;
	createdAt: number;
	members: Record<UserId, MemberRecord>;
	channels: Record<ChannelId, ChannelRecord>;
	/** Current epoch id (base58) of each document of the space, keyed by document id (base58). */
	epochs: Record<string, string>;
}

export interface StoredMessage {
	author: UserId;
	text: A.ImmutableString;
	createdAt: number;
	editedAt?: number;
	deleted?: boolean;
}

export interface ChannelDoc {
	/** bucket id → message id → message */
	buckets: Record<string, Record<string, StoredMessage>>;
}

const ROOT_ACTOR = '00'.repeat(16);

export const SPACE_DOC_ROOT: Uint8Array = A.save(
	A.change(A.init<SpaceDoc>({ actor: ROOT_ACTOR }), { time: 0 }, (d) => {
		d.name = '';
		d.createdAt = 0;
		d.members = {};
		d.channels = {};
		d.epochs = {};
	})
);

export const CHANNEL_DOC_ROOT: Uint8Array = A.save(
	A.change(A.init<ChannelDoc>({ actor: ROOT_ACTOR }), { time: 0 }, (d) => {
		d.buckets = {};
	})
);

export const MESSAGES_PER_BUCKET = 128;
