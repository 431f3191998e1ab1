/**
 * Space actions as plans: pure functions from the authority state, the space document and the
 * action's arguments to what the action would do — its change to the space document, the documents
 * whose key it rotates, and who is handed which keys (who gains read access, and, through the
 * rotation, who loses it). Nothing here holds a key, seals or writes: the client dry-runs a plan
 * through the rule table, and only if the rules accept it makes the new epochs, seals the lockboxes
 * the handouts name and commits the change (`client/Space.ts`, `#carryOut`).
 *
 * A plan refuses early, with a typed error, what the rules would refuse anyway, so that the user is
 * told why in words; the rule table stays the judge (a plan that passes here may still be refused by
 * the dry run, e.g. because of a concurrent change).
 *
 * Everything a plan would otherwise take from the clock or the random source (`now`, new ids, the
 * heads of the channels this device holds) is an argument, so a plan is a function of its inputs.
 */
import * as A from '@automerge/automerge';
import { CharterError } from '../errors.js';
import type { UserCard } from '../identity/certificates.js';
import {
	channelId,
	channelIdBytes,
	spaceIdBytes,
	type ChannelId,
	type DeviceId,
	type UserId
} from '../identity/ids.js';
import { bytesEqual } from '../util/bytes.js';
import type { InviteKeys } from './invites.js';
import { MAX_NAME, MAX_NICKNAME, MAX_SUCCESSORS, MAX_TOPIC } from './limits.js';
import { isRoleColor } from './space-rules.js';
import { nicknameForm, nicknameTakenBy } from './nicknames.js';
import { has, isPermissionBits, Permission, type PermissionName } from './permissions.js';
import {
	asString,
	atom,
	EVERYONE,
	type Durability,
	type Overwrite,
	type SpaceDoc
} from './schema.js';
import { SINGLE_VALUE_TIME } from './single-values.js';
import { SpaceState } from './state.js';
import { restrictedBy } from './space-validator.js';

/** What every plan starts from: the space as this member sees it now. */
export interface PlanContext {
	/** The authority state now (undefined before the space has arrived: every plan refuses). */
	state: SpaceState | undefined;
	/** The materialised (valid) space document. */
	doc: A.Doc<SpaceDoc>;
	/** The acting user. */
	me: UserId;
	/** The acting device's clock (ms). */
	now: number;
}

/** Someone to seal epoch keys to: a member's, an invite's or a newcomer's encryption key. */
export interface Recipient {
	encryptionKey: Uint8Array;
}

/**
 * Lockboxes a plan asks for once its change is accepted: the keys of `documents` sealed to each of
 * `recipients` — `new`: only the epochs this change makes (it rotates those documents), `held`:
 * every epoch of them the sealing device holds, the new ones included (full history).
 */
export interface Handout {
	recipients: readonly Recipient[];
	documents: readonly Uint8Array[];
	epochs: 'new' | 'held';
}

/** A space action before it is carried out (nothing in it has touched a key or the wire). */
export interface SpacePlan {
	/** The change to the space document (the client adds the namings of the new epochs to it). */
	change(d: SpaceDoc): void;
	/** Documents that get a new epoch, named in the same change. */
	rotate?: readonly Uint8Array[];
	/** The lockboxes to seal once the change is accepted (absent: the change seals nothing). */
	handouts?: readonly Handout[];
	options?: A.ChangeOptions<SpaceDoc>;
	/** The change completes pending rotations itself (it does not wait for them first). */
	completesRotations?: true;
	/** The change writes `owner` and `term` itself (a hand-over): no succession is recorded with it. */
	ownership?: true;
}

// ---- shared checks and what-ifs -----------------------------------------------------------------

/**
 * The state, if the acting user is a member holding `permission` (0: membership alone), space-wide
 * or in `channel`; otherwise `not-authorized`.
 */
export function requireMember(
	ctx: PlanContext,
	permission = 0,
	name = '',
	channel?: ChannelId
): SpaceState {
	const { state, me } = ctx;
	if (!state || !state.isMember(me))
		throw new CharterError('not-authorized', 'you are not a member of this space');
	if (permission && !state.can(me, permission, channel))
		throw new CharterError('not-authorized', `needs ${name}`);
	return state;
}

/** The owner is managed by nobody; anyone else only by members ranked strictly above them. */
function requireBelow(ctx: PlanContext, state: SpaceState, user: UserId): void {
	if (user === state.owner) throw new CharterError('not-authorized', 'nobody manages the owner');
	if (state.rank(user) >= state.rank(ctx.me))
		throw new CharterError('not-authorized', 'you may only manage members below your highest role');
}

/** A space, channel or role name: trimmed, 1 to MAX_NAME characters. */
export function checkName(name: string, what: string): string {
	const trimmed = typeof name === 'string' ? name.trim() : '';
	if (!trimmed || trimmed.length > MAX_NAME)
		throw new CharterError('invalid-argument', `a ${what} name has 1 to ${MAX_NAME} characters`);
	return trimmed;
}

/**
 * A role colour as stored: `#rrggbb` in lowercase (`#5865F2` is taken as `#5865f2`), or `null` to
 * take the colour away. Anything else — a CSS name, `rgb()`, a `;` — is refused.
 */
