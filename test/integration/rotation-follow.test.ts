/**
 * Story: Ada fears her recovery phrase leaked — and the thief did restore it on a device of their own
 * and put it on Ada's card in the Book club. Ada rotates her identity key from her laptop and keeps
 * her phone, which she holds: the phone follows the rotation (no new link), writes and creates spaces
 * as Ada under the new key, while the thief's device is revoked and its writes are refused. A
 * hand-over of a fork the thief made from the old key, planted for the phone before, is not followed:
 * no space shows that chain.
 *
 * Then recovery: Ada had made a friend-recovery kit with Ben, Cy and Dee before rotating. Two of them
 * approve it on a new machine: refused with `identity-rotated` (the kit holds the rotated-away key),
 * and Ada's new identity is untouched. After she makes a new kit, two approvals restore the new
 * identity — same user id, the Book club back, writes accepted. And a space Ada joins by invite
 * after the rotation takes her with her new key.
 *
 * Everything goes through a real sync server on loopback.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Charter, isCharterError, type Space, type UserId } from '../../src/lib/index.js';
import { startSyncServerProcess, type SyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';
import { decodeUserCard } from '../../src/lib/identity/certificates.js';
import { identityOf } from '../support/hostile.js';
import * as A from '@automerge/automerge';
import type { DocHandle } from '@automerge/automerge-repo';
import { accountEnvelopeId } from '../../src/lib/client/FriendRecovery.js';
import { userKey } from '../../src/lib/identity/ids.js';
import { bytesWrittenBy, type EnvelopeDoc } from '../../src/lib/sync/envelope.js';
import { LOCKBOX_MAGIC, parseLockbox } from '../../src/lib/encryption/lockbox.js';
import { parseShareDocument } from '../../src/lib/identity/friend-recovery.js';
import { bytesEqual } from '../../src/lib/util/bytes.js';
import { MemorySecretStore } from '../../src/lib/identity/secret-store.js';
import { sealFollow } from '../../src/lib/identity/rotation-follow.js';
import { entryKey } from '../../src/lib/encryption/entry.js';
import { hash } from '../../src/lib/crypto/primitives.js';

let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
	for (const c of cleanup.reverse()) await c().catch(() => undefined);
	cleanup = [];
});

async function serverAndClients() {
	const server: SyncServerProcess = await startSyncServerProcess();
	cleanup.push(() => server.stop());
	const open = async (deviceName: string) => {
		const client = await Charter.open({ inMemory: true, syncServers: [server.wsUrl], deviceName });
		cleanup.push(() => client.close());
		return client;
	};
	return { server, open };
}

/** A user's card as `space` (someone's copy) holds it. */
function cardOf(space: Space, user: UserId) {
	const bytes = space.document.members?.[user]?.card;
	return bytes instanceof Uint8Array ? decodeUserCard(bytes) : undefined;
}

/** How many friend-recovery share lockboxes an account envelope holds. */
function shareLockboxes(handle: DocHandle<EnvelopeDoc>): number {
	return bytesWrittenBy(A.getAllChanges(handle.doc())).filter((bytes) => {
		if (!bytesEqual(bytes.subarray(0, 3), LOCKBOX_MAGIC)) return false;
		try {
			return !!parseShareDocument(parseLockbox(bytes).header.document);
		} catch {
			return false;
		}
	}).length;
}

const codeOf = (e: unknown) => (isCharterError(e) ? e.code : String(e));

