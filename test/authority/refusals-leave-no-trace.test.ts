/**
 * Story: a guild with an owner, an admin, a moderator, a channel manager and a plain member. Each of
 * them tries something the rules do not let them do — a channel with a durability that does not
 * exist, a private channel without MANAGE_ROLES, a ban of someone above them, an invite granting a
 * role above theirs, a member added without CREATE_INVITE, an overwrite on a role above theirs… —
 * and each refusal comes back as a typed error and leaves no trace: the envelopes of the space and of
 * every channel hold the same entries and heads as before (no lockbox, no entry), and no epoch key was
 * made. Every action runs plan → authorise → seal → commit (docs/protocol.md §8): nothing reaches the
 * wire before the rule table has accepted the change.
 */
import * as A from '@automerge/automerge';
import { afterEach, describe, expect, it } from 'vitest';
import { Charter, CharterError, MemorySecretStore, type Space } from '../../src/lib/index.js';
import { envelopeDocumentId } from '../../src/lib/sync/envelope.js';
import { channelIdBytes, spaceIdBytes } from '../../src/lib/identity/ids.js';
import { entriesOf, shutdown, syncAll, userOf, type Persona } from '../support/personas.js';

interface Keyed extends Persona {
	/** The persona's secret store, where its epoch keys are kept. */
	secrets: MemorySecretStore;
}

async function persona(name: string): Promise<Keyed> {
	const secrets = new MemorySecretStore();
	const client = await Charter.open({ inMemory: true, deviceName: name, stores: { secrets } });
	await client.createIdentity();
	return { name, client, secrets };
}

/** Everything a refused action could have left behind, as `who` holds it. */
async function trace(who: Keyed, space: Space) {
	const mine = who.client.space(space.id)!;
	await mine.settled();
	const channels = Object.keys(mine.document.channels ?? {}).sort();
	const envelopes: Record<string, { heads: string[]; entries: number }> = {};
	for (const [name, document] of [
		['space', spaceIdBytes(space.id)] as const,
		...channels.map((c) => [c, channelIdBytes(c)] as const)
	]) {
		const handle = await who.client.wire.open(envelopeDocumentId(spaceIdBytes(space.id), document));
		envelopes[name] = {
			heads: [...A.getHeads(handle.doc())].sort(),
			entries: (await entriesOf(who.client, space.id, document)).length
		};
	}
	return {
		envelopes,
		channels,
		spaceHeads: [...A.getHeads(mine.document)].sort(),
		epochKeys: (await who.secrets.list('epoch/')).sort()
	};
}

/** `who` tries `action`: it is refused with `code`, and nothing about the space changed. */
async function refused(
	who: Keyed,
	space: Space,
	code: string,
	action: (s: Space) => Promise<unknown>
) {
	const before = await trace(who, space);
	const error = await action(who.client.space(space.id)!).then(
		() => undefined,
		(e: unknown) => e
	);
	// ✓ refused, typed
	expect(error, `${who.name}: expected ${code}`).toBeInstanceOf(CharterError);
	expect((error as CharterError).code, (error as CharterError).message).toBe(code);
	// ✓ and nothing reached the wire, the document or the key store
	expect(await trace(who, space), `${who.name}: ${(error as CharterError).message}`).toEqual(
		before
	);
}

