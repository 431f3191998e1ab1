/**
 * The rule table of the space document. Read it as the space's constitution: every path a change
 * may touch, and who may touch it. Hierarchy: one manages only roles and members strictly below
 * one's highest role, and grants only permissions one holds; the owner is above all.
 */
import { channelId, type ChannelId, type UserId } from '../identity/ids.js';
import { base58, bytesEqual } from '../util/bytes.js';
import { extendsChain } from '../identity/rotation.js';
import { currentEpochNaming, isEpochName } from './epochs.js';
import { Permission, has, isPermissionBits } from './permissions.js';
import {
	all,
	any,
	requires,
	RuleSet,
	valueAt,
	type Rule,
	type RuleCheck,
	type RuleContext
} from './rules.js';
import { asString, DURABILITIES, EVERYONE, type SpaceDoc } from './schema.js';
import { VALID, invalid } from './verdict.js';
import { verifyInviteProof } from './invites.js';
import { userKey } from '../identity/ids.js';
import { decodeUserCard } from '../identity/certificates.js';
import { verifyProfile } from '../identity/profile.js';
import { MAX_NAME, MAX_NICKNAME, MAX_ROLE_COLOR, MAX_SUCCESSORS, MAX_TOPIC } from './limits.js';
import { nicknameTakenBy } from './nicknames.js';

type Ctx = RuleContext<SpaceDoc>;
type Check = RuleCheck<SpaceDoc>;

const ownerOnly: Check = (ctx) => (ctx.signer === ctx.state.owner ? VALID : invalid('owner only'));
const createdWithParent: Check = (ctx) =>
	ctx.createdHere(ctx.op.path.slice(0, -1))
		? VALID
		: invalid(`${ctx.op.path.join('/')} is set only on creation`);
const notDelete: Check = (ctx) =>
	ctx.op.kind === 'delete' ? invalid('may not be deleted') : VALID;

const stringUpTo =
	(max: number): Check =>
	(ctx) => {
		if (ctx.op.kind === 'edit' || (ctx.op.kind === 'make' && ctx.op.container === 'text'))
			return VALID;
		if (ctx.op.kind === 'delete') return VALID;
		return typeof ctx.op.value === 'string' && ctx.op.value.length <= max
			? VALID
			: invalid(`must be a string of at most ${max}`);
	};

/**
 * Whether `value` is a role colour: exactly `#rrggbb`, lowercase hex (MAX_ROLE_COLOR). The one test
 * the rule, the API and the web client (before binding it to a style) all apply.
 */
export function isRoleColor(value: unknown): value is string {
	return (
		typeof value === 'string' && value.length === MAX_ROLE_COLOR && /^#[0-9a-f]{6}$/.test(value)
	);
}

/** A role's colour is one atomic `#rrggbb` (never a text whose edits no rule could read), or none. */
const roleColor: Check = (ctx) => {
	if (ctx.op.kind === 'delete') return VALID;
	return ctx.op.kind === 'put' && isRoleColor(ctx.op.value)
		? VALID
		: invalid('a role colour is #rrggbb (lowercase hex)');
};

/** A channel's topic is one atomic string of at most MAX_TOPIC, or none. */
const topicValue: Check = (ctx) => {
	if (ctx.op.kind === 'delete') return VALID;
	return ctx.op.kind === 'put' &&
		typeof ctx.op.value === 'string' &&
		ctx.op.value.length <= MAX_TOPIC
		? VALID
		: invalid(`a topic is a string of at most ${MAX_TOPIC}`);
};

const rankOf = (ctx: Ctx, user: UserId) => ctx.state.rank(user);

/** The role named in the path must sit strictly below the signer (before and, if moved, after). */
const roleBelowSigner: Check = (ctx) => {
	const role = ctx.params.role!;
	const signerRank = rankOf(ctx, ctx.signer);
	const existing = ctx.state.roles.get(role);
	const created = ctx.createdHere(['roles', role]);
	if (existing && !created && existing.position >= signerRank && role !== EVERYONE)
		return invalid('may only manage roles below your highest role');
	const position =
		(valueAt(ctx, ['roles', role, 'position']) as number | undefined) ?? existing?.position;
	if (role !== EVERYONE && (typeof position !== 'number' || position >= signerRank || position < 1))
		return invalid('a role must sit below your highest role and above @everyone');
	return VALID;
};

/** New permission bits on a role or overwrite must be bits the signer holds. */
const grantsOnlyHeld =
	(previous: (ctx: Ctx) => number): Check =>
	(ctx) => {
		if (ctx.op.kind !== 'put')
			return ctx.op.kind === 'delete' ? VALID : invalid('permissions must be a number');
		const bits = ctx.op.value;
		if (!isPermissionBits(bits)) return invalid('unknown permission bits');
		const added = bits & ~previous(ctx);
		return has(ctx.state.permissions(ctx.signer, ctx.channel), added)
			? VALID
			: invalid('may not grant permissions you lack');
	};

