/**
 * The authority state of a space at one causal point, derived (purely) from the genesis and the
 * space document as materialised from valid changes. Everything the rules ask — who is a member,
 * which device speaks for whom, what a member may do where, who outranks whom — is answered here.
 */
import { decodeUserCard, type UserCard } from '../identity/certificates.js';
import { deviceId, type ChannelId, type UserId } from '../identity/ids.js';
import { hex } from '../util/bytes.js';
import { hash } from '../crypto/primitives.js';
import { DOMAIN } from '../crypto/domains.js';
import type { Genesis } from './genesis.js';
import { ALL_PERMISSIONS, Permission, has } from './permissions.js';
import {
	asString,
	EVERYONE,
	type ChannelRecord,
	type RoleRecord,
	type SpaceDoc
} from './schema.js';

export interface MemberState {
	user: UserId;
	/** The root identity key: the user id's key. */
	userKey: Uint8Array;
	/** The current identity key, last of the card's rotation chain (the root when never rotated). */
	identityKey: Uint8Array;
	/** How many identity rotations the member's card carries. */
	rotations: number;
	encryptionKey: Uint8Array;
	deviceKeys: Uint8Array[];
	roles: string[];
	addedAt: number;
	addedBy?: UserId;
	nickname?: string;
	/** Named by the owner as a successor (counted only while not the owner). */
	successor?: boolean;
	/** This member's approval of a successor, if they wrote one (counted only as state.ts says). */
	approval?: { term: number; candidate: UserId };
}

/** Who may take over the space if its owner lost every key, and who has asked for whom. */
export interface Succession {
	/** The named successors who count now: members, not banned, not the owner; sorted. */
	successors: UserId[];
	/** How many of them together move ownership (0: no succession is set up). */
	quorum: number;
	/** Successors' approvals in the current term, approver → candidate (only counted ones). */
	approvals: Map<UserId, UserId>;
}

export const OWNER_RANK = Number.POSITIVE_INFINITY;

/**
 * What the space validator knows about the causal past of the entry being checked, beyond the
 * document: set on the state it checks that entry against (never on shared or cached states).
 */
export interface CausalContext {
	/**
	 * A reader of `documentKey` lost access in the causal past and no epoch was named since; or a
	 * member without READ_MESSAGE_HISTORY came into it and the current epoch (`current`) was not
	 * named since.
	 */
	rotationPending(documentKey: string, current?: string): boolean;
	/** Newest claimed time (ms) of a valid space change in the causal past written by one of `by`. */
	latestTime(by: (user: UserId) => boolean): number;
}

/** Automerge actor prefix of a device (see actors.ts), cached: hex(hash(DOMAIN.actor ‖ key)[0..12]). */
const actorPrefixes = new Map<string, string>();
function actorPrefix(deviceKey: Uint8Array): string {
	const key = hex.encode(deviceKey);
	let prefix = actorPrefixes.get(key);
	if (!prefix) {
		prefix = hex.encode(hash(DOMAIN.actor, deviceKey).subarray(0, 12));
		if (actorPrefixes.size > 10_000) actorPrefixes.clear();
		actorPrefixes.set(key, prefix);
	}
	return prefix;
}

export class SpaceState {
	readonly members = new Map<UserId, MemberState>();
	readonly roles = new Map<string, RoleRecord>();
	readonly channels = new Map<ChannelId, ChannelRecord>();
	readonly bans = new Set<UserId>();
	readonly #deviceOwners = new Map<string, UserId>();
	#actorOwners: Map<string, UserId> | undefined;
	/** Set by the space validator for the one entry it checks against this state. */
	causal: CausalContext | undefined;
	#owner: UserId;
	#term = 0;
	#succession: Succession = { successors: [], quorum: 0, approvals: new Map() };
	#bySuccession = false;
	#deletedAt: number | undefined;

	private constructor(readonly genesis: Genesis) {
		this.#owner = genesis.owner;
	}

	/**
	 * The owner: the genesis owner until they hand the space over (`owner` in the space document,
	 * written only by the owner of the moment, naming a member — see the `owner` rule).
	 */
	get owner(): UserId {
		return this.#owner;
	}

	/**
	 * The ownership term: the term the latest hand-over named (`term`), plus one for each succession
	 * since. Approvals are written for one term, so a hand-over or a succession makes earlier ones stale.
	 */
	get term(): number {
		return this.#term;
	}

	/** The successors, quorum and counted approvals of the current term. */
	get succession(): Succession {
		return this.#succession;
	}

	/**
	 * True when the owner is owner by succession not yet recorded: derived from approvals, not from
	 * `owner` (once someone records it — `owner` and `term` set to it — it is an explicit owner).
	 */
	get bySuccession(): boolean {
		return this.#bySuccession;
	}

	/** When the owner deleted the space (ms), if they did. */
	get deletedAt(): number | undefined {
		return this.#deletedAt;
	}

