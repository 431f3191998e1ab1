/**
 * The plaintext document types of a space. Each starts from a deterministic root change (fixed actor,
 * time 0) that creates its top-level containers, so concurrent writers never create competing maps.
 * Messages live in small per-writer-session buckets so the cost of one more message stays flat.
 */
import * as A from '@automerge/automerge';
import type { ChannelId, UserId } from '../identity/ids.js';
import { ROOT_EVERYONE_PERMISSIONS } from './permissions.js';

export type Durability = 'replicated' | 'strict' | 'guaranteed';
export const DURABILITIES: readonly Durability[] = ['replicated', 'strict', 'guaranteed'];

/** The id of the role every member has. */
export const EVERYONE = 'everyone';

export interface RoleRecord {
	name: string;
	/** Higher is more senior; @everyone is 0. */
	position: number;
	permissions: number;
	/** `#rrggbb` (see MAX_ROLE_COLOR): members' names show in their highest coloured role's. */
	color?: Atom;
}

type Atom<T extends string = string> = T | A.ImmutableString;

export interface MemberRecord {
	/** The member's signed user card (identity key, encryption key, device certificates). */
	card: Uint8Array;
	addedAt: number;
	addedBy: Atom<UserId>;
	nickname?: Atom;
	roles: Record<string, true>;
	/** Set when the member joined with an invite: which one, and the proof of holding its secret. */
	invite?: { id: Atom; proof: Uint8Array };
	/** The member's signed profile (display name, avatar), written by the member. */
	profile?: Uint8Array;
	/** Devices this member revoked (device ids): never accepted again, whatever card lists them. */
	revokedDevices?: Record<string, true>;
	/** Named by the owner as one of the successors who may, `quorum` of them together, take over. */
	successor?: true;
	/** This successor's approval of moving ownership to `candidate` in ownership term `term`. */
	approval?: SuccessionApproval;
}

/** A successor's signed wish (their own entry) that `candidate` own the space from term `term`. */
export interface SuccessionApproval {
	/** The ownership term it is for (SpaceState.term when written): a later term makes it stale. */
	term: number;
	candidate: Atom<UserId>;
}

export interface InviteRecord {
	/** Ed25519 key derived from the invite secret (verifies join proofs). */
	key: Uint8Array;
	/** X25519 key derived from the invite secret (epoch keys are sealed to it). */
	encryptionKey: Uint8Array;
	roles: Record<string, true>;
	/** 0 = unlimited. */
	maxUses: number;
	/** Milliseconds since the epoch; 0 = never. */
	expiresAt: number;
	createdBy: Atom<UserId>;
	createdAt: number;
	/** Users who joined with it (monotonic: counts uses even after they leave). */
	uses: Record<UserId, true>;
	revoked?: boolean;
}

export interface Overwrite {
	allow: number;
	deny: number;
}

export interface ChannelRecord {
	name: string;
	position: number;
	createdAt: number;
	durability: Atom<Durability>;
	/** Keys: `role:<role id>` or `user:<user id>`; `role:everyone` for @everyone. */
	overwrites: Record<string, Overwrite>;
	/** The channel's history generation: its envelope after the latest compaction (absent = 0). */
	history?: number;
	/** What the channel is about, shown in its header (at most MAX_TOPIC; absent: none). */
	topic?: Atom;
}

export interface BanRecord {
	by: Atom<UserId>;
	at: number;
	reason?: Atom;
}

/**
 * A kick, ban or leave — or (`restrict`) a permission a member loses while staying, written in the
 * same change that takes it away. `cutoffs` records, per channel the writer could see, the channel
 * heads the writer had: the member's channel changes inside that causal past were written before
 * the loss and stay valid; those outside it are judged as written after (no back-dating).
 */
export interface RemovalRecord {
	user: Atom<UserId>;
	kind: Atom<'kick' | 'ban' | 'leave' | 'restrict'>;
	by: Atom<UserId>;
	at: number;
	/** Comma-separated hex change hashes per channel. */
	cutoffs: Record<ChannelId, Atom>;
}

export interface SpaceDoc {
	name: string;
	createdAt: number;
	members: Record<UserId, MemberRecord>;
	roles: Record<string, RoleRecord>;
	channels: Record<ChannelId, ChannelRecord>;
	bans: Record<UserId, BanRecord>;
	removals: Record<string, RemovalRecord>;
	invites: Record<string, InviteRecord>;
	/** Current epoch id (base58) of each document of the space, keyed by document id (base58). */
	epochs: Record<string, Atom>;
	/** The owner after a hand-over (absent: the genesis owner). Written only by the owner. */
	owner?: Atom<UserId>;
	/**
	 * The ownership term of the latest hand-over (absent: 0). Each hand-over names the next term, so
	 * successors' approvals written for an earlier term never count again (see state.ts).
	 */
	term?: number;
	/** How many of the named successors (`members/<user>/successor`) together move ownership. */
	quorum?: number;
	/** When the owner deleted the space (ms): members' clients forget it. Never undone. */
	deletedAt?: number;
}