/** The member named in the path must rank strictly below the signer. */
const memberBelowSigner: Check = (ctx) => {
	const target = ctx.params.user as UserId;
	if (target === ctx.state.owner) return invalid('nobody manages the owner');
	return rankOf(ctx, target) < rankOf(ctx, ctx.signer)
		? VALID
		: invalid('may only manage members below your highest role');
};

const isSelf: Check = (ctx) =>
	ctx.params.user === ctx.signer ? VALID : invalid('only for oneself');

const channelScoped =
	(check: Check): Check =>
	(ctx) =>
		check({ ...ctx, channel: ctx.params.channel as Ctx['channel'] });

const overwriteTarget: Check = (ctx) => {
	const key = ctx.params.target ?? '';
	if (key === `role:${EVERYONE}`) return VALID;
	if (key.startsWith('role:')) {
		const role = ctx.state.roles.get(key.slice(5));
		return role && role.position < rankOf(ctx, ctx.signer)
			? VALID
			: invalid('may only overwrite roles below yours');
	}
	if (key.startsWith('user:')) {
		const user = key.slice(5) as UserId;
		return user === ctx.signer || rankOf(ctx, user) < rankOf(ctx, ctx.signer)
			? VALID
			: invalid('may only overwrite members below you');
	}
	return invalid('overwrite key must be role:<id> or user:<id>');
};

const previousOverwrite = (field: 'allow' | 'deny') => (ctx: Ctx) =>
	ctx.state.channels.get(ctx.params.channel as ChannelId)?.overwrites?.[ctx.params.target ?? '']?.[
		field
	] ?? 0;

const removalTarget = (ctx: Ctx): UserId | undefined => {
	const base = ['removals', ctx.params.removal!];
	if (ctx.createdHere(base)) return valueAt(ctx, [...base, 'user']) as UserId;
	return asString(ctx.before.removals?.[ctx.params.removal!]?.user) as UserId | undefined;
};

const removalAllowed: Check = (ctx) => {
	const base = ['removals', ctx.params.removal!];
	if (!ctx.createdHere(base)) return invalid('removal records are written once');
	const kind = valueAt(ctx, [...base, 'kind']);
	const user = removalTarget(ctx);
	if (typeof user !== 'string') return invalid('a removal names its user');
	// a member leaving records the channel heads they had, so their messages before it stay valid
	if (kind === 'leave') return user === ctx.signer ? VALID : invalid('only oneself leaves');
	// a permission loss records what its writer had seen, for the same reason; only those who can
	// take permissions away write one, and it counts only in the change that takes them away
	if (kind === 'restrict')
		return ctx.state.can(ctx.signer, Permission.MANAGE_ROLES) ||
			ctx.state.can(ctx.signer, Permission.MANAGE_CHANNELS)
			? VALID
			: invalid('a permission-loss record needs MANAGE_ROLES or MANAGE_CHANNELS');
	const needed =
		kind === 'ban' ? Permission.BAN_MEMBERS : kind === 'kick' ? Permission.KICK_MEMBERS : 0;
	if (!needed) return invalid('a removal is a kick or a ban');
	if (!ctx.state.can(ctx.signer, needed))
		return invalid(kind === 'ban' ? 'needs BAN_MEMBERS' : 'needs KICK_MEMBERS');
	return memberBelowSigner({ ...ctx, params: { ...ctx.params, user } });
};

const newMemberCard: Check = (ctx) =>
	ctx.op.kind === 'put' &&
	ctx.op.value instanceof Uint8Array &&
	ctx.cards.isCardOf(ctx.op.value, ctx.params.user!)
		? VALID
		: invalid('a member record needs a verified card of that user');

/**
 * Rotation is tied to the actions that call for it: ops of this kind in the same entry take
 * something away (a member, a device, a role, a permission, a channel overwrite), or let someone
 * in — an admission or a role given, which may bring a reader without READ_MESSAGE_HISTORY into a
 * channel (its first key must be new: plans.ts, addMembers).
 */
function entryCallsForRotation(ctx: Ctx): boolean {
	return ctx.ops.some((op) => {
		const [top, , field] = op.path;
		if (top === 'bans' || top === 'removals') return op.kind !== 'delete';
		if (top === 'members')
			return (
				op.path.length === 2 ||
				(field === 'revokedDevices' && op.path.length === 4) ||
				(field === 'card' && op.path.length === 3 && rotatesIdentity(ctx, op)) ||
				(field === 'roles' && op.path.length === 4)
			);
		if (top === 'roles')
			return (op.path.length === 2 && op.kind === 'delete') || field === 'permissions';
		if (top === 'channels') return op.path[2] === 'overwrites';
		return false;
	});
}

