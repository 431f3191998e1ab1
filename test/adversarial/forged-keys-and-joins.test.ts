/**
 * Lockboxes from someone not allowed to hand out a key are never used; a join with an expired
 * invite, forged past the client's own check, is refused by every peer.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as A from '@automerge/automerge';
import { personas, deliver, shutdown, syncAll, userOf } from '../support/personas.js';
import { forge, identityOf } from '../support/hostile.js';
import { sealLockbox } from '../../src/lib/encryption/lockbox.js';
import { epochIdOf } from '../../src/lib/encryption/keyring.js';
import { entryHash, entryKey } from '../../src/lib/encryption/entry.js';
import { newKey } from '../../src/lib/crypto/primitives.js';
import { verifyUserCard } from '../../src/lib/identity/certificates.js';
import { inviteKeys, signInviteProof, parseInviteLink } from '../../src/lib/authority/invites.js';
import { channelIdBytes } from '../../src/lib/identity/ids.js';
import { atom, type SpaceDoc } from '../../src/lib/authority/schema.js';

describe('forged keys and joins', async () => {
	const cast = await personas('owner', 'member', 'outsider');
	afterAll(() => shutdown(Object.values(cast)));
	const space = await cast.owner.client.createSpace({ name: 'Guarded' });
	await space.addMember(await cast.member.client.memberCard());
	await syncAll([cast.owner, cast.member], space.id);

	it('✓ a lockbox written by a non-member is never used', async () => {
		const memberCard = await verifyUserCard(await cast.member.client.memberCard());
		const outsider = await identityOf(cast.outsider.client);
		const bogus = newKey();
		const document = channelIdBytes(space.channels[0]!.id);
		const lockbox = await sealLockbox({
			space: space.idBytes,
			document,
			epoch: epochIdOf(bogus),
			epochKey: bogus,
			recipient: memberCard.encryptionKey,
			author: outsider.deviceKey,
			sign: (m) => outsider.signAsDevice(m)
		});
		const memberSpace = cast.member.client.space(space.id)!;
		await cast.member.client.wire.append(memberSpace.envelope, [
			{ key: entryKey(entryHash(lockbox.bytes)), bytes: lockbox.bytes }
		]);
		await memberSpace.settled();
		expect(memberSpace.stats.lockboxesWaiting).toBe(1);
		await space.channels[0]!.send('still readable');
		await deliver(cast.owner, cast.member, space.id);
		expect(memberSpace.channels[0]!.messages.map((m) => m.text)).toEqual(['still readable']);
	});

	it('✓ a join with an expired invite is refused everywhere, even when the client check is skipped', async () => {
		const { link } = await space.createInvite({ expiresAt: Date.now() + 200 });
		await new Promise((r) => setTimeout(r, 300));
		const invite = inviteKeys(parseInviteLink(link).secret);
		const card = await verifyUserCard(await cast.outsider.client.memberCard());
		const outsider = await identityOf(cast.outsider.client);
		const proof = signInviteProof(invite, space.idBytes, outsider.userKey);
		await forge<SpaceDoc>(
			cast.outsider.client,
			space,
			{ into: space, keysFrom: cast.owner.client },
			(d) => {
				d.members[userOf(cast.outsider)] = {
					card: card.bytes,
					addedAt: Date.now(),
					addedBy: atom(userOf(cast.outsider)),
					roles: {},
					invite: { id: atom(invite.id), proof }
				};
				d.invites[invite.id]!.uses[userOf(cast.outsider)] = true;
			}
		);
		await space.settled();
		expect(space.members.map((m) => m.user)).not.toContain(userOf(cast.outsider));
		expect(space.rejections.map((r) => r.reason)).toContain('invite expired');
		expect(A.getHeads(space.document).length).toBeGreaterThan(0);
	});
});