	/** Derives the state from a (view of a) space document. Malformed records are skipped. */
	static derive(genesis: Genesis, doc: Partial<SpaceDoc> | undefined): SpaceState {
		const state = new SpaceState(genesis);
		for (const [id, role] of Object.entries(doc?.roles ?? {})) {
			if (role && typeof role.position === 'number' && typeof role.permissions === 'number')
				state.roles.set(id, {
					name: String(role.name ?? ''),
					position: role.position,
					permissions: role.permissions
				});
		}
		if (!state.roles.has(EVERYONE))
			state.roles.set(EVERYONE, { name: '@everyone', position: 0, permissions: 0 });
		for (const [id, channel] of Object.entries(doc?.channels ?? {}))
			if (channel) state.channels.set(id as ChannelId, channel);
		for (const user of Object.keys(doc?.bans ?? {})) state.bans.add(user as UserId);
		const transferred = asString(doc?.owner);
		if (transferred) state.#owner = transferred as UserId;
		if (isCount(doc?.term)) state.#term = doc.term;
		if (typeof doc?.deletedAt === 'number' && doc.deletedAt > 0) state.#deletedAt = doc.deletedAt;

		const owner: MemberState = {
			user: genesis.owner,
			userKey: genesis.ownerKey,
			// the key that certified the genesis device: the owner's current key when they created it
			identityKey: genesis.ownerDevice.userKey,
			rotations: 0,
			encryptionKey: new Uint8Array(0),
			deviceKeys: [genesis.ownerDevice.deviceKey],
			roles: [],
			addedAt: genesis.createdAt
		};
		// the genesis owner is a member from the start (before their first record), while owner
		if (state.#owner === genesis.owner) state.members.set(owner.user, owner);
		for (const [user, record] of Object.entries(doc?.members ?? {})) {
			if (!(record?.card instanceof Uint8Array)) continue;
			let card: UserCard;
			try {
				card = cachedCard(record.card);
			} catch {
				continue;
			}
			if (card.user !== user) continue;
			const isOwner = user === genesis.owner;
			const revoked = record.revokedDevices ?? {};
			const live = (key: Uint8Array) => !revoked[deviceId(key)];
			state.members.set(card.user, {
				user: card.user,
				userKey: card.userKey,
				identityKey: card.identityKey,
				rotations: card.rotations.length,
				encryptionKey: card.encryptionKey,
				deviceKeys: [
					...(isOwner ? owner.deviceKeys : []),
					...card.devices.map((d) => d.deviceKey)
				].filter(live),
				roles: Object.keys(record.roles ?? {}).filter((r) => state.roles.has(r)),
				addedAt: typeof record.addedAt === 'number' ? record.addedAt : 0,
				...(asString(record.addedBy) ? { addedBy: asString(record.addedBy) as UserId } : {}),
				...(asString(record.nickname) ? { nickname: asString(record.nickname) } : {}),
				...(record.successor === true ? { successor: true } : {}),
				...approvalOf(record.approval)
			});
		}
		for (const banned of state.bans) if (banned !== state.#owner) state.members.delete(banned);
		state.#succeed(doc?.quorum, owner.user, !doc?.members?.[genesis.owner]);
		// an owner replaced by succession is a member like any other: the new owner may ban them
		for (const banned of state.bans) if (banned !== state.#owner) state.members.delete(banned);
		for (const m of state.members.values())
			for (const key of m.deviceKeys) state.#deviceOwners.set(hex.encode(key), m.user);
		return state;
	}

	/**
	 * Succession, derived from the entries alone: the owner's named successors (members, not banned,
	 * not the owner) and, among them, each one's approval of a candidate for the current term. Once
	 * `quorum` distinct successors approve the same candidate — a successor — that candidate is the
	 * owner, and the term moves on (so those approvals are spent). Should two candidates both reach the
	 * quorum (possible when it is at most half of the successors), the one with more approvals wins,
	 * then the smaller user id. Repeats while a later term has a quorum too (bounded by the members).
	 */
	#succeed(quorumValue: unknown, genesisOwner: UserId, genesisOwnerWithoutRecord: boolean) {
		const quorum = isCount(quorumValue) ? quorumValue : 0;
		for (let step = 0; ; step++) {
			const successors = [...this.members.values()]
				.filter((m) => m.successor && m.user !== this.#owner)
				.map((m) => m.user)
				.sort();
			const named = new Set(successors);
			const approvals = new Map<UserId, UserId>();
			const tally = new Map<UserId, number>();
			for (const user of successors) {
				const approval = this.members.get(user)!.approval;
				if (!approval || approval.term !== this.#term || !named.has(approval.candidate)) continue;
				approvals.set(user, approval.candidate);
				tally.set(approval.candidate, (tally.get(approval.candidate) ?? 0) + 1);
			}
			this.#succession = {
				successors,
				quorum: quorum <= successors.length ? quorum : 0,
				approvals
			};
			if (!this.#succession.quorum || step > this.members.size) return;
			const winner = [...tally]
				.filter(([, n]) => n >= quorum)
				.sort(([a, n], [b, m]) => m - n || (a < b ? -1 : 1))[0]?.[0];
			if (!winner) return;
			// the genesis owner is a member without a record only while owner (see derive)
			if (this.#owner === genesisOwner && genesisOwnerWithoutRecord)
				this.members.delete(genesisOwner);
			this.#owner = winner;
			this.#term += 1;
			this.#bySuccession = true;
		}
	}

	isMember(user: UserId | undefined): user is UserId {
		return !!user && this.members.has(user);
	}

	userOfDevice(deviceKey: Uint8Array): UserId | undefined {
		return this.#deviceOwners.get(hex.encode(deviceKey));
	}

	/** The member whose live device made an Automerge change with this actor (see actors.ts). */
	userOfActor(actor: string): UserId | undefined {
		if (!this.#actorOwners) {
			this.#actorOwners = new Map();
			for (const m of this.members.values())
				for (const key of m.deviceKeys) this.#actorOwners.set(actorPrefix(key), m.user);
		}
		return this.#actorOwners.get(actor.slice(0, 24));
	}

	/** Highest role position of a member; the owner outranks everyone. */
	rank(user: UserId): number {
		if (user === this.owner) return OWNER_RANK;
		const member = this.members.get(user);
		if (!member) return -1;
		let rank = 0;
		for (const id of member.roles) rank = Math.max(rank, this.roles.get(id)?.position ?? 0);
		return rank;
	}

	/** Space-wide permissions: @everyone OR the member's roles; owner and administrators hold all. */
	basePermissions(user: UserId): number {
		if (user === this.owner) return ALL_PERMISSIONS;
		const member = this.members.get(user);
		if (!member) return 0;
		let bits = this.roles.get(EVERYONE)?.permissions ?? 0;
		for (const id of member.roles) bits |= this.roles.get(id)?.permissions ?? 0;
		return has(bits, Permission.ADMINISTRATOR) ? ALL_PERMISSIONS : bits;
	}

	/**
	 * Effective permissions in a channel: base permissions, then overwrites for @everyone, for the
	 * member's roles (denies OR-ed, then allows OR-ed) and for the member — deny before allow each time.
	 */
	permissions(user: UserId, channel?: ChannelId): number {
		const base = this.basePermissions(user);
		if (!channel || base === ALL_PERMISSIONS) return base;
		const record = this.channels.get(channel);
		if (!record) return 0;
		const overwrites = record.overwrites ?? {};
		let bits = base;
		const everyone = overwrites[`role:${EVERYONE}`];
		if (everyone) bits = (bits & ~everyone.deny) | everyone.allow;
		let deny = 0;
		let allow = 0;
		for (const role of this.members.get(user)?.roles ?? []) {
			const o = overwrites[`role:${role}`];
			if (o) {
				deny |= o.deny;
				allow |= o.allow;
			}
		}
		bits = (bits & ~deny) | allow;
		const own = overwrites[`user:${user}`];
		if (own) bits = (bits & ~own.deny) | own.allow;
		return bits;
	}

	/** What a member holding exactly these roles could do (for invites, before anyone holds them). */
	rolesCan(roles: readonly string[], permission: number, channel?: ChannelId): boolean {
		let bits = this.roles.get(EVERYONE)?.permissions ?? 0;
		for (const id of roles) bits |= this.roles.get(id)?.permissions ?? 0;
		if (has(bits, Permission.ADMINISTRATOR)) return true;
		if (channel) {
			const overwrites = this.channels.get(channel)?.overwrites ?? {};
			const everyone = overwrites[`role:${EVERYONE}`];
			if (everyone) bits = (bits & ~everyone.deny) | everyone.allow;
			let deny = 0;
			let allow = 0;
			for (const role of roles) {
				const o = overwrites[`role:${role}`];
				if (o) {
					deny |= o.deny;
					allow |= o.allow;
				}
			}
			bits = (bits & ~deny) | allow;
		}
		return has(bits, permission);
	}

	can(user: UserId, permission: number, channel?: ChannelId): boolean {
		return has(this.permissions(user, channel), permission);
	}

	/** Members who may read a channel (or, without one, the space document). */
	readers(channel?: ChannelId): MemberState[] {
		return [...this.members.values()].filter(
			(m) => !channel || this.can(m.user, Permission.VIEW_CHANNEL, channel)
		);
	}
}

/** A non-negative safe integer (terms, quorums). */
function isCount(value: unknown): value is number {
	return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function approvalOf(value: unknown): { approval?: { term: number; candidate: UserId } } {
	if (!value || typeof value !== 'object') return {};
	const { term, candidate } = value as { term?: unknown; candidate?: unknown };
	const user = asString(candidate);
	return isCount(term) && user ? { approval: { term, candidate: user as UserId } } : {};
}

const cardCache = new Map<string, UserCard>();

/** Cards are verified by the rule that admits them; derivation only re-parses (cached). */
function cachedCard(bytes: Uint8Array): UserCard {
	const key = hex.encode(bytes);
	let card = cardCache.get(key);
	if (!card) {
		card = decodeUserCard(bytes);
		if (cardCache.size > 10_000) cardCache.clear();
		cardCache.set(key, card);
	}
	return card;
}