/**
 * A card whose rotation chain is longer than the one it replaces: every lockbox sealed to the old
 * encryption keys is readable by whoever holds the old phrase, so the keys rotate.
 */
function rotatesIdentity(ctx: Ctx, op: { value?: unknown; path: string[] }): boolean {
	const previous = ctx.before.members?.[op.path[1] as UserId]?.card;
	if (!(previous instanceof Uint8Array) || !(op.value instanceof Uint8Array)) return false;
	try {
		return decodeUserCard(op.value).rotations.length > decodeUserCard(previous).rotations.length;
	} catch {
		return false;
	}
}

/**
 * An epoch is named current only by someone who can hand out its key — a reader of that document —
 * and only when a rotation is called for, or over a naming by someone of equal or lower rank (so a
 * wrong or unknown epoch is always superseded by a higher authority, and never the other way).
 */
const epochWriter: Check = (ctx) => {
	if (ctx.op.kind !== 'put' || !isEpochName(ctx.op.value))
		return invalid('an epoch is the base58 id of 16 bytes');
	const document = ctx.params.document!;
	let channel: ChannelId | undefined;
	if (document !== base58.encode(ctx.state.genesis.spaceBytes)) {
		try {
			channel = channelId(base58.decode(document));
		} catch {
			return invalid('epochs are named for the space document or its channels');
		}
	}
	const creates = !!channel && ctx.createdHere(['channels', channel]);
	if (channel && !creates && !ctx.state.channels.has(channel)) return invalid('no such channel');
	if (!ctx.state.isMember(ctx.signer)) return invalid('not a member');
	if (channel && !creates && !ctx.state.can(ctx.signer, Permission.VIEW_CHANNEL, channel))
		return invalid('only a reader of a document names its epoch');
	const current = currentEpochNaming(ctx.before, document, ctx.state);
	if (
		creates ||
		entryCallsForRotation(ctx) ||
		ctx.state.causal?.rotationPending(document, current?.epoch)
	)
		return VALID;
	if (!current || rankOf(ctx, ctx.signer) >= current.rank) return VALID;
	return invalid('an epoch named by a higher rank is replaced only when a rotation is called for');
};

