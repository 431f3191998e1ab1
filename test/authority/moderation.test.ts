/**
 * Story: a moderator keeps a channel tidy — deletes someone else's message, bans a spammer along
 * with their messages, manages nicknames; members edit and delete only their own words.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { personas, shutdown, syncAll, userOf } from '../support/personas.js';

describe('moderation', async () => {
	const cast = await personas('owner', 'mod', 'member', 'spammer');
	const people = Object.values(cast);
	afterAll(() => shutdown(people));
	const space = await cast.owner.client.createSpace({ name: 'Forum' });
	for (const p of [cast.mod, cast.member, cast.spammer])
		await space.addMember(await p.client.memberCard());
	const role = await space.createRole({
		name: 'Mod',
		permissions: ['MANAGE_MESSAGES', 'BAN_MEMBERS', 'KICK_MEMBERS', 'MANAGE_NICKNAMES']
	});
	await space.assignRole(userOf(cast.mod), role.id);
	await syncAll(people, space.id);
	const channel = (name: keyof typeof cast) => cast[name].client.space(space.id)!.channels[0]!;

	it("✓ members edit and delete their own messages, not others'", async () => {
		const mine = await channel('member').send('tpyo');
		await channel('member').edit(mine.id, 'typo fixed');
		await syncAll(people, space.id);
		expect(channel('owner').messages.find((m) => m.id === mine.id)!.text).toBe('typo fixed');
		await expect(channel('spammer').edit(mine.id, 'hijacked')).rejects.toMatchObject({
			code: 'not-authorized'
		});
		await expect(channel('spammer').delete(mine.id)).rejects.toMatchObject({
			code: 'not-authorized'
		});
		await channel('member').delete(mine.id);
		await syncAll(people, space.id);
		expect(channel('owner').messages.some((m) => m.id === mine.id)).toBe(false);
	});

	it("✓ a moderator deletes anyone's message", async () => {
		const rude = await channel('member').send('something rude');
		await syncAll(people, space.id);
		await channel('mod').delete(rude.id);
		await syncAll(people, space.id);
		for (const p of people)
			expect(channel(p.name as keyof typeof cast).messages.some((m) => m.id === rude.id)).toBe(
				false
			);
	});

	it("✓ a ban can take the banned member's messages with it", async () => {
		await channel('spammer').send('buy cheap watches');
		await channel('spammer').send('really cheap');
		await channel('member').send('ugh, spam');
		await syncAll(people, space.id);
		await cast.mod.client
			.space(space.id)!
			.ban(userOf(cast.spammer), { reason: 'spam', deleteMessages: true });
		await syncAll(people, space.id);
		for (const p of [cast.owner, cast.mod, cast.member]) {
			const texts = channel(p.name as keyof typeof cast).messages.map((m) => m.text);
			expect(texts).toContain('ugh, spam');
			expect(texts).not.toContain('buy cheap watches');
			expect(cast[p.name as keyof typeof cast].client.space(space.id)!.bans[0]).toMatchObject({
				user: userOf(cast.spammer),
				reason: 'spam'
			});
		}
		await cast.owner.client.space(space.id)!.unban(userOf(cast.spammer));
		await syncAll(people, space.id);
		expect(space.bans).toEqual([]);
		expect(space.members.some((m) => m.user === userOf(cast.spammer))).toBe(false); // unbanned, not re-admitted
	});

	it("✓ nicknames: one's own with CHANGE_NICKNAME, others' with MANAGE_NICKNAMES, unique per space", async () => {
		await cast.member.client.space(space.id)!.setNickname('Mo');
		await syncAll(people, space.id);
		await expect(cast.owner.client.space(space.id)!.setNickname('mo')).rejects.toMatchObject({
			code: 'invalid-argument'
		});
		await expect(
			cast.member.client.space(space.id)!.setNickname('Boss', userOf(cast.mod))
		).rejects.toMatchObject({ code: 'not-authorized' });
		await cast.mod.client.space(space.id)!.setNickname('Momo', userOf(cast.member));
		await syncAll(people, space.id);
		expect(space.members.find((m) => m.user === userOf(cast.member))!.nickname).toBe('Momo');
	});
});