describe('identity rotation: kept devices follow', () => {
	it('✓ Ada keeps her phone: it follows the rotation and acts as Ada under the new key; the thief’s device is revoked', async () => {
		const { open } = await serverAndClients();
		const laptop = await open('laptop');
		const { phrase, userId: ada } = await laptop.createIdentity();
		const ben = await open('ben');
		await ben.createIdentity();
		const club = await laptop.createSpace({ name: 'Book club' });
		await club.addMember(await ben.memberCard());
		await club.channels[0]!.send('first chapter tonight');
		// Ada links her phone; the thief restores the leaked phrase on a device of theirs
		const phone = await open('phone');
		const { code, linked } = await laptop.linkDevice();
		await phone.acceptDeviceLink(code);
		await linked;
		const thief = await open('thief');
		await thief.restoreIdentity(phrase);
		for (const device of [phone, thief]) {
			await eventually(() => device.spaces[0]?.channels[0], `the club on the ${device}`, 20_000);
			await device.spaces[0]!.ensureDeviceRegistered();
		}
		const benClub = await ben.openSpace(club.id);
		const phoneId = phone.identity!.deviceId;
		const thiefId = thief.identity!.deviceId;
		await eventually(
			() => cardOf(club, ada)?.devices.length === 3 && cardOf(benClub, ada)?.devices.length === 3,
			'both devices on Ada’s card, on her laptop and on Ben’s copy',
			20_000
		);
		// ✓ a device that is not one of Ada's live devices cannot be kept (nothing rotates)
		const refused = await laptop
			.rotateIdentity({ keepDevices: ['device_nobody' as never] })
			.then(() => 'rotated', codeOf);
		expect(refused).toBe('invalid-argument');
		expect(cardOf(club, ada)!.rotations).toHaveLength(0);
		// the thief forks the old key in secret and plants a hand-over of the fork for the phone
		const stolen = await identityOf(thief);
		const phoneCert = (await identityOf(phone)).certificate;
		const fork = (await stolen.rotate(new MemorySecretStore(), [phoneCert])).kept[0]!;
		const planted = await sealFollow(phoneCert.deviceKey, fork.handOver);
		const thiefAccount = await thief.wire.open(accountEnvelopeId(userKey(ada)));
		await thief.wire.append(thiefAccount, [{ key: entryKey(hash(planted)), bytes: planted }]);
		const phoneAccount = await phone.wire.open(accountEnvelopeId(userKey(ada)));
		await eventually(
			() => bytesWrittenBy(A.getAllChanges(phoneAccount.doc())).some((b) => bytesEqual(b, planted)),
			'the planted hand-over to reach the phone',
			20_000
		);
		await club.channels[0]!.send('before rotating');
		await eventually(
			() => phone.space(club.id)!.channels[0]!.messages.some((m) => m.text === 'before rotating'),
			'the phone to read on'
		);
		// ✓ no space shows the fork's chain: the phone does not follow it
		expect((await identityOf(phone)).rotations).toHaveLength(0);

		await laptop.rotateIdentity({ keepDevices: [phoneId] });
		await club.channels[0]!.send('new key, same me');
		// ✓ Ben's copy: the new key's card lists the laptop and the phone, not the thief's device
		await eventually(
			() => cardOf(benClub, ada)?.rotations.length === 1,
			'Ben to hold the rotated card',
			20_000
		);
		const card = cardOf(benClub, ada)!;
		expect(card.devices.map((d) => d.device).sort()).toEqual(
			[laptop.identity!.deviceId, phoneId].sort()
		);
		expect(benClub.state!.userOfDevice(card.devices[0]!.deviceKey)).toBe(ada);
		// ✓ the phone follows without a new link: it reads what was sealed to the new key, and writes
		const phoneClub = phone.space(club.id)!;
		await eventually(
			() => phoneClub.channels[0]!.messages.some((m) => m.text === 'new key, same me'),
			'the phone to read the message sealed after the rotation',
			20_000
		);
		expect(phone.identity!.userId).toBe(ada);
		expect(phone.identity!.deviceId).toBe(phoneId);
		// ✓ it followed Ada's rotation, not the thief's fork: it holds her new key
		const followed = await identityOf(phone);
		expect(followed.identityKey).toEqual((await identityOf(laptop)).identityKey);
		expect(followed.identityKey).not.toEqual(fork.certificate.userKey);
		await phoneClub.channels[0]!.send('from my phone, still me');
		await eventually(
			() =>
				benClub.channels[0]!.messages.some(
					(m) => m.text === 'from my phone, still me' && m.author === ada
				),
			'Ben to read the phone’s message, written by Ada',
			20_000
		);
		// ✓ the phone signs with the new identity key: a space it creates is Ada's for Ben
		const notes = await phone.createSpace({ name: 'Phone notes' });
		await notes.addMember(await ben.memberCard());
		const benNotes = await ben.openSpace(notes.id);
		await eventually(
			() => benNotes.ready && benNotes.owner === ada,
			'Ben to see Ada own it',
			20_000
		);
		expect(cardOf(benNotes, ada)!.rotations).toHaveLength(1);
		// ✓ the phone's account is the new one: it lists the club and the laptop
		expect(phone.spaces.map((s) => s.id)).toContain(club.id);
		await eventually(
			() => phone.devices.some((d) => d.deviceId === laptop.identity!.deviceId),
			'the phone to list the laptop'
		);
		// ✓ the thief's device followed nothing: what it writes now is refused by Ben
		const thiefClub = thief.space(club.id)!;
		await thiefClub.channels[0]!.send('send me your passwords').catch(() => undefined);
		await phoneClub.channels[0]!.send('after the thief');
		await eventually(
			() => benClub.channels[0]!.messages.some((m) => m.text === 'after the thief'),
			'Ben to catch up'
		);
		expect(benClub.state!.userOfDevice((await identityOf(thief)).deviceKey)).toBeUndefined();
		expect(cardOf(benClub, ada)!.devices.map((d) => d.device)).not.toContain(thiefId);
		expect(benClub.document.members?.[ada]?.revokedDevices?.[thiefId]).toBe(true);
		expect(benClub.channels[0]!.messages.map((m) => m.text)).not.toContain(
			'send me your passwords'
		);
	}, 120_000);

	it('✓ by default no device follows: the phone is revoked and must be linked again', async () => {
		const { open } = await serverAndClients();
		const laptop = await open('laptop');
		const { userId: ada } = await laptop.createIdentity();
		const ben = await open('ben');
		await ben.createIdentity();
		const club = await laptop.createSpace({ name: 'Book club' });
		await club.addMember(await ben.memberCard());
		const phone = await open('phone');
		const { code, linked } = await laptop.linkDevice();
		await phone.acceptDeviceLink(code);
		await linked;
		await eventually(() => phone.spaces[0]?.channels[0], 'the club on the phone', 20_000);
		await phone.spaces[0]!.ensureDeviceRegistered();
		await eventually(
			() => cardOf(club, ada)?.devices.length === 2,
			'the phone on Ada’s card, on her laptop',
			20_000
		);
		await laptop.rotateIdentity();
		const benClub = await ben.openSpace(club.id);
		await eventually(
			() => cardOf(benClub, ada)?.rotations.length === 1,
			'Ben to hold the rotated card',
			20_000
		);
		// ✓ only the laptop on the new card, the phone revoked for good
		expect(cardOf(benClub, ada)!.devices.map((d) => d.device)).toEqual([laptop.identity!.deviceId]);
		expect(benClub.document.members?.[ada]?.revokedDevices?.[phone.identity!.deviceId]).toBe(true);
	}, 120_000);
});