export const SPACE_RULES: readonly Rule<SpaceDoc>[] = [
	{
		pattern: 'name',
		description: 'MANAGE_SPACE renames the space',
		check: all(requires(Permission.MANAGE_SPACE, 'MANAGE_SPACE'), notDelete, stringUpTo(MAX_NAME))
	},
	{ pattern: 'createdAt', description: 'set once by the owner', check: ownerOnly },

	{
		pattern: 'roles/:role',
		description: 'MANAGE_ROLES creates or deletes roles below their own',
		check: all(
			requires(Permission.MANAGE_ROLES, 'MANAGE_ROLES'),
			(ctx) => (ctx.params.role === EVERYONE ? invalid('@everyone cannot be replaced') : VALID),
			roleBelowSigner
		)
	},
	{
		pattern: 'roles/:role/permissions',
		description: 'MANAGE_ROLES grants only permissions they hold, on roles below their own',
		check: all(
			requires(Permission.MANAGE_ROLES, 'MANAGE_ROLES'),
			roleBelowSigner,
			grantsOnlyHeld((ctx) =>
				ctx.createdHere(['roles', ctx.params.role!])
					? 0
					: (ctx.state.roles.get(ctx.params.role!)?.permissions ?? 0)
			)
		)
	},
	{
		pattern: 'roles/:role/position',
		description: 'MANAGE_ROLES orders roles below their own',
		check: all(
			requires(Permission.MANAGE_ROLES, 'MANAGE_ROLES'),
			(ctx) => (ctx.params.role === EVERYONE ? invalid('@everyone stays at the bottom') : VALID),
			roleBelowSigner
		)
	},
	{
		pattern: 'roles/:role/name',
		description: 'MANAGE_ROLES names roles below their own',
		check: all(
			requires(Permission.MANAGE_ROLES, 'MANAGE_ROLES'),
			roleBelowSigner,
			stringUpTo(MAX_NAME)
		)
	},
	{
		pattern: 'roles/:role/color',
		description: 'MANAGE_ROLES colours roles below their own, #rrggbb only',
		check: all(requires(Permission.MANAGE_ROLES, 'MANAGE_ROLES'), roleBelowSigner, roleColor)
	},

	{
		pattern: 'members/:user',
		description:
			'CREATE_INVITE admits a member (not a banned one); members leave; KICK_MEMBERS or BAN_MEMBERS removes those below',
		check: (ctx) => {
			if (ctx.op.kind === 'delete' && ctx.params.user === ctx.state.owner)
				return invalid('the owner hands the space over before leaving'); // see `owner`
			if (ctx.op.kind === 'delete')
				return any<SpaceDoc>(
					isSelf,
					all(
						any<SpaceDoc>(
							requires(Permission.KICK_MEMBERS, 'KICK_MEMBERS'),
							requires(Permission.BAN_MEMBERS, 'BAN_MEMBERS')
						),
						memberBelowSigner
					)
				)(ctx);
			if (ctx.params.user === ctx.state.owner)
				return ctx.signer === ctx.state.owner && !ctx.before.members?.[ctx.state.owner]
					? VALID
					: invalid('only the owner records their own card');
			if (ctx.before.bans?.[ctx.params.user as UserId]) return invalid('that user is banned');
			if (ctx.state.isMember(ctx.params.user as UserId)) return invalid('already a member');
			if (ctx.params.user === ctx.signer) return selfJoin(ctx);
			return requires(Permission.CREATE_INVITE, 'CREATE_INVITE')(ctx);
		}
	},
	{
		pattern: 'members/:user/card',
		description:
			'the verified card of the member, set on admission or by the member; never listing a revoked device; its rotation chain extends the one it replaces',
		check: all(
			any<SpaceDoc>(createdWithParent, isSelf),
			newMemberCard,
			noRevokedDevice,
			extendsPreviousChain
		)
	},
	{
		pattern: 'members/:user/profile',
		description: "the member's own signed profile",
		check: all(isSelf, (ctx) => {
			if (!(ctx.op.value instanceof Uint8Array)) return invalid('a profile is signed bytes');
			let profile;
			try {
				profile = verifyProfile(ctx.op.value);
			} catch {
				return invalid('the profile does not verify');
			}
			if (profile.user !== ctx.params.user) return invalid("the profile is someone else's");
			const current = ctx.state.members.get(ctx.params.user as UserId)?.identityKey;
			return current && bytesEqual(profile.signingKey, current)
				? VALID
				: invalid("the profile is not signed by the member's current identity key");
		})
	},
	{
		pattern: 'members/:user/revokedDevices',
		description: "the member's own list of revoked devices",
		check: any<SpaceDoc>(createdWithParent, isSelf)
	},
	{
		pattern: 'members/:user/revokedDevices/:device',
		description: 'a member revokes their own devices, for good',
		check: all(isSelf, (ctx) =>
			ctx.op.kind === 'put' && ctx.op.value === true ? VALID : invalid('a revocation is permanent')
		)
	},
	{ pattern: 'members/:user/addedAt', description: 'set on admission', check: createdWithParent },
	{
		pattern: 'members/:user/addedBy',
		description: 'set on admission to the admitting user',
		check: all(createdWithParent, (ctx) =>
			ctx.op.value === ctx.signer ? VALID : invalid('addedBy must be the signer')
		)
	},
	{
		pattern: 'members/:user/roles',
		description: 'created with the member',
		check: createdWithParent
	},
	{
		pattern: 'members/:user/invite',
		description: 'set by a newcomer joining with an invite',
		check: createdWithParent
	},
	{
		pattern: 'members/:user/invite/:field',
		description: 'set by a newcomer joining with an invite',
		check: (ctx) =>
			ctx.createdHere(['members', ctx.params.user!]) ? VALID : invalid('set when joining')
	},
	{
		pattern: 'members/:user/roles/:role',
		description:
			'a newcomer takes the roles their invite grants; MANAGE_ROLES gives or takes roles below their own, to members below them or themselves',
		check: (ctx) =>
			ctx.params.user === ctx.signer && ctx.createdHere(['members', ctx.signer])
				? inviteGrants(ctx)
				: all<SpaceDoc>(requires(Permission.MANAGE_ROLES, 'MANAGE_ROLES'), (ctx) => {
						const role = ctx.state.roles.get(ctx.params.role!);
						if (!role || ctx.params.role === EVERYONE) return invalid('no such role');
						if (role.position >= rankOf(ctx, ctx.signer))
							return invalid('may only assign roles below your highest role');
						return ctx.params.user === ctx.signer ? VALID : memberBelowSigner(ctx);
					})(ctx)
	},
	{
		pattern: 'members/:user/successor',
		description: `the owner names successors (members, at most ${MAX_SUCCESSORS}) and un-names them`,
		check: all(ownerOnly, namesSuccessor)
	},
	{
		pattern: 'members/:user/approval',
		description:
			'a named successor approves a successor as the next owner, for the current term, or withdraws',
		check: all(isSelf, approvalAllowed)
	},
	{
		pattern: 'members/:user/approval/:field',
		description: 'set with the approval: its term and candidate',
		check: (ctx) =>
			ctx.createdHere(['members', ctx.params.user!, 'approval']) &&
			['term', 'candidate'].includes(ctx.params.field!)
				? VALID
				: invalid('an approval is written whole')
	},
	{
		pattern: 'members/:user/nickname',
		description:
			'CHANGE_NICKNAME for oneself, MANAGE_NICKNAMES for members below; a nickname no other member carries',
		check: all(
			any<SpaceDoc>(
				createdWithParent,
				all(isSelf, requires(Permission.CHANGE_NICKNAME, 'CHANGE_NICKNAME')),
				all(requires(Permission.MANAGE_NICKNAMES, 'MANAGE_NICKNAMES'), memberBelowSigner)
			),
			nicknameValue
		)
	},

	{
		pattern: 'bans/:user',
		description: 'BAN_MEMBERS bans members below them and unbans',
		check: all(requires(Permission.BAN_MEMBERS, 'BAN_MEMBERS'), (ctx) =>
			ctx.op.kind === 'delete' ? VALID : memberBelowSigner(ctx)
		)
	},
	{ pattern: 'bans/:user/*', description: 'set with the ban', check: createdWithParent },
	{
		pattern: 'removals/:removal',
		description: 'a kick or ban record, by someone allowed to remove that member',
		check: (ctx) =>
			ctx.op.kind === 'delete' ? invalid('removal records are permanent') : removalAllowed(ctx)
	},
	{
		pattern: 'removals/:removal/**',
		description: 'set with the removal record',
		check: (ctx) =>
			ctx.createdHere(['removals', ctx.params.removal!])
				? VALID
				: invalid('removal records are written once')
	},

	{
		pattern: 'channels/:channel',
		description: 'MANAGE_CHANNELS creates and deletes channels',
		check: requires(Permission.MANAGE_CHANNELS, 'MANAGE_CHANNELS')
	},
	{
		pattern: 'channels/:channel/durability',
		description: 'MANAGE_CHANNELS sets durability',
		check: all(requires(Permission.MANAGE_CHANNELS, 'MANAGE_CHANNELS'), (ctx) =>
			DURABILITIES.includes(ctx.op.value as never) ? VALID : invalid('unknown durability')
		)
	},
	{
		pattern: 'channels/:channel/overwrites',
		description: 'created with the channel',
		check: (ctx) =>
			ctx.createdHere(['channels', ctx.params.channel!])
				? VALID
				: invalid('created with the channel')
	},
	{
		pattern: 'channels/:channel/overwrites/:target',
		description: 'MANAGE_ROLES in the channel overwrites roles and members below them',
		check: channelScoped(all(requires(Permission.MANAGE_ROLES, 'MANAGE_ROLES'), overwriteTarget))
	},
	{
		pattern: 'channels/:channel/overwrites/:target/allow',
		description: 'only permissions the signer holds in the channel',
		check: channelScoped(
			all(
				requires(Permission.MANAGE_ROLES, 'MANAGE_ROLES'),
				overwriteTarget,
				grantsOnlyHeld(previousOverwrite('allow'))
			)
		)
	},
	{
		pattern: 'channels/:channel/overwrites/:target/deny',
		description: 'MANAGE_ROLES denies for roles and members below them',
		check: channelScoped(
			all(requires(Permission.MANAGE_ROLES, 'MANAGE_ROLES'), overwriteTarget, (ctx) =>
				isPermissionBits(ctx.op.value) || ctx.op.kind === 'delete'
					? VALID
					: invalid('unknown permission bits')
			)
		)
	},
	{
		pattern: 'channels/:channel/history',
		description:
			'MANAGE_MESSAGES in the channel moves its history to the next compacted generation',
		check: channelScoped(
			all(requires(Permission.MANAGE_MESSAGES, 'MANAGE_MESSAGES'), (ctx) => {
				const previous = ctx.before.channels?.[ctx.params.channel as ChannelId]?.history ?? 0;
				return ctx.op.kind !== 'delete' && ctx.op.value === previous + 1
					? VALID
					: invalid('history moves one generation at a time');
			})
		)
	},
	{
		pattern: 'channels/:channel/topic',
		description: 'MANAGE_CHANNELS in the channel sets or clears its topic (at most MAX_TOPIC)',
		check: channelScoped(all(requires(Permission.MANAGE_CHANNELS, 'MANAGE_CHANNELS'), topicValue))
	},
	{
		pattern: 'channels/:channel/:field',
		description: 'MANAGE_CHANNELS edits name (at most MAX_NAME), position and creation time',
		check: all(requires(Permission.MANAGE_CHANNELS, 'MANAGE_CHANNELS'), (ctx) =>
			ctx.params.field === 'name'
				? stringUpTo(MAX_NAME)(ctx)
				: ['position', 'createdAt'].includes(ctx.params.field!)
					? VALID
					: invalid('unknown channel field')
		)
	},

	{
		pattern: 'invites/:invite',
		description:
			'CREATE_INVITE creates invites that do not exist yet; they are revoked, never deleted or re-made',
		check: (ctx) => {
			if (ctx.op.kind !== 'make') return invalid('invites are revoked, not removed');
			if (ctx.before.invites?.[ctx.params.invite!] !== undefined)
				return invalid('that invite already exists');
			return requires<SpaceDoc>(Permission.CREATE_INVITE, 'CREATE_INVITE')(ctx);
		}
	},
	{
		pattern: 'invites/:invite/roles',
		description: 'created with the invite',
		check: createdWithParent
	},
	{
		pattern: 'invites/:invite/roles/:role',
		description: 'an invite grants only roles its creator could assign',
		check: all(
			(ctx) =>
				ctx.createdHere(['invites', ctx.params.invite!])
					? VALID
					: invalid('set when the invite is created'),
			requires(Permission.MANAGE_ROLES, 'MANAGE_ROLES'),
			(ctx) => {
				const role = ctx.state.roles.get(ctx.params.role!);
				return role && ctx.params.role !== EVERYONE && role.position < rankOf(ctx, ctx.signer)
					? VALID
					: invalid('may only grant roles below your highest role');
			}
		)
	},
	{
		pattern: 'invites/:invite/uses',
		description: 'created with the invite',
		check: createdWithParent
	},
	{
		pattern: 'invites/:invite/uses/:user',
		description: 'a newcomer records their own use, in their join',
		check: (ctx) =>
			ctx.op.kind === 'put' &&
			ctx.params.user === ctx.signer &&
			ctx.createdHere(['members', ctx.signer]) &&
			valueAt(ctx, ['members', ctx.signer, 'invite', 'id']) === ctx.params.invite
				? VALID
				: invalid('uses are recorded only by the joining member, once')
	},
	{
		pattern: 'invites/:invite/revoked',
		description: 'the creator or MANAGE_SPACE revokes',
		check: (ctx) => {
			if (ctx.op.kind !== 'put' || ctx.op.value !== true)
				return invalid('an invite is only ever revoked');
			const creator = asString(ctx.before.invites?.[ctx.params.invite!]?.createdBy);
			return creator === ctx.signer || ctx.state.can(ctx.signer, Permission.MANAGE_SPACE)
				? VALID
				: invalid('only its creator or MANAGE_SPACE revokes an invite');
		}
	},
	{
		pattern: 'invites/:invite/:field',
		description: 'set when the invite is created',
		check: all(createdWithParent, (ctx) =>
			ctx.params.field !== 'createdBy' || ctx.op.value === ctx.signer
				? VALID
				: invalid('createdBy must be the signer')
		)
	},

	{
		pattern: 'owner',
		description:
			'the owner hands the space over to another member (not banned), naming the next term; anyone records a succession',
		check: handOver
	},
	{
		pattern: 'term',
		description:
			'the owner names the next ownership term with a hand-over; anyone records a succession with its term',
		check: (ctx) => {
			const owner = ctx.ops.find(
				(o) => o.kind === 'put' && o.path.length === 1 && o.path[0] === 'owner'
			);
			if (ctx.op.kind !== 'put' || !owner) return invalid('a term is named with an owner');
			if (owner.value === ctx.state.owner)
				return ctx.state.bySuccession && ctx.op.value === ctx.state.term
					? VALID
					: invalid('a succession is recorded with its own term');
			return ctx.signer === ctx.state.owner && ctx.op.value === ctx.state.term + 1
				? VALID
				: invalid('a hand-over names the next term');
		}
	},
	{
		pattern: 'quorum',
		description: 'the owner sets how many named successors together move ownership',
		check: all(ownerOnly, (ctx) => {
			if (ctx.op.kind === 'delete') return VALID;
			const named = successorsAfter(ctx).size;
			return ctx.op.kind === 'put' &&
				Number.isSafeInteger(ctx.op.value) &&
				(ctx.op.value as number) >= 1 &&
				(ctx.op.value as number) <= named
				? VALID
				: invalid('the quorum is a whole number from 1 to the number of successors');
		})
	},
	{
		pattern: 'deletedAt',
		description: 'the owner deletes the space, once and for good',
		check: all(ownerOnly, (ctx) =>
			ctx.op.kind === 'put' &&
			typeof ctx.op.value === 'number' &&
			Number.isSafeInteger(ctx.op.value) &&
			ctx.op.value > 0 &&
			ctx.before.deletedAt === undefined
				? VALID
				: invalid('a deletion is a time, written once and never undone')
		)
	},

	{
		pattern: 'epochs/:document',
		description:
			'readers of a document name its epoch: on creation, with an action that calls for rotation, or over a naming of equal or lower rank',
		check: epochWriter
	}
];

