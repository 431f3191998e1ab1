/**
 * Stories: the owner, an admin, a member and a hostile member in one space. Every refusal is shown
 * twice: the API refuses before sealing, and a forged entry (a member bypassing its own client) is
 * refused by every honest peer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Permission } from '../../src/lib/index.js';
import type { Space, SpaceId, ChannelId } from '../../src/lib/index.js';
import type { SpaceDoc, ChannelDoc } from '../../src/lib/authority/schema.js';
import { atom } from '../../src/lib/authority/schema.js';
import * as A from '@automerge/automerge';
import { deliver, personas, shutdown, syncAll, userOf, type Persona } from '../support/personas.js';
import { forge } from '../support/hostile.js';

let cast: Record<'owner' | 'admin' | 'member' | 'hostile', Persona>;
let all: Persona[];
let spaceId: SpaceId;
let moderator: string;
const space = (p: Persona): Space => p.client.space(spaceId)!;
const general = (p: Persona) => {
	const s = space(p);
	const id = Object.entries(s.document.channels).find(([, c]) => String(c.name) === 'general')![0];
	return s.channel(id as ChannelId)!;
};

beforeAll(async () => {
	cast = await personas('owner', 'admin', 'member', 'hostile');
	all = Object.values(cast);
	const guild = await cast.owner.client.createSpace({ name: 'Guild' });
	spaceId = guild.id;
	for (const p of [cast.admin, cast.member, cast.hostile])
		await guild.addMember(await p.client.memberCard());
	moderator = (
		await guild.createRole({
			name: 'Moderator',
			permissions: [
				'KICK_MEMBERS',
				'BAN_MEMBERS',
				'MANAGE_MESSAGES',
				'MANAGE_ROLES',
				'MANAGE_NICKNAMES'
			]
		})
	).id;
	await guild.assignRole(userOf(cast.admin), moderator);
	await general(cast.owner).send('welcome');
	await syncAll(all, spaceId);
});

afterAll(() => shutdown(all));

describe('a space is a rulebook every peer enforces', () => {
	it('✓ everyone agrees on who is who', () => {
		for (const p of all) {
			expect(space(p).members).toHaveLength(4);
			expect(space(p).members.find((m) => m.user === userOf(cast.admin))!.roles).toEqual([
				moderator
			]);
			expect(general(p).messages.map((m) => m.text)).toEqual(['welcome']);
		}
	});

	it('✓ a member cannot escalate: the API refuses, and a forged change is refused by every peer', async () => {
		await expect(
			space(cast.member).createRole({ name: 'Me', permissions: ['ADMINISTRATOR'] })
		).rejects.toMatchObject({ code: 'not-authorized' });
		await expect(
			space(cast.member).assignRole(userOf(cast.member), moderator)
		).rejects.toMatchObject({ code: 'not-authorized' });
		await forge<SpaceDoc>(cast.hostile.client, space(cast.hostile), {}, (d) => {
			d.roles.everyone!.permissions = Permission.ADMINISTRATOR;
		});
		await forge<SpaceDoc>(cast.hostile.client, space(cast.hostile), {}, (d) => {
			d.members[userOf(cast.hostile)]!.roles[moderator] = true;
		});
		for (const p of [cast.owner, cast.admin, cast.member]) await deliver(cast.hostile, p, spaceId);
		for (const p of [cast.owner, cast.admin, cast.member]) {
			expect(space(p).roles.find((r) => r.id === 'everyone')!.permissions).not.toContain(
				'ADMINISTRATOR'
			);
			expect(space(p).members.find((m) => m.user === userOf(cast.hostile))!.roles).toEqual([]);
			expect(space(p).rejections.map((r) => r.reason)).toEqual(
				expect.arrayContaining(['needs MANAGE_ROLES'])
			);
		}
	});

	it('✓ an admin cannot grant what they lack, nor manage a role at or above their own', async () => {
		await expect(
			space(cast.admin).createRole({ name: 'God', permissions: ['ADMINISTRATOR'] })
		).rejects.toMatchObject({ code: 'not-authorized' });
		await expect(
			space(cast.admin).updateRole(moderator, { permissions: ['MANAGE_SPACE'] })
		).rejects.toMatchObject({ code: 'not-authorized' });
		await forge<SpaceDoc>(cast.admin.client, space(cast.admin), {}, (d) => {
			d.roles[moderator]!.permissions |= Permission.MANAGE_SPACE;
		});
		await deliver(cast.admin, cast.owner, spaceId);
		expect(space(cast.owner).roles.find((r) => r.id === moderator)!.permissions).not.toContain(
			'MANAGE_SPACE'
		);
		expect(space(cast.owner).rejections.map((r) => r.reason)).toContain(
			'may only manage roles below your highest role'
		);
	});

	it('✓ nobody removes the owner', async () => {
		await expect(space(cast.admin).kick(cast.owner.client.identity!.userId)).rejects.toMatchObject({
			code: 'not-authorized'
		});
		await forge<SpaceDoc>(cast.admin.client, space(cast.admin), {}, (d) => {
			delete d.members[userOf(cast.owner)];
		});
		await deliver(cast.admin, cast.member, spaceId);
		expect(space(cast.member).members.some((m) => m.user === userOf(cast.owner))).toBe(true);
	});

	it('✓ a member cannot write as someone else', async () => {
		await forge<ChannelDoc>(
			cast.hostile.client,
			space(cast.hostile),
			{ channel: general(cast.hostile) },
			(d) => {
				d.buckets['x'] = {
					'x.0': {
						author: atom(userOf(cast.owner)),
						text: new A.ImmutableString('I am the owner'),
						createdAt: Date.now()
					}
				};
			}
		);
		await deliver(cast.hostile, cast.member, spaceId);
		expect(general(cast.member).messages.map((m) => m.text)).not.toContain('I am the owner');
		expect(general(cast.member).rejections.map((r) => r.reason)).toContain(
			'author must be the signer'
		);
	});

	it('✓ a member cannot read a channel they cannot view: no key ever reaches them', async () => {
		const staff = await space(cast.owner).createChannel({ name: 'staff', private: true });
		await space(cast.owner).setChannelPermissions(
			staff.id,
			{ role: moderator },
			{ allow: ['VIEW_CHANNEL', 'SEND_MESSAGES'] }
		);
		await staff.send('the plan is in the vault');
		await syncAll(all, spaceId);
		expect(space(cast.admin).channels.map((c) => c.name)).toContain('staff');
		expect(
			space(cast.admin)
				.channel(staff.id)!
				.messages.map((m) => m.text)
		).toEqual(['the plan is in the vault']);
		expect(space(cast.member).channels.map((c) => c.name)).not.toContain('staff');
		expect(space(cast.member).channel(staff.id)?.messages ?? []).toEqual([]);
		expect(space(cast.member).can('VIEW_CHANNEL', staff.id)).toBe(false);
	});

	it('✓ a ban by an admin takes effect everywhere while the admin stays offline afterwards', async () => {
		await general(cast.hostile).send('before the ban');
		await syncAll(all, spaceId);
		const beforeBanHeads = A.getHeads(space(cast.hostile).document);
		await space(cast.admin).ban(userOf(cast.hostile), { reason: 'spam' });
		// the admin hands the ban to the owner and goes offline for good
		await deliver(cast.admin, cast.owner, spaceId);
		await deliver(cast.owner, cast.member, spaceId);
		await deliver(cast.owner, cast.hostile, spaceId);
		for (const p of [cast.owner, cast.member, cast.hostile])
			expect(space(p).bans.map((b) => b.user)).toEqual([userOf(cast.hostile)]);
		expect(space(cast.hostile).isMember).toBe(false);

		// the banned member's client refuses; a forged, back-dated message is refused by everyone
		await expect(general(cast.hostile).send('let me in')).rejects.toMatchObject({
			code: 'not-authorized'
		});
		const oldEpoch = (await import('../../src/lib/util/bytes.js')).base58.decode(
			String(
				A.view(space(cast.hostile).document, beforeBanHeads).epochs[
					Object.keys(A.view(space(cast.hostile).document, beforeBanHeads).epochs).find((k) =>
						general(cast.hostile).id.endsWith(k)
					)!
				]
			)
		);
		await forge<ChannelDoc>(
			cast.hostile.client,
			space(cast.hostile),
			{ channel: general(cast.hostile), context: beforeBanHeads, epoch: oldEpoch },
			(d) => {
				d.buckets['late'] = {
					'late.0': {
						author: atom(userOf(cast.hostile)),
						text: new A.ImmutableString('back-dated spam'),
						createdAt: 1
					}
				};
			}
		);
		await deliver(cast.hostile, cast.owner, spaceId);
		await deliver(cast.hostile, cast.member, spaceId);
		for (const p of [cast.owner, cast.member]) {
			expect(general(p).messages.map((m) => m.text)).toContain('before the ban');
			expect(general(p).messages.map((m) => m.text)).not.toContain('back-dated spam');
		}

		// what is said after the ban is sealed under a new key the banned member never gets
		await general(cast.owner).send('after the ban');
		await deliver(cast.owner, cast.hostile, spaceId);
		await deliver(cast.owner, cast.member, spaceId);
		expect(general(cast.member).messages.map((m) => m.text)).toContain('after the ban');
		expect(general(cast.hostile).messages.map((m) => m.text)).toContain('before the ban');
		expect(general(cast.hostile).messages.map((m) => m.text)).not.toContain('after the ban');
	});

	it('✓ a removal whose author never rotated the keys is completed by another member', async () => {
		const late = await personas('late');
		await space(cast.owner).addMember(await late.late.client.memberCard());
		await syncAll([cast.owner, cast.admin, cast.member, late.late], spaceId);
		const spaceKey = (await import('../../src/lib/util/bytes.js')).base58.encode(
			space(cast.owner).idBytes
		);
		const epochBefore = String(space(cast.owner).document.epochs[spaceKey]);
		// the admin kicks `late` with a hand-written removal and no rotation; only the owner gets it
		await forge<SpaceDoc>(
			cast.admin.client,
			space(cast.admin),
			{ into: space(cast.owner) },
			(d) => {
				delete d.members[userOf(late.late)];
				d.removals['rm_manual'] = {
					user: atom(userOf(late.late)),
					kind: atom('kick'),
					by: atom(userOf(cast.admin)),
					at: Date.now(),
					cutoffs: {}
				};
			}
		);
		await space(cast.owner).settled();
		expect(space(cast.owner).members.some((m) => m.user === userOf(late.late))).toBe(false);
		expect(String(space(cast.owner).document.epochs[spaceKey])).not.toBe(epochBefore);
		await general(cast.owner).send('kicked cannot read this');
		await deliver(cast.owner, late.late, spaceId);
		expect(space(late.late).isMember).toBe(false);
		expect(general(late.late).messages.map((m) => m.text)).not.toContain('kicked cannot read this');
		await shutdown([late.late]);
	});
});

export type { ChannelId };
