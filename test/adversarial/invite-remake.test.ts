/**
 * Re-making an invite, and deciding channel entries again when the space changes (issue 12, case
 * 4). A plain member (CREATE_INVITE is an @everyone default) re-creates a used-up single-use invite
 * with fresh counters, signed with her own device key: every peer refuses it, and the old link
 * admits nobody more. Two newcomers who joined concurrently on the last use each wrote a message; two
 * members receive them in opposite orders and a device restored from the phrase receives everything
 * at once: all three show the same message list, because a channel entry accepted under a join that
 * later lost is decided again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Charter, type Space, type SpaceId } from '../../src/lib/index.js';
import { atom, type SpaceDoc } from '../../src/lib/authority/schema.js';
import { deliver, personas, shutdown, syncAll, userOf, type Persona } from '../support/personas.js';
import { forge } from '../support/hostile.js';
import { joinFrom } from '../support/joining.js';

let people: Persona[] = [];
afterEach(async () => {
	await shutdown(people);
	people = [];
});

async function setup() {
	const ownerClient = await Charter.open({ inMemory: true, deviceName: 'owner' });
	const { phrase } = await ownerClient.createIdentity();
	const owner: Persona = { name: 'owner', client: ownerClient };
	const cast = await personas('dave', 'mallory', 'bob', 'carol', 'erin');
	people = [owner, ...Object.values(cast)];
	const guild = await owner.client.createSpace({ name: 'Seats' });
	for (const p of [cast.dave, cast.mallory]) await guild.addMember(await p.client.memberCard());
	await guild.channels[0]!.send('welcome');
	const invite = await guild.createInvite({ maxUses: 1 });
	await syncAll([owner, cast.dave, cast.mallory], guild.id);
	const id: SpaceId = guild.id;
	const space = (p: Persona): Space => p.client.space(id)!;
	const texts = (p: Persona) => space(p).channels[0]!.messages.map((m) => m.text);
	return { owner, phrase, ...cast, guild, id, invite, space, texts };
}

describe('an invite exists once', () => {
	it('✓ a member re-making a used-up invite is refused everywhere; the old link admits nobody more', async () => {
		const { owner, dave, mallory, bob, erin, guild, id, invite, space } = await setup();
		expect(await joinFrom(bob, owner, guild, invite.link)).toBe('joined');
		await deliver(bob, owner, id);
		await syncAll([owner, dave, mallory], id);
		expect(space(mallory).invites.find((i) => i.id === invite.id)!.uses).toBe(1);

		// mallory re-creates the record with fresh counters, signed with her own device key
		const record = space(mallory).document.invites[invite.id]!;
		await forge<SpaceDoc>(mallory.client, space(mallory), {}, (d) => {
			d.invites[invite.id] = {
				key: record.key,
				encryptionKey: record.encryptionKey,
				roles: {},
				maxUses: 1,
				expiresAt: 0,
				createdBy: atom(userOf(mallory)),
				createdAt: Date.now(),
				uses: {}
			};
		});
		await syncAll([owner, dave, mallory], id);
		for (const p of [owner, dave]) {
			// ✓ refused, and the invite is still the used-up one
			expect(space(p).rejections.map((r) => r.reason)).toContain('that invite already exists');
			expect(space(p).invites.find((i) => i.id === invite.id)).toMatchObject({
				uses: 1,
				active: false
			});
		}
		// ✓ another identity with the old link is refused
		expect(await joinFrom(erin, owner, guild, invite.link)).toBe('invite-used-up');
		expect(space(owner).members.map((m) => m.user)).not.toContain(userOf(erin));
		// ✓ the owner still invites and admits as before
		const next = await space(owner).createInvite({ maxUses: 1 });
		const fresh = await personas('frank');
		people.push(fresh.frank);
		expect(await joinFrom(fresh.frank, owner, guild, next.link)).toBe('joined');
	});

	it('✓ concurrent joins on the last use: whatever order their messages arrive in, every peer and a restored device show the same list', async () => {
		const { owner, phrase, dave, bob, carol, guild, id, invite, space, texts } = await setup();
		// bob and carol join at the same point, neither seeing the other, and each says hello
		expect(await joinFrom(bob, owner, guild, invite.link)).toBe('joined');
		expect(await joinFrom(carol, owner, guild, invite.link)).toBe('joined');
		await space(bob).channels[0]!.send('bob here');
		await space(carol).channels[0]!.send('carol here');

		// the owner hears bob first, dave hears carol first
		await deliver(bob, owner, id);
		expect(texts(owner)).toEqual(['welcome', 'bob here']);
		await deliver(carol, dave, id);
		expect(texts(dave)).toEqual(['welcome', 'carol here']);
		await deliver(carol, owner, id);
		await deliver(bob, dave, id);
		await syncAll([owner, dave], id);

		// ✓ exactly one of the two joins stands, the same one on both, and so does exactly its message
		const members = (p: Persona) =>
			space(p)
				.members.map((m) => m.user)
				.filter((u) => u === userOf(bob) || u === userOf(carol));
		expect(members(owner)).toHaveLength(1);
		expect(members(dave)).toEqual(members(owner));
		const winner = members(owner)[0] === userOf(bob) ? 'bob here' : 'carol here';
		expect(texts(owner)).toEqual(['welcome', winner]);
		expect(texts(dave)).toEqual(texts(owner));

		// ✓ a device restored from the phrase, receiving everything at once, shows the same
		const device = await Charter.open({ inMemory: true });
		await device.restoreIdentity(phrase);
		const restored: Persona = { name: 'owner-2', client: device };
		people.push(restored);
		await deliver(dave, restored, id);
		expect(texts(restored)).toEqual(texts(owner));
		expect(members(restored)).toEqual(members(owner));
	});
});