export function checkRoleColor(color: string | null): string | null {
	if (color === null) return null;
	const lower = typeof color === 'string' ? color.trim().toLowerCase() : '';
	if (!isRoleColor(lower))
		throw new CharterError('invalid-argument', 'a role colour is #rrggbb, e.g. #5865f2');
	return lower;
}

/** A channel topic as stored: trimmed, at most MAX_TOPIC characters ('' takes the topic away). */
export function checkTopic(topic: string): string {
	if (typeof topic !== 'string') throw new CharterError('invalid-argument', 'a topic is text');
	const trimmed = topic.trim();
	if (trimmed.length > MAX_TOPIC)
		throw new CharterError('invalid-argument', `a topic has at most ${MAX_TOPIC} characters`);
	return trimmed;
}

/** Permission names to bits, refusing a name that is not a permission. */
export function bitsOf(names: readonly PermissionName[]): number {
	let bits = 0;
	for (const name of names) {
		const bit = Permission[name];
		if (bit === undefined)
			throw new CharterError('invalid-argument', `unknown permission ${String(name)}`);
		bits |= bit;
	}
	if (!isPermissionBits(bits)) throw new CharterError('invalid-argument', 'unknown permissions');
	return bits;
}

/** The state the space would be in after `edit` to a plain copy of its document (a what-if). */
export function stateAfter(
	state: SpaceState,
	doc: A.Doc<SpaceDoc>,
	edit: (draft: SpaceDoc) => void
): SpaceState {
	const draft = A.toJS(doc) as SpaceDoc;
	edit(draft);
	return SpaceState.derive(state.genesis, draft);
}

/** The channel a document is, or undefined for the space document itself. */
export function channelOf(state: SpaceState, document: Uint8Array): ChannelId | undefined {
	return bytesEqual(document, spaceIdBytes(state.genesis.space)) ? undefined : channelId(document);
}

/**
 * Who reads a channel's past: VIEW_CHANNEL and READ_MESSAGE_HISTORY there. Only they are ever handed
 * keys of the channel's epochs from before they came in; a reader without READ_MESSAGE_HISTORY gets
 * only epochs named after they came in (the channel rotates when they do: `freshReadOf` in
 * space-validator.ts marks the rotation pending until a reader names one).
 */
export const READS_HISTORY = Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY;

/**
 * Active invites (not revoked, not expired, not used up, at `ctx.now`) whose roles may read
 * `channel` and its history — or the space document, without one — in the current state: a
 * rotation seals them the new epoch, so an invite keeps working with every member offline. An
 * invite whose roles lack READ_MESSAGE_HISTORY in a channel is sealed none of its epochs: whoever
 * joins with it is in the channel without a key until a reader (the newcomer too) names a new one.
 */
export function activeInviteKeys(ctx: PlanContext, channel?: ChannelId): Recipient[] {
	const { state, doc, now } = ctx;
	return Object.values(doc.invites ?? {})
		.filter((r) => {
			const uses = Object.keys(r.uses ?? {}).length;
			const active =
				r.revoked !== true &&
				!(!!r.expiresAt && r.expiresAt < now) &&
				(!r.maxUses || uses < r.maxUses);
			const roles = Object.keys(r.roles ?? {});
			return active && (!channel || !state || state.rolesCan(roles, READS_HISTORY, channel));
		})
		.map((r) => ({ encryptionKey: r.encryptionKey }));
}

/**
 * New epochs of `documents` handed to everyone who may read each of them in `after` (the state
 * the change leads to), and to the active invites that may in `after`.
 */
export function toReaders(
	ctx: PlanContext,
	after: SpaceState,
	documents: readonly Uint8Array[]
): Handout[] {
	return documents.map((document) => {
		const channel = channelOf(after, document);
		return {
			recipients: [
				...after.readers(channel),
				...activeInviteKeys({ ...ctx, state: after }, channel)
			],
			documents: [document],
			epochs: 'new' as const
		};
	});
}

/**
 * Every key of each channel handed to the members who may read its history in `after` and could not
 * in `state` (a role given, a role's permissions changed): whoever gains READ_MESSAGE_HISTORY is
 * sent the older keys. (Whoever gains VIEW_CHANNEL without it gets none: the change makes a
 * rotation pending — space-validator.ts, `freshReadOf` — which a reader completes.)
 */
export function historyGained(state: SpaceState, after: SpaceState): Handout[] {
	const handouts: Handout[] = [];
	for (const member of after.members.values()) {
		const documents = [...after.channels.keys()]
			.filter(
				(c) =>
					after.can(member.user, READS_HISTORY, c) &&
					!(state.isMember(member.user) && state.can(member.user, READS_HISTORY, c))
			)
			.map((c) => channelIdBytes(c));
		if (documents.length) handouts.push({ recipients: [member], documents, epochs: 'held' });
	}
	return handouts;
}

// ---- settings -----------------------------------------------------------------------------------

export function rename(ctx: PlanContext, name: string): SpacePlan {
	const trimmed = checkName(name, 'space');
	requireMember(ctx, Permission.MANAGE_SPACE, 'MANAGE_SPACE');
	return {
		change: (d) => {
			d.name = trimmed;
		},
		options: SINGLE_VALUE_TIME()
	};
}