export const spaceRules = new RuleSet<SpaceDoc>(SPACE_RULES);

/**
 * A nickname is a plain string (never a collaborative text, whose edits no rule could read), of at
 * most MAX_NICKNAME, and no other current member carries the same nickname — see nicknames.ts for
 * the comparison and for concurrent claims. Deleting or emptying one is always allowed.
 */
function nicknameValue(ctx: Ctx) {
	if (ctx.op.kind === 'delete') return VALID;
	if (ctx.op.kind !== 'put' || typeof ctx.op.value !== 'string')
		return invalid('a nickname is a plain string');
	const nickname = ctx.op.value;
	if (nickname.length > MAX_NICKNAME) return invalid(`must be a string of at most ${MAX_NICKNAME}`);
	return nicknameTakenBy(ctx.state, ctx.before, ctx.params.user as UserId, nickname, ctx.ops)
		? invalid('that nickname is taken in this space')
		: VALID;
}

/**
 * Identity rotation (docs/protocol.md §11.2): a card replacing a member's card carries the rotation
 * chain of the card it replaces, link for link, and maybe more — never a shorter chain (a rollback to
 * an old key) nor a different one (a fork). So once a rotation is in the causal past, nothing the
 * old key signs can be the member's card again; a concurrent one is caught by strong rotation
 * (space-validator.ts: a card whose chain grows is a reduction for its user).
 */
