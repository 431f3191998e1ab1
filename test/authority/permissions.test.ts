import { describe, expect, it } from 'vitest';
import { SpaceState } from '../../src/lib/authority/state.js';
import {
	Permission,
	ALL_PERMISSIONS,
	DEFAULT_EVERYONE_PERMISSIONS
} from '../../src/lib/authority/permissions.js';
import { createGenesis } from '../../src/lib/authority/genesis.js';
import { Identity } from '../../src/lib/identity/identity.js';
import { MemorySecretStore } from '../../src/lib/identity/secret-store.js';
import type { SpaceDoc } from '../../src/lib/authority/schema.js';
import type { ChannelId, UserId } from '../../src/lib/identity/ids.js';

async function person(name: string) {
	const { identity } = await Identity.create(new MemorySecretStore(), name);
	return { identity, card: await identity.card() };
}

describe('effective permissions (one pure function)', async () => {
	const owner = await person('owner');
	const mod = await person('mod');
	const member = await person('member');
	const genesis = await createGenesis(
		owner.identity.userKey,
		(m) => owner.identity.signAsIdentity(m),
		owner.identity.certificate
	);
	const chan = 'chan_1111111111111111' as ChannelId;
	const doc = (
		overwrites: SpaceDoc['channels'][ChannelId]['overwrites'] = {}
	): Partial<SpaceDoc> => ({
		roles: {
			everyone: { name: '@everyone', position: 0, permissions: DEFAULT_EVERYONE_PERMISSIONS },
			mod: {
				name: 'Mod',
				position: 2,
				permissions: Permission.KICK_MEMBERS | Permission.MANAGE_MESSAGES
			},
			admin: { name: 'Admin', position: 3, permissions: Permission.ADMINISTRATOR }
		},
		members: {
			[mod.identity.userId]: {
				card: mod.card.bytes,
				addedAt: 1,
				addedBy: owner.identity.userId,
				roles: { mod: true }
			},
			[member.identity.userId]: {
				card: member.card.bytes,
				addedAt: 2,
				addedBy: owner.identity.userId,
				roles: {}
			}
		} as SpaceDoc['members'],
		channels: {
			[chan]: { name: 'c', position: 0, createdAt: 0, durability: 'replicated', overwrites }
		} as SpaceDoc['channels'],
		bans: {}
	});
	const M = member.identity.userId;
	const D = mod.identity.userId;

	it('✓ the owner holds everything and outranks everyone', () => {
		const s = SpaceState.derive(genesis, doc());
		expect(s.permissions(owner.identity.userId)).toBe(ALL_PERMISSIONS);
		expect(s.rank(owner.identity.userId)).toBeGreaterThan(s.rank(D));
	});

	it('✓ roles add to @everyone; rank is the highest role', () => {
		const s = SpaceState.derive(genesis, doc());
		expect(s.can(D, Permission.KICK_MEMBERS)).toBe(true);
		expect(s.can(M, Permission.KICK_MEMBERS)).toBe(false);
		expect(s.can(M, Permission.SEND_MESSAGES)).toBe(true);
		expect(s.rank(D)).toBe(2);
		expect(s.rank(M)).toBe(0);
	});

	it('✓ overwrites apply @everyone, then roles, then the member; deny before allow', () => {
		const everyoneDenied = SpaceState.derive(
			genesis,
			doc({ 'role:everyone': { allow: 0, deny: Permission.VIEW_CHANNEL } })
		);
		expect(everyoneDenied.can(M, Permission.VIEW_CHANNEL, chan)).toBe(false);
		expect(everyoneDenied.can(M, Permission.VIEW_CHANNEL)).toBe(true); // space-wide unaffected
		const roleAllowed = SpaceState.derive(
			genesis,
			doc({
				'role:everyone': { allow: 0, deny: Permission.VIEW_CHANNEL },
				'role:mod': { allow: Permission.VIEW_CHANNEL, deny: 0 }
			})
		);
		expect(roleAllowed.can(D, Permission.VIEW_CHANNEL, chan)).toBe(true);
		expect(roleAllowed.can(M, Permission.VIEW_CHANNEL, chan)).toBe(false);
		const memberAllowed = SpaceState.derive(
			genesis,
			doc({
				'role:everyone': { allow: 0, deny: Permission.VIEW_CHANNEL },
				[`user:${M}`]: { allow: Permission.VIEW_CHANNEL, deny: 0 }
			})
		);
		expect(memberAllowed.can(M, Permission.VIEW_CHANNEL, chan)).toBe(true);
		const memberDenied = SpaceState.derive(
			genesis,
			doc({
				'role:mod': { allow: Permission.SEND_MESSAGES, deny: 0 },
				[`user:${D}`]: { allow: 0, deny: Permission.SEND_MESSAGES }
			})
		);
		expect(memberDenied.can(D, Permission.SEND_MESSAGES, chan)).toBe(false);
	});

	it('✓ ADMINISTRATOR bypasses overwrites; banned users hold nothing', () => {
		const d = doc({ 'role:everyone': { allow: 0, deny: Permission.VIEW_CHANNEL } });
		(d.members as Record<UserId, { roles: Record<string, true> }>)[M]!.roles = { admin: true };
		const s = SpaceState.derive(genesis, d);
		expect(s.can(M, Permission.VIEW_CHANNEL, chan)).toBe(true);
		const banned = SpaceState.derive(genesis, {
			...d,
			bans: { [M]: { by: owner.identity.userId, at: 1 } } as SpaceDoc['bans']
		});
		expect(banned.permissions(M)).toBe(0);
		expect(banned.isMember(M)).toBe(false);
	});
});