/** The owner marks the space deleted (undefined: it already is, nothing to do). */
export function deleteSpace(ctx: PlanContext): SpacePlan | undefined {
	const state = requireMember(ctx);
	if (ctx.me !== state.owner)
		throw new CharterError('not-authorized', 'only the owner deletes a space');
	if (state.deletedAt !== undefined) return undefined;
	const at = ctx.now;
	return {
		change: (d) => {
			d.deletedAt = at;
		}
	};
}

// ---- roles and nicknames ------------------------------------------------------------------------

export function createRole(
	ctx: PlanContext,
	args: {
		id: string;
		name: string;
		permissions?: PermissionName[];
		position?: number;
		color?: string;
	}
): SpacePlan & {
	role: { id: string; name: string; position: number; permissions: number; color?: string };
} {
	const state = requireMember(ctx, Permission.MANAGE_ROLES, 'MANAGE_ROLES');
	const { me } = ctx;
	const name = checkName(args.name, 'role');
	const bits = bitsOf(args.permissions ?? []);
	if (!has(state.permissions(me), bits))
		throw new CharterError('not-authorized', 'you may not grant permissions you lack');
	const below = state.rank(me);
	const highest = Math.max(
		0,
		...[...state.roles.values()].map((r) => r.position).filter((p) => p < below)
	);
	const position = args.position ?? highest + 1;
	if (!(position >= 1 && position < below))
		throw new CharterError('not-authorized', 'a role must sit below your highest role');
	const { id } = args;
	const color = args.color !== undefined ? checkRoleColor(args.color) : null;
	return {
		change: (d) => {
			d.roles[id] = { name, position, permissions: bits, ...(color ? { color: atom(color) } : {}) };
		},
		role: { id, name, position, permissions: bits, ...(color ? { color } : {}) }
	};
}

/** What `updateRole` changes (left out: unchanged). `color: null` takes the colour away. */
export interface RoleChanges {
	name?: string;
	permissions?: PermissionName[];
	position?: number;
	/** `#rrggbb` (case-insensitive; stored lowercase), or null for none. */
	color?: string | null;
}

export function updateRole(ctx: PlanContext, id: string, changes: RoleChanges): SpacePlan {
	const state = requireMember(ctx, Permission.MANAGE_ROLES, 'MANAGE_ROLES');
	const role = state.roles.get(id);
	if (!role) throw new CharterError('invalid-argument', `no role ${id}`);
	const { me } = ctx;
	if (id !== EVERYONE && role.position >= state.rank(me))
		throw new CharterError('not-authorized', 'you may only manage roles below your highest role');
	const bits = changes.permissions ? bitsOf(changes.permissions) : undefined;
	if (bits !== undefined && !has(state.permissions(me), bits & ~role.permissions))
		throw new CharterError('not-authorized', 'you may not grant permissions you lack');
	if (
		changes.position !== undefined &&
		(id === EVERYONE || changes.position < 1 || changes.position >= state.rank(me))
	)
		throw new CharterError('not-authorized', 'a role must sit below your highest role');
	const name = changes.name !== undefined ? checkName(changes.name, 'role') : undefined;
	const gained =
		bits !== undefined
			? historyGained(
					state,
					stateAfter(state, ctx.doc, (draft) => {
						draft.roles[id]!.permissions = bits;
					})
				)
			: [];
	const color = changes.color !== undefined ? checkRoleColor(changes.color) : undefined;
	return {
		...(gained.length ? { handouts: gained } : {}),
		change: (d) => {
			const r = d.roles[id]!;
			if (name !== undefined) r.name = name;
			if (bits !== undefined) r.permissions = bits;
			if (changes.position !== undefined) r.position = changes.position;
			if (color) r.color = atom(color);
			else if (color === null && r.color !== undefined) delete r.color;
		},
		options: SINGLE_VALUE_TIME()
	};
}

export function deleteRole(ctx: PlanContext, id: string): SpacePlan {
	const state = requireMember(ctx, Permission.MANAGE_ROLES, 'MANAGE_ROLES');
	const role = state.roles.get(id);
	if (!role || id === EVERYONE)
		throw new CharterError('invalid-argument', `no role ${id} to delete`);
	if (role.position >= state.rank(ctx.me))
		throw new CharterError('not-authorized', 'you may only manage roles below your highest role');
	return {
		change: (d) => {
			delete d.roles[id];
		}
	};
}

/** Gives (`on`) or takes a role from a member. */
export function setRole(ctx: PlanContext, user: UserId, roleId: string, on: boolean): SpacePlan {
	const state = requireMember(ctx, Permission.MANAGE_ROLES, 'MANAGE_ROLES');
	const { me } = ctx;
	const role = state.roles.get(roleId);
	if (!role || roleId === EVERYONE) throw new CharterError('invalid-argument', `no role ${roleId}`);
	if (!state.isMember(user)) throw new CharterError('invalid-argument', 'not a member');
	if (role.position >= state.rank(me))
		throw new CharterError('not-authorized', 'you may only assign roles below your highest role');
	if (user !== me) requireBelow(ctx, state, user);
	const gained = on
		? historyGained(
				state,
				stateAfter(state, ctx.doc, (draft) => {
					const member = draft.members[user];
					if (member) member.roles = { ...member.roles, [roleId]: true };
				})
			)
		: [];
	return {
		...(gained.length ? { handouts: gained } : {}),
		change: (d) => {
			const member = d.members[user];
			if (!member) return;
			if (on) member.roles[roleId] = true;
			else delete member.roles[roleId];
		}
	};
}