function extendsPreviousChain(ctx: Ctx) {
	const previous = ctx.before.members?.[ctx.params.user as UserId]?.card;
	if (!(previous instanceof Uint8Array) || !(ctx.op.value instanceof Uint8Array)) return VALID;
	try {
		const before = decodeUserCard(previous).rotations;
		return extendsChain(before, decodeUserCard(ctx.op.value).rotations)
			? VALID
			: invalid('the card does not extend the identity rotations of the card it replaces');
	} catch {
		return invalid('not a card');
	}
}

/** A card may not bring back a device its member revoked (before, or in this same entry). */
function noRevokedDevice(ctx: Ctx) {
	const user = ctx.params.user as UserId;
	const revoked = new Set(Object.keys(ctx.before.members?.[user]?.revokedDevices ?? {}));
	for (const op of ctx.ops)
		if (
			op.kind === 'put' &&
			op.path.length === 4 &&
			op.path[0] === 'members' &&
			op.path[1] === user &&
			op.path[2] === 'revokedDevices'
		)
			revoked.add(op.path[3]!);
	if (!revoked.size || !(ctx.op.value instanceof Uint8Array)) return VALID;
	try {
		return decodeUserCard(ctx.op.value).devices.some((d) => revoked.has(d.device))
			? invalid('the card lists a revoked device')
			: VALID;
	} catch {
		return invalid('not a card');
	}
}