describe('identity rotation: friend recovery and invites after it', () => {
	it('✓ a kit made before the rotation is refused (identity-rotated) and Ada is untouched; a new kit restores the new identity', async () => {
		const { open } = await serverAndClients();
		const laptop = await open('ada-laptop');
		const { userId: ada } = await laptop.createIdentity();
		const [ben, cy, dee] = await Promise.all(['ben', 'cy', 'dee'].map(open));
		for (const friend of [ben!, cy!, dee!]) await friend.createIdentity();
		const club = await laptop.createSpace({ name: 'Book club' });
		for (const friend of [ben!, cy!, dee!]) await club.addMember(await friend.memberCard());
		await club.channels[0]!.send('first chapter tonight');
		const friends = [ben!, cy!, dee!].map((c) => c.identity!.userId);
		expect((await laptop.setUpFriendRecovery({ friends, threshold: 2 })).stored).toBe(true);
		await laptop.rotateIdentity();
		await club.channels[0]!.send('rotated');
		const clubs = await Promise.all([ben!, cy!].map((f) => f.openSpace(club.id)));
		for (const c of clubs)
			await eventually(
				() => cardOf(c, ada)?.rotations.length === 1,
				'the friends to hold the rotated card',
				20_000
			);

		// the old kit: two friends approve it on a new machine
		const stranger = await open('ada-new');
		const first = await stranger.requestFriendRecovery();
		await ben!.approveFriendRecovery(first.code, ada);
		await cy!.approveFriendRecovery(first.code, ada);
		// ✓ refused with a typed error: the kit holds the key rotated away
		expect(await first.restored.then(() => 'restored', codeOf)).toBe('identity-rotated');
		expect(stranger.identity).toBeUndefined();
		// ✓ Ada's new identity is untouched: she writes, her friends read it as hers
		await club.channels[0]!.send('still here');
		await eventually(
			() =>
				clubs[0]!.channels[0]?.messages.some((m) => m.text === 'still here' && m.author === ada),
			'Ben to read it, written by Ada',
			20_000
		);
		expect(cardOf(clubs[0]!, ada)!.devices.map((d) => d.device)).toEqual([
			laptop.identity!.deviceId
		]);

		// a new kit, made after the rotation
		const again = await laptop.setUpFriendRecovery({ friends, threshold: 2 });
		expect(again.stored).toBe(true);
		const fresh = await open('ada-fresh');
		// (the friends' devices sync Ada's account: they hold the new shares, by her new key)
		for (const friend of [ben!, dee!]) {
			const account = await friend.wire.open(accountEnvelopeId(userKey(ada)));
			await eventually(
				() => shareLockboxes(account) === 2 * friends.length,
				'the new shares to reach the friend',
				20_000
			);
		}
		const second = await fresh.requestFriendRecovery();
		await dee!.approveFriendRecovery(second.code, ada);
		await ben!.approveFriendRecovery(second.code, ada);
		// ✓ the new identity comes back: same user id, the club and its history, writes accepted
		expect((await second.restored).userId).toBe(ada);
		await eventually(() => fresh.space(club.id)?.ready, 'the club to come back', 20_000);
		const back = fresh.space(club.id)!;
		await eventually(
			() => back.channels[0]?.messages.some((m) => m.text === 'still here'),
			'the history, before and after the rotation',
			20_000
		);
		expect(back.channels[0]!.messages.map((m) => m.text)).toEqual([
			'first chapter tonight',
			'rotated',
			'still here'
		]);
		await back.ensureDeviceRegistered();
		await back.channels[0]!.send('back, thanks to my friends');
		await eventually(
			() =>
				clubs[0]!.channels[0]!.messages.some(
					(m) => m.text === 'back, thanks to my friends' && m.author === ada
				),
			'Ben to read it, written by Ada',
			20_000
		);
		// ✓ the recovered device is certified by the new key, on the rotated card
		const card = cardOf(clubs[0]!, ada)!;
		expect(card.rotations).toHaveLength(1);
		expect(card.devices.map((d) => d.device)).toContain(fresh.identity!.deviceId);
	}, 180_000);

	it('✓ an invite accepted after the rotation admits Ada with her new key', async () => {
		const { open } = await serverAndClients();
		const laptop = await open('ada-laptop');
		const { userId: ada } = await laptop.createIdentity();
		const ben = await open('ben');
		await ben.createIdentity();
		const studio = await ben.createSpace({ name: 'Studio' });
		const { link } = await studio.createInvite();
		await laptop.rotateIdentity();
		const joined = await laptop.joinSpace(link);
		await joined.channels[0]!.send('joined after rotating');
		await eventually(
			() =>
				studio.channels[0]!.messages.some(
					(m) => m.text === 'joined after rotating' && m.author === ada
				),
			'Ben to read it, written by Ada',
			20_000
		);
		// ✓ Ben holds the card of the new key, with its chain
		expect(cardOf(studio, ada)!.rotations).toHaveLength(1);
		expect(studio.state!.isMember(ada)).toBe(true);
	}, 120_000);
});