export function setNickname(ctx: PlanContext, nickname: string, user: UserId): SpacePlan {
	const { me } = ctx;
	const form = nicknameForm(nickname);
	if (form.length > MAX_NICKNAME)
		throw new CharterError('invalid-argument', `a nickname has at most ${MAX_NICKNAME} characters`);
	const state = requireMember(
		ctx,
		user === me ? Permission.CHANGE_NICKNAME : Permission.MANAGE_NICKNAMES,
		user === me ? 'CHANGE_NICKNAME' : 'MANAGE_NICKNAMES'
	);
	if (user !== me) requireBelow(ctx, state, user);
	// the rule table's own test (nicknames.ts), before anything is written
	if (nicknameTakenBy(state, ctx.doc, user, form))
		throw new CharterError(
			'invalid-argument',
			`the nickname “${form}” is taken in this space (nicknames are compared ignoring case and Unicode form)`
		);
	return {
		change: (d) => {
			const member = d.members[user];
			if (member) member.nickname = atom(form);
		},
		options: SINGLE_VALUE_TIME()
	};
}

// ---- members ------------------------------------------------------------------------------------

/**
 * Adds users from their (verified) cards, in one change; each is handed every key of the space
 * document and of every channel whose history they may read once added (full history). A channel
 * they may read without READ_MESSAGE_HISTORY rotates in the same change (if this member reads it;
 * otherwise a reader completes it), and they get only its new epoch.
 */
export function addMembers(ctx: PlanContext, cards: readonly UserCard[]): SpacePlan {
	const state = requireMember(ctx, Permission.CREATE_INVITE, 'CREATE_INVITE');
	for (const card of cards) {
		if (state.bans.has(card.user))
			throw new CharterError('not-authorized', 'that user is banned from this space');
		if (state.isMember(card.user)) throw new CharterError('invalid-argument', 'already a member');
	}
	if (new Set(cards.map((c) => c.user)).size !== cards.length)
		throw new CharterError('invalid-argument', 'a user is listed twice');
	const { me, now: addedAt } = ctx;
	const after = stateAfter(state, ctx.doc, (draft) => {
		for (const card of cards)
			draft.members[card.user] = { card: card.bytes, addedAt, addedBy: me, roles: {} };
	});
	const space = spaceIdBytes(state.genesis.space);
	const rotate = [...after.channels.keys()]
		.filter(
			(channel) =>
				state.can(me, Permission.VIEW_CHANNEL, channel) &&
				cards.some(
					(card) =>
						after.can(card.user, Permission.VIEW_CHANNEL, channel) &&
						!after.can(card.user, READS_HISTORY, channel)
				)
		)
		.map((channel) => channelIdBytes(channel));
	return {
		change: (d) => {
			for (const card of cards)
				d.members[card.user] = { card: card.bytes, addedAt, addedBy: atom(me), roles: {} };
		},
		...(rotate.length ? { rotate } : {}),
		handouts: [
			...cards.map((card) => ({
				recipients: [card],
				documents: [
					space,
					...[...after.channels.keys()]
						.filter((channel) => after.can(card.user, READS_HISTORY, channel))
						.map((channel) => channelIdBytes(channel))
				],
				epochs: 'held' as const
			})),
			...toReaders(ctx, after, rotate)
		]
	};
}

/**
 * Kicks or bans a member: removes them (and bans them), records the heads this device had of each
 * channel (`channelHeads`: their messages before stay valid everywhere), and rotates every key they
 * could read that this member can rotate — the space document's, and each channel both can read;
 * the rest is left pending for a reader to complete. The new epochs go to the readers after.
 */
export function remove(
	ctx: PlanContext,
	args: {
		user: UserId;
		kind: 'kick' | 'ban';
		reason?: string;
		removalId: string;
		channelHeads: ReadonlyMap<ChannelId, string>;
	}
): SpacePlan {
	const { user, kind, reason, removalId } = args;
	const state = requireMember(
		ctx,
		kind === 'ban' ? Permission.BAN_MEMBERS : Permission.KICK_MEMBERS,
		kind === 'ban' ? 'BAN_MEMBERS' : 'KICK_MEMBERS'
	);
	requireBelow(ctx, state, user);
	if (kind === 'kick' && !state.isMember(user))
		throw new CharterError('invalid-argument', 'not a member');
	const { me, now: at } = ctx;
	const cutoffs: Record<string, A.ImmutableString> = {};
	const documents: Uint8Array[] = [];
	if (state.isMember(user)) documents.push(spaceIdBytes(state.genesis.space));
	for (const [channel, heads] of args.channelHeads) {
		cutoffs[channel] = atom(heads);
		// rotated by a reader of the channel (others leave it pending for a reader to complete)
		if (
			state.can(user, Permission.VIEW_CHANNEL, channel) &&
			state.can(me, Permission.VIEW_CHANNEL, channel)
		)
			documents.push(channelIdBytes(channel));
	}
	const after = stateAfter(state, ctx.doc, (draft) => {
		delete draft.members[user];
		if (kind === 'ban') draft.bans = { ...draft.bans, [user]: { by: me, at } };
	});
	return {
		change: (d) => {
			if (d.members[user]) delete d.members[user];
			if (kind === 'ban')
				d.bans[user] = {
					by: atom(me),
					at,
					...(reason ? { reason: atom(reason.slice(0, 500)) } : {})
				};
			d.removals[removalId] = { user: atom(user), kind: atom(kind), by: atom(me), at, cutoffs };
		},
		rotate: documents,
		handouts: toReaders(ctx, after, documents)
	};
}

