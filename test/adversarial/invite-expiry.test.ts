/**
 * Expiry by the joiner's clock (issue 12, case 5). A newcomer whose clock is an hour behind holds a
 * link that expired; the space has been written since, by someone who could revoke the invite. The
 * rules do not take the joiner's clock alone: a join whose causal past holds a change that the
 * invite's creator (or MANAGE_SPACE) wrote after the expiry, by its own clock, is refused — by the
 * joiner's own client (typed `invite-expired`) and, when the client is bypassed, by every peer.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Space, SpaceId } from '../../src/lib/index.js';
import { atom, type SpaceDoc } from '../../src/lib/authority/schema.js';
import { verifyUserCard } from '../../src/lib/identity/certificates.js';
import { inviteKeys, parseInviteLink, signInviteProof } from '../../src/lib/authority/invites.js';
import { personas, shutdown, syncAll, userOf, type Persona } from '../support/personas.js';
import { forge, identityOf } from '../support/hostile.js';
import { joinFrom } from '../support/joining.js';
import { eventually } from '../support/wait.js';

const HOUR = 3_600_000;
let people: Persona[] = [];
afterEach(async () => {
	vi.restoreAllMocks();
	await shutdown(people);
	people = [];
});

/** Runs `fn` with this process's clock `behind` milliseconds slow (the joiner's device). */
async function withSlowClock<T>(behind: number, fn: () => Promise<T>): Promise<T> {
	const now = Date.now.bind(Date);
	const spy = vi.spyOn(Date, 'now').mockImplementation(() => now() - behind);
	try {
		return await fn();
	} finally {
		spy.mockRestore();
	}
}

async function setup() {
	const { owner, dave, newcomer } = await personas('owner', 'dave', 'newcomer');
	people = [owner, dave, newcomer];
	const guild = await owner.client.createSpace({ name: 'Until noon' });
	await guild.addMember(await dave.client.memberCard());
	const expiresAt = Date.now() + 1500;
	const invite = await guild.createInvite({ expiresAt });
	// the invite expires; then its creator writes in the space (its change times are in seconds)
	await eventually(() => Date.now() > expiresAt + 1000, 'the invite to expire', 10_000);
	await guild.rename('After noon');
	await syncAll([owner, dave], guild.id);
	const id: SpaceId = guild.id;
	const space = (p: Persona): Space => p.client.space(id)!;
	return { owner, dave, newcomer, guild, invite, expiresAt, space };
}

describe('invite expiry does not trust the joiner’s clock alone', () => {
	it('✓ a joiner an hour slow who has seen the space written after the expiry is refused, typed', async () => {
		const { owner, newcomer, guild, invite, space } = await setup();
		const code = await withSlowClock(HOUR, () => joinFrom(newcomer, owner, guild, invite.link));
		expect(code).toBe('invite-expired');
		expect(space(owner).members.map((m) => m.user)).not.toContain(userOf(newcomer));
	});

	it('✓ the same back-dated join written past its client is refused by every peer', async () => {
		const { owner, dave, newcomer, guild, invite, expiresAt, space } = await setup();
		// the newcomer reads the space through the invite (a slow clock lets its client try; the
		// attempt is refused, but the invite's keys are now on the newcomer's device)
		await withSlowClock(HOUR, () => joinFrom(newcomer, owner, guild, invite.link));
		const identity = await identityOf(newcomer.client);
		const card = await verifyUserCard(await newcomer.client.memberCard());
		const proof = signInviteProof(
			inviteKeys(parseInviteLink(invite.link).secret),
			guild.idBytes,
			identity.userKey
		);
		const me = userOf(newcomer);
		await forge<SpaceDoc>(newcomer.client, space(owner), { into: space(owner) }, (d) => {
			d.members[me] = {
				card: card.bytes,
				addedAt: expiresAt - HOUR, // what a clock an hour slow writes
				addedBy: atom(me),
				roles: {},
				invite: { id: atom(invite.id), proof }
			};
			d.invites[invite.id]!.uses[me] = true;
		});
		await syncAll([owner, dave], guild.id);
		for (const p of [owner, dave]) {
			expect(space(p).members.map((m) => m.user)).not.toContain(me);
			expect(space(p).rejections.map((r) => r.reason)).toContain(
				'invite expired: the space had moved past its expiry'
			);
		}
		// ✓ the space goes on: the owner writes and invites as before
		await space(owner).rename('Evening');
		await space(owner).channels[0]!.send('still open for invited guests');
		await syncAll([owner, dave], guild.id);
		expect(space(dave).name).toBe('Evening');
	});
});
