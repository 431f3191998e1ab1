/**
 * Profiles are signed metadata, not authority: members see each other's display names and avatars;
 * nobody can set someone else's; a forged profile is refused.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { personas, shutdown, syncAll, userOf } from '../support/personas.js';
import { forge, identityOf } from '../support/hostile.js';
import { signProfile } from '../../src/lib/identity/profile.js';
import type { SpaceDoc } from '../../src/lib/authority/schema.js';

describe('profiles', async () => {
	const cast = await personas('ana', 'ben');
	afterAll(() => shutdown(Object.values(cast)));
	const space = await cast.ana.client.createSpace({ name: 'Club' });
	await space.addMember(await cast.ben.client.memberCard());
	await syncAll(Object.values(cast), space.id);

	it('✓ a user with a profile creates a space and writes in it at once, while the profile is still being sealed', async () => {
		// the space's first change by its owner (her profile) was still unsealed when the message named
		// the space's heads as its context: the send waited for a change nobody knew, and failed
		const [cy] = Object.values(await personas('cy'));
		try {
			await cy!.client.setProfile({ displayName: 'Cy' });
			const own = await cy!.client.createSpace({ name: 'Right away' });
			await own.channels[0]!.send('first words');
			await own.rename('Renamed straight after');
			await own.channels[0]!.send('second words');
			await own.settled();
			expect(own.channels[0]!.messages.map((m) => m.text)).toEqual(['first words', 'second words']);
			expect(own.profile(userOf(cy!))?.displayName).toBe('Cy');
		} finally {
			await shutdown([cy!]);
		}
	});

	it('✓ a member sets a display name and avatar that co-members see, verified', async () => {
		const avatar = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
		await cast.ben.client.setProfile({ displayName: 'Ben the Baker', avatar });
		await syncAll(Object.values(cast), space.id);
		const seen = space.profile(userOf(cast.ben))!;
		expect(seen.displayName).toBe('Ben the Baker');
		expect(seen.avatar).toEqual(avatar);
		expect(space.members.find((m) => m.user === userOf(cast.ben))!.displayName).toBe(
			'Ben the Baker'
		);
		await expect(cast.ben.client.setProfile({ displayName: '' })).rejects.toMatchObject({
			code: 'invalid-argument'
		});
		await expect(
			cast.ben.client.setProfile({ displayName: 'x', avatar: new Uint8Array(70_000) })
		).rejects.toMatchObject({ code: 'too-large' });
	});

	it("✓ nobody sets someone else's profile", async () => {
		// Ana signs a profile with her own key and tries to put it on Ben's record
		const ana = await identityOf(cast.ana.client);
		const fake = await signProfile(ana.userKey, (m) => ana.signAsIdentity(m), {
			displayName: 'Ben is silly'
		});
		await forge<SpaceDoc>(cast.ana.client, space, {}, (d) => {
			d.members[userOf(cast.ben)]!.profile = fake.bytes;
		});
		await space.settled();
		expect(space.profile(userOf(cast.ben))!.displayName).toBe('Ben the Baker');
		expect(space.rejections.map((r) => r.reason)).toContain('only for oneself');
	});
});