export function unban(ctx: PlanContext, user: UserId): SpacePlan {
	requireMember(ctx, Permission.BAN_MEMBERS, 'BAN_MEMBERS');
	if (!ctx.doc.bans?.[user]) throw new CharterError('invalid-argument', 'that user is not banned');
	return {
		change: (d) => {
			delete d.bans[user];
		}
	};
}

/**
 * Leaves the space. The leaver rotates nothing (they would know the new keys): the removal leaves
 * every rotation pending for the members who stay. Like a kick it records the channel heads this
 * device had, so the leaver's messages before it stay valid everywhere.
 */
export function leave(
	ctx: PlanContext,
	args: { removalId: string; channelHeads: ReadonlyMap<ChannelId, string> }
): SpacePlan {
	const state = requireMember(ctx);
	const { me, now: at } = ctx;
	if (me === state.owner)
		throw new CharterError(
			'not-authorized',
			'the owner cannot leave their space: hand it over to another member first'
		);
	const cutoffs: Record<string, A.ImmutableString> = {};
	for (const [channel, heads] of args.channelHeads) cutoffs[channel] = atom(heads);
	const { removalId } = args;
	return {
		change: (d) => {
			delete d.members[me];
			d.removals[removalId] = { user: atom(me), kind: atom('leave'), by: atom(me), at, cutoffs };
		}
	};
}

/**
 * Revokes one of this user's devices: puts `card` (this user's new card, with a new encryption key
 * and without the device) and the revocation in the space, and rotates every key the device could
 * read, sealed to everyone still allowed — this user at the new encryption key.
 * Undefined when this user is not a member (nothing to do here).
 */
export function revokeDevice(
	ctx: PlanContext,
	args: { device: DeviceId; card: UserCard }
): SpacePlan | undefined {
	return withNewCard(ctx, args.card, [args.device]);
}

/**
 * Identity rotation in one space: the member's new card (its chain one link longer, only the devices
 * the new key certified, a new encryption key) and, for good, `revokedDevices` for every device of
 * theirs not carried over; every key those devices could read rotates, as on a revocation.
 */
export function rotateIdentity(
	ctx: PlanContext,
	args: { card: UserCard; revoked: readonly DeviceId[] }
): SpacePlan | undefined {
	return withNewCard(ctx, args.card, args.revoked);
}

/**
 * This member's new card, with `revoked` devices marked for good, and a rotation of every document
 * they read, sealed to everyone still allowed (this user at the new card's encryption key).
 * Undefined when this user is not a member.
 */
function withNewCard(
	ctx: PlanContext,
	card: UserCard,
	revoked: readonly DeviceId[]
): SpacePlan | undefined {
	const { state, me } = ctx;
	if (!state?.isMember(me)) return undefined;
	const after = stateAfter(state, ctx.doc, (draft) => {
		if (draft.members[me]) draft.members[me]!.card = card.bytes;
	});
	const documents = [
		spaceIdBytes(state.genesis.space),
		...[...state.channels.keys()]
			.filter((c) => state.can(me, Permission.VIEW_CHANNEL, c))
			.map((c) => channelIdBytes(c))
	];
	return {
		change: (d) => {
			const member = d.members[me];
			if (!member) return;
			member.card = card.bytes;
			if (revoked.length) {
				member.revokedDevices ??= {};
				for (const device of revoked) member.revokedDevices[device] = true;
			}
		},
		rotate: documents,
		handouts: toReaders(ctx, after, documents)
	};
}

/** A new device of a member puts itself on the member's card (`card`: the card with it). */
export function registerDevice(ctx: PlanContext, card: UserCard): SpacePlan {
	const { me } = ctx;
	return {
		change: (d) => {
			const member = d.members[me];
			if (member) member.card = card.bytes;
		}
	};
}

/** Joins with an invite: the newcomer's own signed admission, proving the invite's secret. */
export function join(
	ctx: PlanContext,
	args: { invite: string; proof: Uint8Array; card: UserCard; roles: readonly string[] }
): SpacePlan {
	const { me, now: addedAt } = ctx;
	const { invite, proof, card, roles } = args;
	return {
		change: (d) => {
			d.members[me] = {
				card: card.bytes,
				addedAt,
				addedBy: atom(me),
				roles: Object.fromEntries(roles.map((r) => [r, true as const])),
				invite: { id: atom(invite), proof }
			};
			d.invites[invite]!.uses[me] = true;
		}
	};
}

// ---- invites ------------------------------------------------------------------------------------

/**
 * Records an invite (its public keys, granted roles, limits) and hands its key every epoch of the
 * space document and of the channels whose history its roles may read, so a newcomer can join with
 * every member offline. Channels its roles may read without READ_MESSAGE_HISTORY get nothing: the
 * newcomer's first key of them is of an epoch named after the join (by them or any reader).
 * `keys`: the keys of the invite's fresh secret.
 */