async function setup() {
	const owner = await persona('owner');
	const admin = await persona('admin');
	const mod = await persona('mod');
	const manager = await persona('manager');
	const member = await persona('member');
	const outsider = await persona('outsider');
	const people = [owner, admin, mod, manager, member];
	const space = await owner.client.createSpace({ name: 'Guild' });
	await space.addMembers(
		await Promise.all([admin, mod, manager, member].map((p) => p.client.memberCard()))
	);
	// @everyone may not invite here: inviting is a role's
	await space.updateRole('everyone', {
		permissions: ['VIEW_CHANNEL', 'SEND_MESSAGES', 'READ_MESSAGE_HISTORY', 'CHANGE_NICKNAME']
	});
	// not ADMINISTRATOR (which overrides every overwrite): an admin can lose a channel
	const adminRole = await space.createRole({
		name: 'Admin',
		position: 3,
		permissions: ['MANAGE_SPACE', 'MANAGE_ROLES', 'MANAGE_CHANNELS', 'BAN_MEMBERS', 'CREATE_INVITE']
	});
	const modRole = await space.createRole({
		name: 'Mod',
		position: 2,
		permissions: [
			'BAN_MEMBERS',
			'KICK_MEMBERS',
			'MANAGE_ROLES',
			'MANAGE_NICKNAMES',
			'CREATE_INVITE'
		]
	});
	const managerRole = await space.createRole({
		name: 'Manager',
		position: 1,
		permissions: ['MANAGE_CHANNELS']
	});
	await space.assignRole(userOf(admin), adminRole.id);
	await space.assignRole(userOf(mod), modRole.id);
	await space.assignRole(userOf(manager), managerRole.id);
	await syncAll(people, space.id);
	const general = space.channels[0]!.id;
	return {
		owner,
		admin,
		mod,
		manager,
		member,
		outsider,
		people: [...people, outsider],
		space,
		general,
		roles: { admin: adminRole.id, mod: modRole.id, manager: managerRole.id }
	};
}

