/**
 * Space actions as plans (src/lib/authority/plans.ts), tested as the pure functions they are: a
 * state and a document in, a plan out — the change, the documents whose key rotates, and who is
 * handed which keys. No client, no wire, no keys: what `Space` then authorises, seals and commits
 * is covered by the stories in this folder (refusals-leave-no-trace.test.ts among them).
 */
import * as A from '@automerge/automerge';
import { describe, expect, it } from 'vitest';
import * as plans from '../../src/lib/authority/plans.js';
import { createGenesis } from '../../src/lib/authority/genesis.js';
import { Permission } from '../../src/lib/authority/permissions.js';
import { atom, EVERYONE, SPACE_DOC_ROOT, type SpaceDoc } from '../../src/lib/authority/schema.js';
import { SpaceState } from '../../src/lib/authority/state.js';
import { inviteKeys, newInviteSecret } from '../../src/lib/authority/invites.js';
import { Identity } from '../../src/lib/identity/identity.js';
import { MemorySecretStore } from '../../src/lib/identity/secret-store.js';
import {
	channelId,
	channelIdBytes,
	spaceIdBytes,
	type ChannelId,
	type UserId
} from '../../src/lib/identity/ids.js';
import type { UserCard } from '../../src/lib/identity/certificates.js';
import { base58, randomBytes } from '../../src/lib/util/bytes.js';
import { CharterError } from '../../src/lib/errors.js';

async function person(name: string) {
	const { identity } = await Identity.create(new MemorySecretStore(), name);
	const card = await identity.card();
	return { name, identity, card, user: identity.userId };
}
type Person = Awaited<ReturnType<typeof person>>;

/**
 * A space as its owner Alice set it up: Bob is a moderator (kicks, bans, manages roles below him),
 * Carol a plain member; #general is public, #staff private to Alice and Bob. Dave is not a member.
 */
async function setup() {
	const [alice, bob, carol, dave] = [
		await person('alice'),
		await person('bob'),
		await person('carol'),
		await person('dave')
	];
	const genesis = await createGenesis(
		alice.identity.userKey,
		(m) => alice.identity.signAsIdentity(m),
		alice.identity.certificate
	);
	const general = channelId(randomBytes(16));
	const staff = channelId(randomBytes(16));
	const member = (p: Person, addedAt: number, roles: Record<string, true> = {}) => ({
		card: p.card.bytes,
		addedAt,
		addedBy: atom(alice.user),
		roles
	});
	let doc = A.change(A.load<SpaceDoc>(SPACE_DOC_ROOT), (d) => {
		d.name = 'book club';
		d.createdAt = 1;
		d.roles['mod'] = {
			name: 'Mod',
			position: 2,
			permissions:
				Permission.KICK_MEMBERS |
				Permission.BAN_MEMBERS |
				Permission.MANAGE_ROLES |
				Permission.CREATE_INVITE |
				Permission.VIEW_CHANNEL |
				Permission.SEND_MESSAGES
		};
		d.roles['reader'] = { name: 'Reader', position: 1, permissions: 0 };
		d.members[alice.user] = member(alice, 1);
		d.members[bob.user] = member(bob, 2, { mod: true });
		d.members[carol.user] = member(carol, 3);
		d.channels[general] = {
			name: 'general',
			position: 0,
			createdAt: 1,
			durability: atom('replicated'),
			overwrites: {}
		};
		d.channels[staff] = {
			name: 'staff',
			position: 1,
			createdAt: 1,
			durability: atom('replicated'),
			overwrites: {
				[`role:${EVERYONE}`]: { allow: 0, deny: Permission.VIEW_CHANNEL },
				'role:mod': { allow: Permission.VIEW_CHANNEL, deny: 0 }
			}
		};
	});
	const space = spaceIdBytes(genesis.space);
	const ctx = (as: Person, now = 1_000): plans.PlanContext => ({
		state: SpaceState.derive(genesis, doc),
		doc,
		me: as.user,
		now
	});
	/** Carries a plan's change out on the document (what Space commits once the rules accept it). */
	const apply = (plan: plans.SpacePlan) => {
		doc = A.change(doc, plan.change);
		return SpaceState.derive(genesis, doc);
	};
	return { alice, bob, carol, dave, genesis, general, staff, space, ctx, apply, doc: () => doc };
}