export function createInvite(
	ctx: PlanContext,
	args: { keys: InviteKeys; roles?: readonly string[]; maxUses?: number; expiresAt?: number }
): SpacePlan {
	const state = requireMember(ctx, Permission.CREATE_INVITE, 'CREATE_INVITE');
	const { me, now } = ctx;
	const roles = args.roles ?? [];
	for (const role of roles) {
		const record = state.roles.get(role);
		if (!record || role === EVERYONE) throw new CharterError('invalid-argument', `no role ${role}`);
		if (!state.can(me, Permission.MANAGE_ROLES) || record.position >= state.rank(me))
			throw new CharterError('not-authorized', 'an invite may grant only roles you could assign');
	}
	const maxUses = args.maxUses ?? 0;
	const expiresAt = args.expiresAt ?? 0;
	if (!Number.isInteger(maxUses) || maxUses < 0)
		throw new CharterError('invalid-argument', 'maxUses is a whole number ≥ 0 (0 = unlimited)');
	if (!Number.isFinite(expiresAt) || expiresAt < 0 || (expiresAt && expiresAt <= now))
		throw new CharterError('invalid-argument', 'expiresAt must be in the future (or 0 for never)');
	const { keys } = args;
	return {
		change: (d) => {
			d.invites[keys.id] = {
				key: keys.signingKey,
				encryptionKey: keys.encryptionKey,
				roles: Object.fromEntries(roles.map((r) => [r, true as const])),
				maxUses,
				expiresAt,
				createdBy: atom(me),
				createdAt: now,
				uses: {}
			};
		},
		handouts: [
			{
				recipients: [{ encryptionKey: keys.encryptionKey }],
				documents: [
					spaceIdBytes(state.genesis.space),
					...[...state.channels.keys()]
						.filter((channel) => state.rolesCan(roles, READS_HISTORY, channel))
						.map((channel) => channelIdBytes(channel))
				],
				epochs: 'held'
			}
		]
	};
}

export function revokeInvite(ctx: PlanContext, id: string): SpacePlan {
	const state = requireMember(ctx);
	const record = ctx.doc.invites?.[id];
	if (!record) throw new CharterError('invite-unknown', `no invite ${id}`);
	const { me } = ctx;
	if (asString(record.createdBy) !== me && !state.can(me, Permission.MANAGE_SPACE))
		throw new CharterError('not-authorized', 'only its creator or MANAGE_SPACE revokes an invite');
	return {
		change: (d) => {
			d.invites[id]!.revoked = true;
		}
	};
}

// ---- channels -----------------------------------------------------------------------------------

/**
 * Creates a channel (`id`: its fresh id) with its first epoch, handed to everyone who may read it
 * (a private channel: only its creator, and whoever the roles let past the overwrite).
 */
export function createChannel(
	ctx: PlanContext,
	args: { id: ChannelId; name: string; private?: boolean; durability?: Durability }
): SpacePlan {
	const name = checkName(args.name, 'channel');
	const state = requireMember(ctx, Permission.MANAGE_CHANNELS, 'MANAGE_CHANNELS');
	const { id } = args;
	const { me, now } = ctx;
	const document = channelIdBytes(id);
	const overwrites: Record<string, Overwrite> = args.private
		? {
				[`role:${EVERYONE}`]: { allow: 0, deny: Permission.VIEW_CHANNEL },
				[`user:${me}`]: { allow: Permission.VIEW_CHANNEL, deny: 0 }
			}
		: {};
	const readers = stateAfter(state, ctx.doc, (draft) => {
		draft.channels[id] = { name, position: 0, createdAt: 0, durability: 'replicated', overwrites };
	}).readers(id);
	return {
		change: (d) => {
			d.channels[id] = {
				name,
				position: Object.keys(d.channels).length,
				createdAt: now,
				durability: atom(args.durability ?? 'replicated'),
				overwrites
			};
		},
		rotate: [document],
		handouts: [{ recipients: readers, documents: [document], epochs: 'new' }]
	};
}

/** What `updateChannel` changes (left out: unchanged). `topic: ''` takes the topic away. */
export interface ChannelChanges {
	name?: string;
	position?: number;
	durability?: Durability;
	/** At most MAX_TOPIC characters (trimmed); '' for none. */
	topic?: string;
}

export function updateChannel(ctx: PlanContext, id: ChannelId, changes: ChannelChanges): SpacePlan {
	requireMember(ctx, Permission.MANAGE_CHANNELS, 'MANAGE_CHANNELS', id);
	if (!ctx.doc.channels?.[id]) throw new CharterError('unknown-channel', 'no such channel');
	const name = changes.name !== undefined ? checkName(changes.name, 'channel') : undefined;
	const topic = changes.topic !== undefined ? checkTopic(changes.topic) : undefined;
	return {
		change: (d) => {
			const c = d.channels[id]!;
			if (name !== undefined) c.name = name;
			if (changes.position !== undefined) c.position = changes.position;
			if (changes.durability !== undefined) c.durability = atom(changes.durability);
			if (topic) c.topic = atom(topic);
			else if (topic === '' && c.topic !== undefined) delete c.topic;
		},
		options: SINGLE_VALUE_TIME()
	};
}

/** A compaction moved channel `id`'s history to `generation`. */
export function recordChannelHistory(
	ctx: PlanContext,
	id: ChannelId,
	generation: number
): SpacePlan {
	requireMember(ctx, Permission.MANAGE_MESSAGES, 'MANAGE_MESSAGES', id);
	if (!ctx.doc.channels?.[id]) throw new CharterError('unknown-channel', 'no such channel');
	return {
		change: (d) => {
			d.channels[id]!.history = generation;
		}
	};
}