/** A newcomer admits themselves with an invite: valid, unrevoked, unexpired, not used up, and proven. */
function selfJoin(ctx: Ctx) {
	const user = ctx.params.user as UserId;
	const id = asString(valueAt(ctx, ['members', user, 'invite', 'id']));
	const proof = valueAt(ctx, ['members', user, 'invite', 'proof']);
	const invite = id ? ctx.before.invites?.[id] : undefined;
	if (!id || !invite) return invalid('joining needs an invite of this space');
	if (invite.revoked) return invalid('invite revoked');
	const addedAt = valueAt(ctx, ['members', user, 'addedAt']);
	if (invite.expiresAt && !(typeof addedAt === 'number' && addedAt <= invite.expiresAt))
		return invalid('invite expired');
	if (invite.expiresAt && inviteTimeSeen(ctx, invite) > invite.expiresAt)
		return invalid('invite expired: the space had moved past its expiry');
	if (invite.maxUses && Object.keys(invite.uses ?? {}).length >= invite.maxUses)
		return invalid('invite used up');
	if (valueAt(ctx, ['invites', id, 'uses', user]) !== true)
		return invalid('a join records its use of the invite');
	if (!(proof instanceof Uint8Array) || !(invite.key instanceof Uint8Array))
		return invalid('joining needs a proof of the invite secret');
	let key: Uint8Array;
	try {
		key = userKey(user);
	} catch {
		return invalid('not a user id');
	}
	return verifyInviteProof(proof, invite.key, ctx.state.genesis.spaceBytes, id, key)
		? VALID
		: invalid('the invite proof does not verify');
}

/**
 * Causal evidence of time for an invite's expiry: the newest claimed time of a valid space change in
 * the join's causal past written by someone who could revoke that invite anyway (its creator, or
 * MANAGE_SPACE) — so the joiner's own clock is not the only witness, and nobody gains a power over
 * the invite they did not have. See docs/protocol.md §10 and the threat model for what remains.
 */