export interface StoredMessage {
	author: Atom<UserId>;
	text: A.ImmutableString;
	createdAt: number;
	editedAt?: number;
	deleted?: boolean;
	/** The id of the message this one replies to; set on creation. */
	replyTo?: Atom;
	/**
	 * Whom the message mentions, set on creation: `user:<user id>`, `role:<role id>`, `everyone`,
	 * `here` → true (the same target keys as channel overwrites).
	 */
	mentions?: Record<string, true>;
	/**
	 * The id of the message whose thread this one is in (its root); set on creation. A message in a
	 * thread is shown in the thread, not in the channel's list, and starts no thread of its own.
	 */
	thread?: Atom;
	/**
	 * Reactions, one key per member and emoji (`reaction:<user id>:<emoji>` → when it was added, in
	 * ms): keys of the message's own map, so reacting makes no object and two members reacting at
	 * once never compete for one (see `reactionKey`).
	 */
	[reaction: `reaction:${string}`]: number;
}

const REACTION_PREFIX = 'reaction:';

/** The key of `user`'s reaction `emoji` in a message's map. */
export const reactionKey = (user: UserId, emoji: string): `reaction:${string}` =>
	`${REACTION_PREFIX}${user}:${emoji}`;

/** The member and emoji of a reaction key (user ids hold no `:`), or undefined for another key. */
export function parseReactionKey(key: string): { user: UserId; emoji: string } | undefined {
	if (!key.startsWith(REACTION_PREFIX)) return undefined;
	const rest = key.slice(REACTION_PREFIX.length);
	const colon = rest.indexOf(':');
	if (colon <= 0) return undefined;
	return { user: rest.slice(0, colon) as UserId, emoji: rest.slice(colon + 1) };
}

export interface ChannelDoc {
	/** bucket id → message id → message */
	buckets: Record<string, Record<string, StoredMessage>>;
	/**
	 * Pinned messages, one key of the root map per pin (`pin:<bucket>:<message id>` → when it was
	 * pinned, in ms): like reactions, a pin makes no object, so two moderators pinning at once never
	 * compete for one, and counting the pins reads the root's few keys only (see `pinKey`).
	 */
	[pin: `pin:${string}`]: number;
}

const PIN_PREFIX = 'pin:';

/** The key of the pin of message `message` (in bucket `bucket`) in a channel document's root. */
export const pinKey = (bucket: string, message: string): `pin:${string}` =>
	`${PIN_PREFIX}${bucket}:${message}`;

/**
 * The bucket and message of a pin key (bucket ids hold no `:`), or undefined for another key.
 */
export function parsePinKey(key: string): { bucket: string; message: string } | undefined {
	if (!key.startsWith(PIN_PREFIX)) return undefined;
	const rest = key.slice(PIN_PREFIX.length);
	const colon = rest.indexOf(':');
	if (colon <= 0 || colon === rest.length - 1) return undefined;
	return { bucket: rest.slice(0, colon), message: rest.slice(colon + 1) };
}

export const ROOT_ACTOR = '00'.repeat(16);

export const SPACE_DOC_ROOT: Uint8Array = A.save(
	A.change(A.init<SpaceDoc>({ actor: ROOT_ACTOR }), { time: 0 }, (d) => {
		d.name = '';
		d.createdAt = 0;
		d.members = {};
		d.roles = {
			[EVERYONE]: { name: '@everyone', position: 0, permissions: ROOT_EVERYONE_PERMISSIONS }
		};
		d.channels = {};
		d.bans = {};
		d.removals = {};
		d.invites = {};
		d.epochs = {};
	})
);

export const CHANNEL_DOC_ROOT: Uint8Array = A.save(
	A.change(A.init<ChannelDoc>({ actor: ROOT_ACTOR }), { time: 0 }, (d) => {
		d.buckets = {};
	})
);

export const MESSAGES_PER_BUCKET = 128;

/**
 * The bucket a message id belongs in: message `<session>.<n>` lives in bucket
 * `<session>.<⌊n / MESSAGES_PER_BUCKET⌋>` (how `Channel.send` files it), so a rule finds a message by
 * its id without a search. Undefined for an id not of that form.
 */
export function bucketOfMessage(id: string): string | undefined {
	const dot = id.lastIndexOf('.');
	if (dot <= 0) return undefined;
	const n = id.slice(dot + 1);
	if (!/^(0|[1-9][0-9]{0,15})$/.test(n)) return undefined;
	return `${id.slice(0, dot)}.${Math.floor(Number(n) / MESSAGES_PER_BUCKET)}`;
}

/**
 * Identifiers and other atomic strings are written as ImmutableString (a plain JS string would become
 * a collaborative Text object, which rules could not check as one value); this reads either.
 */
export function asString(value: unknown): string | undefined {
	if (typeof value === 'string') return value;
	if (value instanceof A.ImmutableString) return value.val;
	return undefined;
}

export const atom = (value: string) => new A.ImmutableString(value);