export function deleteChannel(ctx: PlanContext, id: ChannelId): SpacePlan {
	requireMember(ctx, Permission.MANAGE_CHANNELS, 'MANAGE_CHANNELS', id);
	return {
		change: (d) => {
			delete d.channels[id];
		}
	};
}

/**
 * Sets a channel permission overwrite for a role or a member. Whoever loses VIEW_CHANNEL loses the
 * channel's future: its key rotates (if this member can read it; else a reader completes it), the
 * new epoch handed to the readers after. Whoever gains VIEW_CHANNEL with READ_MESSAGE_HISTORY (or
 * gains READ_MESSAGE_HISTORY where they read) is handed every key of the channel, the new epoch's
 * too. Whoever gains VIEW_CHANNEL without READ_MESSAGE_HISTORY gets only a new epoch: the channel
 * rotates. It rotates too when an active invite's roles lose READ_MESSAGE_HISTORY there, so that
 * what is said from now on is under a key that invite was never sealed. `losers` and `gainers` say
 * who.
 */
export function setChannelPermissions(
	ctx: PlanContext,
	channel: ChannelId,
	target: { role: string } | { user: UserId },
	overwrite: { allow?: PermissionName[]; deny?: PermissionName[] }
): SpacePlan & { losers: UserId[]; gainers: UserId[] } {
	const state = requireMember(ctx, Permission.MANAGE_ROLES, 'MANAGE_ROLES', channel);
	if (!state.channels.has(channel)) throw new CharterError('unknown-channel', 'no such channel');
	const key = 'role' in target ? `role:${target.role}` : `user:${target.user}`;
	const allow = bitsOf(overwrite.allow ?? []);
	const deny = bitsOf(overwrite.deny ?? []);
	const { me } = ctx;
	if (!has(state.permissions(me, channel), allow))
		throw new CharterError('not-authorized', 'you may not grant permissions you lack');
	const after = stateAfter(state, ctx.doc, (draft) => {
		draft.channels[channel]!.overwrites = {
			...draft.channels[channel]!.overwrites,
			[key]: { allow, deny }
		};
	});
	const losers = [...state.members.keys()].filter(
		(u) =>
			state.can(u, Permission.VIEW_CHANNEL, channel) &&
			!after.can(u, Permission.VIEW_CHANNEL, channel)
	);
	const gaining = [...after.members.values()].filter(
		(m) =>
			!state.can(m.user, Permission.VIEW_CHANNEL, channel) &&
			after.can(m.user, Permission.VIEW_CHANNEL, channel)
	);
	// handed the channel's past: newly reading it with its history, or newly given its history
	const past = [...after.members.values()].filter(
		(m) => !state.can(m.user, READS_HISTORY, channel) && after.can(m.user, READS_HISTORY, channel)
	);
	const withoutPast = gaining.filter((m) => !after.can(m.user, READS_HISTORY, channel));
	const invitesLosePast = Object.values(ctx.doc.invites ?? {}).some((r) => {
		const roles = Object.keys(r.roles ?? {});
		return (
			r.revoked !== true &&
			state.rolesCan(roles, READS_HISTORY, channel) &&
			!after.rolesCan(roles, READS_HISTORY, channel)
		);
	});
	const document = channelIdBytes(channel);
	const rotate =
		(losers.length || withoutPast.length || invitesLosePast) &&
		state.can(me, Permission.VIEW_CHANNEL, channel)
			? [document]
			: [];
	return {
		change: (d) => {
			const c = d.channels[channel]!;
			c.overwrites ??= {};
			c.overwrites[key] = { allow, deny };
		},
		rotate,
		handouts: [
			...toReaders(ctx, after, rotate),
			...(past.length ? [{ recipients: past, documents: [document], epochs: 'held' as const }] : [])
		],
		losers,
		gainers: gaining.map((m) => m.user)
	};
}

// ---- keys ---------------------------------------------------------------------------------------

/**
 * Names new epochs for `documents` (rotations a removal left pending, or a document whose current
 * epoch this device holds no key of), each handed to everyone who may read it now.
 */
export function rotateKeys(
	ctx: PlanContext,
	documents: readonly Uint8Array[],
	options: { completesRotations?: true } = {}
): SpacePlan {
	const state = requireMember(ctx);
	return {
		change: () => undefined,
		rotate: documents,
		handouts: toReaders(ctx, state, documents),
		...options
	};
}

// ---- ownership ----------------------------------------------------------------------------------

/**
 * Hands the space over to another member (not banned). It names the next ownership term and clears
 * this owner's successors: the new owner names their own.
 */
export function transferOwnership(ctx: PlanContext, user: UserId): SpacePlan {
	const { me } = ctx;
	const state = requireMember(ctx);
	if (me !== state.owner)
		throw new CharterError('not-authorized', 'only the owner hands the space over');
	if (user === me) throw new CharterError('invalid-argument', 'you already own this space');
	if (!state.isMember(user) || state.bans.has(user))
		throw new CharterError('invalid-argument', 'the new owner must be a member');
	const term = state.term + 1;
	return {
		change: (d) => {
			d.owner = atom(user);
			d.term = term;
			// the successors were this owner's choice: the new owner names their own
			for (const record of Object.values(d.members))
				if (record.successor !== undefined) delete record.successor;
			if (d.quorum !== undefined) delete d.quorum;
		},
		options: SINGLE_VALUE_TIME(),
		ownership: true
	};
}