describe('a refused action leaves no trace', () => {
	let people: Persona[] = [];
	afterEach(() => shutdown(people));

	it('✓ createChannel: without MANAGE_CHANNELS, with an unknown durability, private without MANAGE_ROLES, unnamed', async () => {
		const s = await setup();
		people = s.people;
		await refused(s.member, s.space, 'not-authorized', (sp) => sp.createChannel({ name: 'mine' }));
		await refused(s.owner, s.space, 'not-authorized', (sp) =>
			sp.createChannel({ name: 'odd', durability: 'bogus' as never })
		);
		await refused(s.manager, s.space, 'not-authorized', (sp) =>
			sp.createChannel({ name: 'secret', private: true })
		);
		await refused(s.owner, s.space, 'invalid-argument', (sp) => sp.createChannel({ name: ' ' }));
	}, 60_000);

	it('✓ ban and kick: without the permission, of someone above, of the owner, of a non-member', async () => {
		const s = await setup();
		people = s.people;
		await refused(s.member, s.space, 'not-authorized', (sp) => sp.ban(userOf(s.manager)));
		await refused(s.manager, s.space, 'not-authorized', (sp) => sp.kick(userOf(s.member)));
		await refused(s.mod, s.space, 'not-authorized', (sp) => sp.ban(userOf(s.admin)));
		await refused(s.mod, s.space, 'not-authorized', (sp) => sp.kick(userOf(s.admin)));
		await refused(s.admin, s.space, 'not-authorized', (sp) => sp.ban(userOf(s.owner)));
		await refused(s.mod, s.space, 'invalid-argument', (sp) => sp.kick(userOf(s.outsider)));
	}, 60_000);

	it('✓ createInvite: without CREATE_INVITE, granting a role above yours, an unknown role, bad limits', async () => {
		const s = await setup();
		people = s.people;
		await refused(s.member, s.space, 'not-authorized', (sp) => sp.createInvite());
		await refused(s.mod, s.space, 'not-authorized', (sp) =>
			sp.createInvite({ roles: [s.roles.admin] })
		);
		await refused(s.mod, s.space, 'not-authorized', (sp) =>
			sp.createInvite({ roles: [s.roles.mod] })
		);
		await refused(s.mod, s.space, 'invalid-argument', (sp) =>
			sp.createInvite({ roles: ['role_none'] })
		);
		await refused(s.mod, s.space, 'invalid-argument', (sp) => sp.createInvite({ maxUses: -1 }));
		await refused(s.mod, s.space, 'invalid-argument', (sp) => sp.createInvite({ expiresAt: 1 }));
	}, 60_000);

	it('✓ addMembers: without CREATE_INVITE, a banned user, someone already a member, a user listed twice', async () => {
		const s = await setup();
		people = s.people;
		const card = await s.outsider.client.memberCard();
		await refused(s.member, s.space, 'not-authorized', (sp) => sp.addMembers([card]));
		await refused(s.manager, s.space, 'not-authorized', (sp) => sp.addMember(card));
		await refused(s.owner, s.space, 'invalid-argument', async (sp) =>
			sp.addMembers([await s.member.client.memberCard()])
		);
		await refused(s.owner, s.space, 'invalid-argument', (sp) => sp.addMembers([card, card]));
		await s.space.ban(userOf(s.outsider));
		await refused(s.owner, s.space, 'not-authorized', (sp) => sp.addMembers([card]));
	}, 60_000);

	it('✓ setChannelPermissions: without MANAGE_ROLES, granting what you lack, on a role or member above you, in no channel', async () => {
		const s = await setup();
		people = s.people;
		await refused(s.member, s.space, 'not-authorized', (sp) =>
			sp.setChannelPermissions(s.general, { role: 'everyone' }, { deny: ['SEND_MESSAGES'] })
		);
		await refused(s.mod, s.space, 'not-authorized', (sp) =>
			sp.setChannelPermissions(s.general, { role: s.roles.manager }, { allow: ['MANAGE_CHANNELS'] })
		);
		// the admin would lose the channel (a rotation): refused before any key is made or sealed
		await refused(s.mod, s.space, 'not-authorized', (sp) =>
			sp.setChannelPermissions(s.general, { role: s.roles.admin }, { deny: ['VIEW_CHANNEL'] })
		);
		await refused(s.mod, s.space, 'not-authorized', (sp) =>
			sp.setChannelPermissions(s.general, { user: userOf(s.admin) }, { deny: ['VIEW_CHANNEL'] })
		);
		await refused(s.mod, s.space, 'not-authorized', (sp) =>
			sp.setChannelPermissions(s.general, { role: 'role_none' }, { deny: ['SEND_MESSAGES'] })
		);
		await refused(s.owner, s.space, 'unknown-channel', (sp) =>
			sp.setChannelPermissions('chan_1111111111111111' as never, { role: 'everyone' }, {})
		);
	}, 60_000);

	it('✓ the rest of the table: name, roles, role assignment, nicknames, bans, channels, invites, ownership, leaving', async () => {
		const s = await setup();
		people = s.people;
		const invite = await s.space.createInvite();
		await s.space.settled();
		await syncAll(s.people, s.space.id);
		await refused(s.member, s.space, 'not-authorized', (sp) => sp.rename('Mine now'));
		await refused(s.member, s.space, 'not-authorized', (sp) => sp.createRole({ name: 'Boss' }));
		await refused(s.mod, s.space, 'not-authorized', (sp) =>
			sp.createRole({ name: 'Boss', permissions: ['ADMINISTRATOR'] })
		);
		await refused(s.mod, s.space, 'not-authorized', (sp) =>
			sp.updateRole(s.roles.admin, { name: 'Demoted' })
		);
		await refused(s.mod, s.space, 'not-authorized', (sp) => sp.deleteRole(s.roles.admin));
		await refused(s.mod, s.space, 'not-authorized', (sp) =>
			sp.assignRole(userOf(s.member), s.roles.admin)
		);
		await refused(s.mod, s.space, 'not-authorized', (sp) =>
			sp.unassignRole(userOf(s.admin), s.roles.admin)
		);
		await refused(s.mod, s.space, 'not-authorized', (sp) =>
			sp.setNickname('Boss', userOf(s.admin))
		);
		await refused(s.member, s.space, 'not-authorized', (sp) => sp.setNickname('Mo', userOf(s.mod)));
		await refused(s.member, s.space, 'invalid-argument', (sp) => sp.setNickname('x'.repeat(33)));
		await refused(s.member, s.space, 'not-authorized', (sp) => sp.unban(userOf(s.outsider)));
		await refused(s.member, s.space, 'not-authorized', (sp) => sp.deleteChannel(s.general));
		await refused(s.member, s.space, 'not-authorized', (sp) =>
			sp.updateChannel(s.general, { name: 'mine' })
		);
		// passes the client's checks; the rule table refuses it
		await refused(s.owner, s.space, 'not-authorized', (sp) =>
			sp.updateChannel(s.general, { durability: 'bogus' as never })
		);
		await refused(s.member, s.space, 'not-authorized', (sp) => sp.revokeInvite(invite.id));
		await refused(s.admin, s.space, 'not-authorized', (sp) =>
			sp.transferOwnership(userOf(s.member))
		);
		await refused(s.owner, s.space, 'invalid-argument', (sp) =>
			sp.transferOwnership(userOf(s.outsider))
		);
		await refused(s.owner, s.space, 'not-authorized', (sp) => sp.leave());
		// succession and deletion: only the owner names successors or deletes; only successors approve
		await refused(s.admin, s.space, 'not-authorized', (sp) => sp.setSuccessors([userOf(s.mod)], 1));
		await refused(s.owner, s.space, 'invalid-argument', (sp) =>
			sp.setSuccessors([userOf(s.mod), userOf(s.outsider)], 1)
		);
		await refused(s.owner, s.space, 'invalid-argument', (sp) =>
			sp.setSuccessors([userOf(s.mod)], 2)
		);
		await refused(s.admin, s.space, 'invalid-argument', (sp) =>
			sp.approveSuccession(userOf(s.mod))
		);
		await refused(s.admin, s.space, 'not-authorized', (sp) => sp.delete());
	}, 60_000);

	it('✓ topic, role colour and pins: without the permission, past the limit, not #rrggbb', async () => {
		const s = await setup();
		people = s.people;
		const note = await s.space.channels[0]!.send('Meeting on Thursday');
		await syncAll(s.people, s.space.id);
		await refused(s.member, s.space, 'not-authorized', (sp) =>
			sp.updateChannel(s.general, { topic: 'mine' })
		);
		await refused(s.owner, s.space, 'invalid-argument', (sp) =>
			sp.updateChannel(s.general, { topic: 'x'.repeat(1025) })
		);
		await refused(s.member, s.space, 'not-authorized', (sp) =>
			sp.updateRole(s.roles.manager, { color: '#ff0000' })
		);
		await refused(s.mod, s.space, 'not-authorized', (sp) =>
			sp.updateRole(s.roles.admin, { color: '#ff0000' })
		);
		await refused(s.owner, s.space, 'invalid-argument', (sp) =>
			sp.updateRole(s.roles.manager, { color: 'red;background:url(x)' })
		);
		await refused(s.member, s.space, 'not-authorized', (sp) => sp.channels[0]!.pin(note.id));
		await refused(s.owner, s.space, 'invalid-argument', (sp) => sp.channels[0]!.pin('none.1'));
		await s.space.channels[0]!.pin(note.id);
		await syncAll(s.people, s.space.id);
		await refused(s.member, s.space, 'not-authorized', (sp) => sp.channels[0]!.unpin(note.id));
	}, 60_000);

	it('✓ an accepted action does reach the wire (the trace sees lockboxes, entries and keys)', async () => {
		const s = await setup();
		people = s.people;
		const before = await trace(s.owner, s.space);
		await s.space.createChannel({ name: 'news' });
		const after = await trace(s.owner, s.space);
		// ✓ one more channel, its epoch key kept, and the space envelope grew (lockbox + entry)
		expect(after.channels).toHaveLength(before.channels.length + 1);
		expect(after.epochKeys).toHaveLength(before.epochKeys.length + 1);
		expect(after.envelopes.space!.entries).toBeGreaterThanOrEqual(
			before.envelopes.space!.entries + 2
		);
		expect(after.envelopes.space!.heads).not.toEqual(before.envelopes.space!.heads);
	}, 60_000);
});