function inviteTimeSeen(ctx: Ctx, invite: { createdBy?: unknown }): number {
	const creator = asString(invite.createdBy);
	return (
		ctx.state.causal?.latestTime(
			(u) => u === creator || ctx.state.can(u, Permission.MANAGE_SPACE)
		) ?? 0
	);
}

function inviteGrants(ctx: Ctx) {
	const id = asString(valueAt(ctx, ['members', ctx.signer, 'invite', 'id']));
	const granted = id ? ctx.before.invites?.[id]?.roles : undefined;
	return granted?.[ctx.params.role!] ? VALID : invalid('the invite does not grant that role');
}

/**
 * Ownership transfer: only the owner of the moment writes `owner`, naming another member who is not
 * banned — or anyone records a succession that has happened (see state.ts). The previous owner becomes an ordinary member (keeping their roles) — a strong removal of
 * their owner's powers, so their concurrent changes that needed them are void, and of two
 * concurrent hand-overs (two devices of the owner) the one taken first in removal priority (the
 * smaller entry hash) stands. The space-wide consequences (governance) are a later rule's.
 */
function handOver(ctx: Ctx) {
	if (ctx.op.kind !== 'put' || typeof ctx.op.value !== 'string')
		return invalid('the owner is a user id');
	const next = ctx.op.value as UserId;
	// Recording a succession (`owner` = the owner by succession, `term` = its term) changes nothing
	// at this causal point; it pins the outcome, which no later change to successors, approvals or
	// bans then undoes. Any member may write it (their clients do as soon as they see it).
	if (next === ctx.state.owner && ctx.state.bySuccession)
		return valueAt(ctx, ['term']) === ctx.state.term
			? VALID
			: invalid('a succession is recorded with its own term');
	if (ctx.signer !== ctx.state.owner) return invalid('only the owner hands the space over');
	if (next === ctx.signer) return invalid('already the owner');
	if (!ctx.state.isMember(next) || ctx.state.bans.has(next))
		return invalid('the new owner must be a member');
	// Every hand-over names the next term (rule `term`), which spends the approvals of this one.
	// Hand-overs from before terms existed — term 0, no approval counted — are accepted without one.
	const term = valueAt(ctx, ['term']);
	const legacy = ctx.state.term === 0 && ctx.state.succession.approvals.size === 0;
	if (term === undefined && !legacy) return invalid('a hand-over names the next term');
	return VALID;
}

/**
 * The successors as they stand after this entry: the state's (members, not banned, not the owner)
 * with this entry's namings and un-namings applied.
 */
function successorsAfter(ctx: Ctx): Set<UserId> {
	const named = new Set(ctx.state.succession.successors);
	for (const op of ctx.ops) {
		if (op.path[0] !== 'members') continue;
		const user = op.path[1] as UserId;
		if (op.path.length === 2 && op.kind === 'delete') named.delete(user);
		if (op.path.length !== 3 || op.path[2] !== 'successor') continue;
		if (op.kind === 'delete') named.delete(user);
		else if (ctx.state.isMember(user) && user !== ctx.state.owner) named.add(user);
	}
	return named;
}

/** A successor is a member (not banned, not the owner); naming is `true`, un-naming a delete. */
function namesSuccessor(ctx: Ctx) {
	if (ctx.op.kind === 'delete') return VALID;
	const user = ctx.params.user as UserId;
	if (ctx.op.kind !== 'put' || ctx.op.value !== true)
		return invalid('a successor is named with true');
	if (user === ctx.state.owner) return invalid('the owner is not their own successor');
	if (!ctx.state.isMember(user) || ctx.state.bans.has(user))
		return invalid('a successor must be a member');
	return successorsAfter(ctx).size <= MAX_SUCCESSORS
		? VALID
		: invalid(`at most ${MAX_SUCCESSORS} successors`);
}

/**
 * An approval (a map: term, candidate) is written by a named successor for themselves, for the
 * current term, naming a named successor; withdrawing it (a delete) is always allowed. Whether it
 * counts is decided again on every derivation (state.ts): a successor un-named, banned or removed
 * since, or a term moved on, and it no longer does.
 */
function approvalAllowed(ctx: Ctx) {
	if (ctx.op.kind === 'delete') return VALID;
	if (ctx.op.kind !== 'make' || ctx.op.container !== 'map')
		return invalid('an approval is a map of term and candidate');
	const { successors, quorum } = ctx.state.succession;
	if (!quorum) return invalid('no succession is set up');
	if (!successors.includes(ctx.signer)) return invalid('only a named successor approves');
	const base = ['members', ctx.signer, 'approval'];
	if (valueAt(ctx, [...base, 'term']) !== ctx.state.term)
		return invalid('an approval is for the current term');
	const candidate = valueAt(ctx, [...base, 'candidate']);
	return typeof candidate === 'string' && successors.includes(candidate as UserId)
		? VALID
		: invalid('the candidate must be a named successor');
}