const keysOf = (recipients: readonly { encryptionKey: Uint8Array }[]) =>
	recipients.map((r) => base58.encode(r.encryptionKey)).sort();
const keyOf = (p: Person) => base58.encode(p.card.encryptionKey);
const ids = (documents: readonly Uint8Array[] | undefined) =>
	(documents ?? []).map((d) => base58.encode(d)).sort();

function refusal(fn: () => unknown): { code: string; message: string } {
	try {
		fn();
	} catch (e) {
		expect(e).toBeInstanceOf(CharterError);
		return { code: (e as CharterError).code, message: (e as Error).message };
	}
	throw new Error('the plan was not refused');
}

describe('plans: state in, plan out', () => {
	it('✓ a new public channel is handed to every member, a private one only to its creator', async () => {
		const { alice, bob, carol, ctx } = await setup();
		const id = channelId(randomBytes(16));
		const open = plans.createChannel(ctx(alice), { id, name: ' books ' });
		// ✓ the channel gets its first epoch, sealed to all three members
		expect(ids(open.rotate)).toEqual(ids([channelIdBytes(id)]));
		expect(open.handouts).toHaveLength(1);
		expect(open.handouts![0]!.epochs).toBe('new');
		expect(keysOf(open.handouts![0]!.recipients)).toEqual(
			[keyOf(alice), keyOf(bob), keyOf(carol)].sort()
		);
		// ✓ its change records the trimmed name and the plan's clock
		const draft = A.change(ctx(alice).doc, open.change);
		expect(String(draft.channels[id]!.name)).toBe('books');
		expect(draft.channels[id]!.createdAt).toBe(1_000);

		const secret = plans.createChannel(ctx(alice), { id, name: 'plans', private: true });
		// ✓ a private channel's key goes to Alice alone (Bob's role gives no way past the overwrite)
		expect(keysOf(secret.handouts![0]!.recipients)).toEqual([keyOf(alice)]);
	});

	it('✓ a channel is created only with MANAGE_CHANNELS and a name of 1 to 100 characters', async () => {
		const { alice, carol, ctx } = await setup();
		const id = channelId(randomBytes(16));
		// ✓ Carol may not
		expect(refusal(() => plans.createChannel(ctx(carol), { id, name: 'x' }))).toEqual({
			code: 'not-authorized',
			message: 'needs MANAGE_CHANNELS'
		});
		// ✓ an empty or overlong name is refused before anything else
		expect(refusal(() => plans.createChannel(ctx(alice), { id, name: '  ' })).code).toBe(
			'invalid-argument'
		);
		expect(refusal(() => plans.createChannel(ctx(alice), { id, name: 'x'.repeat(101) })).code).toBe(
			'invalid-argument'
		);
	});

	it('✓ a kick rotates what the kicked member could read and hands the new keys to those who stay', async () => {
		const { alice, bob, carol, general, staff, space, ctx } = await setup();
		const heads = new Map<ChannelId, string>([
			[general, 'g-heads'],
			[staff, 's-heads']
		]);
		const kick = plans.remove(ctx(bob), {
			user: carol.user,
			kind: 'kick',
			removalId: 'rm_1',
			channelHeads: heads
		});
		// ✓ the space document and #general rotate; #staff, which Carol never read, does not
		expect(ids(kick.rotate)).toEqual(ids([space, channelIdBytes(general)]));
		// ✓ every new epoch goes to Alice and Bob, not to Carol
		for (const h of kick.handouts!) {
			expect(h.epochs).toBe('new');
			expect(keysOf(h.recipients)).toEqual([keyOf(alice), keyOf(bob)].sort());
		}
		// ✓ the change removes Carol and records the cut-offs Bob's device had
		const draft = A.change(ctx(bob).doc, kick.change);
		expect(draft.members[carol.user]).toBeUndefined();
		expect(String(draft.removals['rm_1']!.kind)).toBe('kick');
		expect(String(draft.removals['rm_1']!.cutoffs[general])).toBe('g-heads');
		expect(draft.bans[carol.user]).toBeUndefined();
	});

	it('✓ a ban also records the ban; nobody removes the owner or a member ranked as high', async () => {
		const { alice, bob, carol, ctx } = await setup();
		const ban = plans.remove(ctx(bob), {
			user: carol.user,
			kind: 'ban',
			reason: 'spam',
			removalId: 'rm_2',
			channelHeads: new Map()
		});
		const draft = A.change(ctx(bob).doc, ban.change);
		// ✓ the ban names its author and reason
		expect(String(draft.bans[carol.user]!.by)).toBe(bob.user);
		expect(String(draft.bans[carol.user]!.reason)).toBe('spam');
		const args = { kind: 'kick' as const, removalId: 'rm', channelHeads: new Map() };
		// ✓ Bob cannot kick the owner, Carol cannot kick at all, Carol is not above Bob
		expect(refusal(() => plans.remove(ctx(bob), { ...args, user: alice.user })).message).toBe(
			'nobody manages the owner'
		);
		expect(refusal(() => plans.remove(ctx(carol), { ...args, user: bob.user })).message).toBe(
			'needs KICK_MEMBERS'
		);
		expect(
			refusal(() => plans.remove(ctx(alice), { ...args, user: 'u_nobody' as UserId })).code
		).toBe('invalid-argument');
	});

	it('✓ a leave rotates nothing itself (the leaver would know the keys); the owner cannot leave', async () => {
		const { alice, carol, general, ctx } = await setup();
		const leave = plans.leave(ctx(carol), {
			removalId: 'rm_3',
			channelHeads: new Map([[general, 'h']])
		});
		// ✓ no rotation, no lockbox: those who stay complete the pending rotations
		expect(leave.rotate).toBeUndefined();
		expect(leave.handouts).toBeUndefined();
		const draft = A.change(ctx(carol).doc, leave.change);
		expect(draft.members[carol.user]).toBeUndefined();
		expect(String(draft.removals['rm_3']!.kind)).toBe('leave');
		// ✓ the owner hands the space over first
		expect(
			refusal(() => plans.leave(ctx(alice), { removalId: 'rm', channelHeads: new Map() })).code
		).toBe('not-authorized');
	});

	it('✓ an invite is handed every key of the space and of the channels its roles may read', async () => {
		const { alice, bob, carol, dave, general, staff, space, ctx, apply } = await setup();
		const keys = inviteKeys(newInviteSecret());
		const plain = plans.createInvite(ctx(bob), { keys, expiresAt: 5_000 });
		// ✓ full history of the space document and #general, not of #staff
		expect(plain.handouts).toHaveLength(1);
		expect(plain.handouts![0]!.epochs).toBe('held');
		expect(keysOf(plain.handouts![0]!.recipients)).toEqual([base58.encode(keys.encryptionKey)]);
		expect(ids(plain.handouts![0]!.documents)).toEqual(ids([space, channelIdBytes(general)]));
		// ✓ an invite granting the mod role may read #staff too — but only Alice can grant it
		expect(
			ids(plans.createInvite(ctx(alice), { keys, roles: ['mod'] }).handouts![0]!.documents)
		).toEqual(ids([space, channelIdBytes(general), channelIdBytes(staff)]));
		expect(refusal(() => plans.createInvite(ctx(bob), { keys, roles: ['mod'] })).message).toBe(
			'an invite may grant only roles you could assign'
		);
		// ✓ Carol may invite (@everyone may, here) but grant no role; Dave, no member, not at all
		expect(refusal(() => plans.createInvite(ctx(carol), { keys, roles: ['reader'] })).code).toBe(
			'not-authorized'
		);
		expect(refusal(() => plans.createInvite(ctx(dave), { keys })).code).toBe('not-authorized');
		expect(refusal(() => plans.createInvite(ctx(bob), { keys, expiresAt: 999 })).code).toBe(
			'invalid-argument'
		);
		// ✓ once the invite exists, a later rotation hands the invite the new epoch too, so it keeps
		// working with every member offline
		apply(plain);
		const kick = plans.remove(ctx(bob), {
			user: carol.user,
			kind: 'kick',
			removalId: 'rm',
			channelHeads: new Map()
		});
		const spaceHandout = kick.handouts!.find((h) => ids(h.documents)[0] === ids([space])[0])!;
		expect(keysOf(spaceHandout.recipients)).toContain(base58.encode(keys.encryptionKey));
		// ✓ …but not after the invite expired
		const later = plans.remove(
			{ ...ctx(bob), now: 10_000 },
			{ user: carol.user, kind: 'kick', removalId: 'rm', channelHeads: new Map() }
		);
		expect(keysOf(later.handouts![0]!.recipients)).not.toContain(base58.encode(keys.encryptionKey));
	});

	it('✓ added members are handed every key they may read once added; bans and doubles refused', async () => {
		const { alice, carol, dave, general, space, ctx, apply } = await setup();
		const add = plans.addMembers(ctx(alice), [dave.card]);
		expect(add.rotate).toBeUndefined();
		expect(add.handouts).toHaveLength(1);
		// ✓ Dave gets the space document's and #general's keys, full history; not #staff's
		expect(keysOf(add.handouts![0]!.recipients)).toEqual([keyOf(dave)]);
		expect(ids(add.handouts![0]!.documents)).toEqual(ids([space, channelIdBytes(general)]));
		expect(add.handouts![0]!.epochs).toBe('held');
		// ✓ a member already in, a card listed twice, a banned user: refused
		expect(refusal(() => plans.addMembers(ctx(alice), [carol.card])).message).toBe(
			'already a member'
		);
		expect(refusal(() => plans.addMembers(ctx(alice), [dave.card, dave.card])).message).toBe(
			'a user is listed twice'
		);
		apply({
			change: (d) => {
				d.bans[dave.user] = { by: atom(alice.user), at: 1 };
			}
		});
		expect(refusal(() => plans.addMembers(ctx(alice), [dave.card as UserCard])).message).toBe(
			'that user is banned from this space'
		);
	});

	it('✓ with #general’s history hidden, a newcomer is handed only a new epoch of it — by an addition, an invite or an overwrite — and its history once allowed it', async () => {
		const { alice, carol, dave, general, space, ctx, apply } = await setup();
		const hide = plans.setChannelPermissions(
			ctx(alice),
			general,
			{ role: EVERYONE },
			{ deny: ['READ_MESSAGE_HISTORY'] }
		);
		// ✓ hiding the history from those already in rotates nothing (they hold its keys anyway)
		expect(hide.rotate).toEqual([]);
		apply(hide);
		const add = plans.addMembers(ctx(alice), [dave.card]);
		// ✓ #general rotates in the addition itself; Dave is handed the space document's past only…
		expect(ids(add.rotate)).toEqual(ids([channelIdBytes(general)]));
		const held = add.handouts!.find((h) => h.epochs === 'held')!;
		expect(ids(held.documents)).toEqual(ids([space]));
		// …and #general's new epoch, with everyone else who reads it
		const fresh = add.handouts!.find((h) => h.epochs === 'new')!;
		expect(ids(fresh.documents)).toEqual(ids([channelIdBytes(general)]));
		expect(keysOf(fresh.recipients)).toContain(keyOf(dave));
		// ✓ an invite is sealed none of #general's epochs (the newcomer's first key will be new)
		const invite = plans.createInvite(ctx(alice), { keys: inviteKeys(newInviteSecret()) });
		expect(ids(invite.handouts![0]!.documents)).toEqual(ids([space]));
		// ✓ Carol, allowed the history later, is handed every key of #general
		const allow = plans.setChannelPermissions(
			ctx(alice),
			general,
			{ user: carol.user },
			{ allow: ['READ_MESSAGE_HISTORY'] }
		);
		expect(allow.handouts).toEqual([
			{
				recipients: [expect.objectContaining({ user: carol.user })],
				documents: [channelIdBytes(general)],
				epochs: 'held'
			}
		]);
	});

	it('✓ an overwrite that takes VIEW_CHANNEL rotates the channel; one that gives it hands its history', async () => {
		const { alice, bob, carol, general, staff, ctx, apply } = await setup();
		const shut = plans.setChannelPermissions(
			ctx(alice),
			general,
			{ user: carol.user },
			{ deny: ['VIEW_CHANNEL'] }
		);
		// ✓ Carol loses #general: it rotates, the new epoch goes to Alice and Bob only
		expect(shut.losers).toEqual([carol.user]);
		expect(shut.gainers).toEqual([]);
		expect(ids(shut.rotate)).toEqual(ids([channelIdBytes(general)]));
		expect(keysOf(shut.handouts![0]!.recipients)).toEqual([keyOf(alice), keyOf(bob)].sort());

		const open = plans.setChannelPermissions(
			ctx(alice),
			staff,
			{ user: carol.user },
			{ allow: ['VIEW_CHANNEL'] }
		);
		// ✓ Carol gains #staff: nothing rotates, she is handed every key of it
		expect(open.losers).toEqual([]);
		expect(open.gainers).toEqual([carol.user]);
		expect(open.rotate).toEqual([]);
		expect(open.handouts).toEqual([
			{
				recipients: [expect.objectContaining({ user: carol.user })],
				documents: [channelIdBytes(staff)],
				epochs: 'held'
			}
		]);
		// ✓ nobody grants what they lack
		apply(open);
		expect(
			refusal(() =>
				plans.setChannelPermissions(
					ctx(bob),
					general,
					{ role: EVERYONE },
					{ allow: ['MANAGE_SPACE'] }
				)
			).message
		).toBe('you may not grant permissions you lack');
	});

	it('✓ revoking a device rotates everything this user can read, handed to the new card', async () => {
		const { alice, bob, carol, general, staff, space, ctx } = await setup();
		const card = await alice.identity.cardWith([]);
		const plan = plans.revokeDevice(ctx(alice), { device: 'dev_old' as never, card })!;
		expect(ids(plan.rotate)).toEqual(ids([space, channelIdBytes(general), channelIdBytes(staff)]));
		// ✓ the space document's new epoch goes to all three, Alice at her new card's key
		const forSpace = plan.handouts!.find((h) => ids(h.documents)[0] === ids([space])[0])!;
		expect(keysOf(forSpace.recipients)).toEqual(
			[base58.encode(card.encryptionKey), keyOf(bob), keyOf(carol)].sort()
		);
		const draft = A.change(ctx(alice).doc, plan.change);
		expect(draft.members[alice.user]!.revokedDevices?.['dev_old']).toBe(true);
		// ✓ a non-member has nothing to revoke here
		const { dave } = await setup();
		expect(plans.revokeDevice(ctx(dave), { device: 'dev_old' as never, card })).toBeUndefined();
	});

	it('✓ roles are made, changed and given only below the actor’s own highest role', async () => {
		const { alice, bob, carol, ctx, apply } = await setup();
		// ✓ Bob (position 2) makes a role below his own; Alice's goes above every role by default
		const made = plans.createRole(ctx(bob), { id: 'role_x', name: ' Helper ', position: 1 });
		expect(made.role).toEqual({ id: 'role_x', name: 'Helper', position: 1, permissions: 0 });
		expect(plans.createRole(ctx(alice), { id: 'role_y', name: 'Staff' }).role.position).toBe(3);
		expect(
			refusal(() => plans.createRole(ctx(bob), { id: 'r', name: 'Top', position: 2 })).message
		).toBe('a role must sit below your highest role');
		expect(
			refusal(() =>
				plans.createRole(ctx(bob), { id: 'r', name: 'Boss', permissions: ['MANAGE_SPACE'] })
			).message
		).toBe('you may not grant permissions you lack');
		expect(
			refusal(() =>
				plans.createRole(ctx(bob), { id: 'r', name: 'x', permissions: ['NOPE' as never] })
			).code
		).toBe('invalid-argument');
		// ✓ Bob gives Carol the reader role, not his own
		const state = apply(plans.setRole(ctx(bob), carol.user, 'reader', true));
		expect(state.members.get(carol.user)!.roles).toEqual(['reader']);
		expect(refusal(() => plans.setRole(ctx(bob), carol.user, 'mod', true)).message).toBe(
			'you may only assign roles below your highest role'
		);
		expect(refusal(() => plans.deleteRole(ctx(bob), 'mod')).code).toBe('not-authorized');
		expect(refusal(() => plans.updateRole(ctx(alice), 'nope', { name: 'x' })).code).toBe(
			'invalid-argument'
		);
		apply(plans.deleteRole(ctx(alice), 'reader'));
		expect(SpaceState.derive(ctx(alice).state!.genesis, ctx(alice).doc).roles.has('reader')).toBe(
			false
		);
	});

	it('✓ ownership moves by hand-over or by a quorum of named successors, and the plans say so', async () => {
		const { alice, bob, carol, dave, ctx, apply } = await setup();
		// ✓ only the owner names successors, members only, a quorum within their number
		expect(refusal(() => plans.setSuccessors(ctx(bob), [carol.user], 1)).code).toBe(
			'not-authorized'
		);
		expect(refusal(() => plans.setSuccessors(ctx(alice), [dave.user], 1)).message).toBe(
			'a successor must be a member'
		);
		expect(refusal(() => plans.setSuccessors(ctx(alice), [bob.user], 2)).code).toBe(
			'invalid-argument'
		);
		let state = apply(plans.setSuccessors(ctx(alice), [bob.user, carol.user], 2));
		expect(state.succession.successors).toEqual([bob.user, carol.user].sort());
		// ✓ two approvals of Bob make him owner (by succession, not yet recorded)
		apply(plans.approveSuccession(ctx(bob), bob.user));
		state = apply(plans.approveSuccession(ctx(carol), bob.user));
		expect(state.owner).toBe(bob.user);
		expect(state.bySuccession).toBe(true);
		// ✓ every change of the new owner records the succession with it
		const recorded = plans.recordingSuccession(state, plans.rename(ctx(bob), 'new club'));
		state = apply(recorded);
		expect(state.owner).toBe(bob.user);
		expect(state.bySuccession).toBe(false);
		// ✓ a hand-over names the next term and clears the successors
		const handOver = plans.transferOwnership(ctx(bob), carol.user);
		expect(handOver.ownership).toBe(true);
		expect(plans.recordingSuccession(state, handOver)).toBe(handOver);
		state = apply(handOver);
		expect(state.owner).toBe(carol.user);
		expect(state.succession.quorum).toBe(0);
		expect(refusal(() => plans.transferOwnership(ctx(bob), alice.user)).code).toBe(
			'not-authorized'
		);
	});

	it('✓ a plan is a function of its inputs: the same state and arguments give the same change', async () => {
		const { bob, carol, general, ctx } = await setup();
		const args = {
			user: carol.user,
			kind: 'ban' as const,
			removalId: 'rm_9',
			channelHeads: new Map([[general, 'h']])
		};
		const base = ctx(bob);
		const one = A.toJS(A.change(A.clone(base.doc), plans.remove(base, args).change));
		const two = A.toJS(A.change(A.clone(base.doc), plans.remove(ctx(bob), args).change));
		// ✓ identical drafts, and the input document untouched
		expect(two).toEqual(one);
		expect(base.doc.members[carol.user]).toBeDefined();
	});

	it('✓ nothing is planned for someone who is not a member', async () => {
		const { dave, general, ctx } = await setup();
		const outsider = ctx(dave);
		for (const attempt of [
			() => plans.rename(outsider, 'mine'),
			() => plans.createChannel(outsider, { id: general, name: 'x' }),
			() => plans.leave(outsider, { removalId: 'rm', channelHeads: new Map() }),
			() => plans.revokeInvite(outsider, 'inv'),
			() => plans.rotateKeys(outsider, [channelIdBytes(general)])
		])
			expect(refusal(attempt)).toEqual({
				code: 'not-authorized',
				message: 'you are not a member of this space'
			});
		// ✓ nor before the space has arrived at all
		expect(refusal(() => plans.rename({ ...outsider, state: undefined }, 'x')).code).toBe(
			'not-authorized'
		);
	});

	it('✓ a plan that takes a permission from a member who stays records their cut-off; one that takes none records nothing', async () => {
		const { alice, carol, general, ctx, apply } = await setup();
		const heads = { [general]: 'a'.repeat(64) };
		const newId = () => 'rm_test';
		const deny = plans.setChannelPermissions(
			ctx(alice),
			general,
			{ user: carol.user },
			{ deny: ['SEND_MESSAGES'] }
		);
		apply(plans.recordingRestrictions(ctx(alice), deny, heads, newId));
		// ✓ one restrict record for Carol, with the channel heads Alice had
		const record = (doc: SpaceDoc) => doc.removals['rm_test'];
		const doc = ctx(alice).doc;
		expect(String(record(doc)?.kind)).toBe('restrict');
		expect(String(record(doc)?.user)).toBe(carol.user);
		expect(String(record(doc)?.cutoffs[general])).toBe('a'.repeat(64));
		// ✓ a rename takes nothing from anyone: the plan is returned as it was
		const rename = plans.rename(ctx(alice), 'reading club');
		expect(plans.recordingRestrictions(ctx(alice), rename, heads, newId)).toBe(rename);
	});
});