/** The owner names the successors and their quorum (`[]`, 0: none). */
export function setSuccessors(
	ctx: PlanContext,
	users: readonly UserId[],
	quorum: number
): SpacePlan {
	const { me } = ctx;
	const state = requireMember(ctx);
	if (me !== state.owner)
		throw new CharterError('not-authorized', 'only the owner names successors');
	if (!Array.isArray(users)) throw new CharterError('invalid-argument', 'successors are a list');
	const named = new Set(users);
	if (named.size !== users.length)
		throw new CharterError('invalid-argument', 'a successor is named once');
	if (named.size > MAX_SUCCESSORS)
		throw new CharterError('invalid-argument', `at most ${MAX_SUCCESSORS} successors`);
	for (const user of named) {
		if (user === me)
			throw new CharterError('invalid-argument', 'the owner is not their own successor');
		if (!state.isMember(user) || state.bans.has(user))
			throw new CharterError('invalid-argument', 'a successor must be a member');
	}
	const valid = named.size
		? Number.isSafeInteger(quorum) && quorum >= 1 && quorum <= named.size
		: quorum === 0;
	if (!valid)
		throw new CharterError(
			'invalid-argument',
			named.size
				? `the quorum is a whole number from 1 to ${named.size}`
				: 'with no successors the quorum is 0'
		);
	return {
		change: (d) => {
			for (const [user, record] of Object.entries(d.members)) {
				if (named.has(user as UserId)) {
					if (record.successor !== true) record.successor = true;
				} else if (record.successor !== undefined) delete record.successor;
			}
			if (named.size) {
				if (d.quorum !== quorum) d.quorum = quorum;
			} else if (d.quorum !== undefined) delete d.quorum;
		}
	};
}

/** A named successor approves `candidate` (a named successor) as the next owner, for this term. */
export function approveSuccession(ctx: PlanContext, candidate: UserId): SpacePlan {
	const { me } = ctx;
	const state = requireMember(ctx);
	const { successors, quorum } = state.succession;
	if (!quorum) throw new CharterError('invalid-argument', 'this space has no successors');
	if (!successors.includes(me))
		throw new CharterError('not-authorized', 'only a named successor approves a succession');
	if (!successors.includes(candidate))
		throw new CharterError('invalid-argument', 'the candidate must be a named successor');
	const { term } = state;
	return {
		change: (d) => {
			const record = d.members[me];
			if (record) record.approval = { term, candidate: atom(candidate) };
		}
	};
}

/** A successor withdraws their approval (undefined: they gave none). */
export function withdrawApproval(ctx: PlanContext): SpacePlan | undefined {
	const { me } = ctx;
	requireMember(ctx);
	if (!ctx.doc.members?.[me]?.approval) return undefined;
	return {
		change: (d) => {
			const record = d.members[me];
			if (record?.approval) delete record.approval;
		}
	};
}

/**
 * While the owner is owner by succession only (approvals in the state, no record yet), every change
 * also records it (`owner`, `term`: rule `owner`), so that nothing later — a successor un-named, an
 * approver banned — can undo it. A hand-over (`ownership`) writes them itself.
 */
export function recordingSuccession(state: SpaceState | undefined, plan: SpacePlan): SpacePlan {
	if (plan.ownership || !state?.bySuccession) return plan;
	const { owner, term } = state;
	return {
		...plan,
		change: (d) => {
			d.owner = atom(owner);
			d.term = term;
			plan.change(d);
		}
	};
}

/**
 * A change that takes a permission away from members who stay also records, for each of them, the
 * channel heads the acting device has (`heads`, per channel: a `restrict` record, rule
 * `removals/:removal`), as a kick or ban does. What they wrote before the loss stays valid on every
 * peer; only what they write without having seen it is judged under the loss. Without the record,
 * every channel change of theirs that needed the permission would count as written after it — and
 * every later change built on those would go with them. Only the rule's writers (MANAGE_ROLES or
 * MANAGE_CHANNELS) record one: a successor completing a quorum may take the owner's place without.
 */
export function recordingRestrictions(
	ctx: PlanContext,
	plan: SpacePlan,
	heads: Readonly<Record<string, string>>,
	newId: () => string
): SpacePlan {
	const { state: before, me } = ctx;
	if (
		!before ||
		!(before.can(me, Permission.MANAGE_ROLES) || before.can(me, Permission.MANAGE_CHANNELS))
	)
		return plan;
	const draft = A.change(A.clone(ctx.doc), plan.change);
	const users = restrictedBy(before, SpaceState.derive(before.genesis, A.toJS(draft) as SpaceDoc));
	if (!users.length) return plan;
	const records = users.map((user) => ({ id: newId(), user }));
	return {
		...plan,
		change: (d) => {
			plan.change(d);
			for (const { id, user } of records) {
				const cutoffs: Record<string, A.ImmutableString> = {};
				for (const [channel, list] of Object.entries(heads)) cutoffs[channel] = atom(list);
				d.removals[id] = {
					user: atom(user),
					kind: atom('restrict'),
					by: atom(me),
					at: ctx.now,
					cutoffs
				};
			}
		}
	};
}
