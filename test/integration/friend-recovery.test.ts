/**
 * Story: Dana has no paper copy of her phrase. She picks Ana, Ben and Cy, three members of her
 * garden space, as recovery friends. When her laptop is gone, a new machine shows a request code; her
 * friends approve it and the identity comes back — same user id, same spaces — while fewer friends,
 * or Eve (a member who is no friend), get nowhere, and the sync server only ever holds ciphertext.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as A from '@automerge/automerge';
import { Charter, recoveryRequestCheck, type UserId } from '../../src/lib/index.js';
import { startSyncServerProcess, type SyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';
import { rootSecretsFromPhrase } from '../../src/lib/identity/phrase.js';
import { bytesWrittenBy } from '../../src/lib/sync/envelope.js';
import { LOCKBOX_MAGIC, parseLockbox, sealLockbox } from '../../src/lib/encryption/lockbox.js';
import { entryKey } from '../../src/lib/encryption/entry.js';
import { cryptoProvider, hash } from '../../src/lib/crypto/primitives.js';
import { bytesEqual, randomBytes } from '../../src/lib/util/bytes.js';
import { accountEnvelopeId } from '../../src/lib/client/FriendRecovery.js';
import { userKey } from '../../src/lib/identity/ids.js';
import {
	parseRecoveryRequest,
	parseShareDocument,
	requestRendezvousId
} from '../../src/lib/identity/friend-recovery.js';
import { requestEnvelopeId } from '../../src/lib/client/FriendRecovery.js';

let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
	for (const c of cleanup.reverse()) await c().catch(() => undefined);
	cleanup = [];
});

async function setup(threshold: number) {
	const server: SyncServerProcess = await startSyncServerProcess();
	cleanup.push(() => server.stop());
	const open = async (deviceName: string) => {
		const client = await Charter.open({ inMemory: true, syncServers: [server.wsUrl], deviceName });
		cleanup.push(() => client.close());
		return client;
	};
	const laptop = await open('dana-laptop');
	const { phrase, userId: dana } = await laptop.createIdentity();
	const [ana, ben, cy, eve] = await Promise.all(['ana', 'ben', 'cy', 'eve'].map(open));
	for (const friend of [ana!, ben!, cy!, eve!]) await friend.createIdentity();
	const garden = await laptop.createSpace({ name: "Dana's garden" });
	for (const member of [ana!, ben!, cy!, eve!]) await garden.addMember(await member.memberCard());
	await garden.channels[0]!.send('tomatoes planted');
	const friends = [ana!, ben!, cy!].map((c) => c.identity!.userId);
	const setUp = await laptop.setUpFriendRecovery({ friends, threshold });
	// Ana reads the garden through the sync server: it holds the space before the laptop goes
	const anaGarden = await ana!.openSpace(garden.id);
	await eventually(() => anaGarden.channels[0]?.messages.length === 1, 'Ana to read the garden');
	await laptop.close(); // the laptop is gone
	const fresh = await open('dana-new');
	return {
		server,
		open,
		phrase,
		dana,
		ana: ana!,
		ben: ben!,
		cy: cy!,
		eve: eve!,
		garden,
		fresh,
		setUp,
		anaGarden
	};
}

describe('trusted-friend recovery', () => {
	it('✓ two of three friends restore Dana on a new machine: same user id, her spaces, her writes accepted', async () => {
		const { dana, ana, ben, fresh, setUp, anaGarden } = await setup(2);
		expect(setUp).toMatchObject({ threshold: 2, stored: true });
		expect(setUp.friends).toHaveLength(3);
		const progress: number[] = [];
		const request = await fresh.requestFriendRecovery({
			onProgress: (approvals) => progress.push(approvals)
		});
		expect(request.code.startsWith('charter-recover:')).toBe(true);
		// the friend's screen shows the digits the new machine shows
		expect(recoveryRequestCheck(request.code)).toBe(request.check);

		await ana.approveFriendRecovery(request.code, dana);
		await eventually(() => progress.includes(1), 'the new machine to count the first approval');
		expect(fresh.identity).toBeUndefined();
		await ben.approveFriendRecovery(request.code, dana);
		const restored = await request.restored;

		expect(restored.userId).toBe(dana);
		expect(fresh.identity?.userId).toBe(dana);
		await eventually(() => fresh.spaces[0]?.ready, 'the garden to come back', 20_000);
		const garden = fresh.spaces[0]!;
		expect(garden.name).toBe("Dana's garden");
		await eventually(() => garden.channels[0]?.messages.length === 1, 'the history');
		expect(fresh.friendRecovery).toMatchObject({ threshold: 2 });
		await garden.channels[0]!.send('back, thanks to my friends');
		await eventually(
			() =>
				anaGarden.channels[0]!.messages.some(
					(m) => m.text === 'back, thanks to my friends' && m.author === dana
				),
			'Ana to see it, authored by Dana'
		);
	});

	it('✓ fewer friends than the threshold learn nothing and restore nothing', async () => {
		const { dana, phrase, ana, ben, eve, fresh } = await setup(3);
		const progress: [number, number][] = [];
		const request = await fresh.requestFriendRecovery({
			onProgress: (approvals, needed) => progress.push([approvals, needed])
		});
		await ana.approveFriendRecovery(request.code, dana);
		await ben.approveFriendRecovery(request.code, dana);
		await eventually(
			() => progress.some(([a, n]) => a === 2 && n === 3),
			'both approvals to arrive (2 of 3)'
		);
		request.cancel();
		await expect(request.restored).rejects.toMatchObject({ code: 'too-few-approvals' });
		expect(fresh.identity).toBeUndefined();

		// what a relay holds: Dana's account envelope with the shares, and the approvals — read by
		// Eve, who has no key for any of it: neither the identity seed nor an encryption key is there
		const root = await rootSecretsFromPhrase(phrase);
		const secrets = [root.identitySeed, root.encryptionSecret(0)];
		const held: Uint8Array[] = [];
		for (const id of [
			accountEnvelopeId(userKey(dana)),
			requestEnvelopeId(parseRecoveryRequest(request.code).ephemeral)
		]) {
			const handle = await eve.wire.open(id);
			await eventually(
				() => bytesWrittenBy(A.getAllChanges(handle.doc())).length > 0,
				'the envelope to reach Eve'
			);
			held.push(...bytesWrittenBy(A.getAllChanges(handle.doc())));
		}
		expect(held.length).toBeGreaterThanOrEqual(5); // 3 shares + 2 approvals (+ account entries)
		for (const bytes of held)
			for (const secret of secrets)
				expect(Buffer.from(bytes).indexOf(Buffer.from(secret))).toBe(-1);
	});

	it('✓ a member who is not a recovery friend cannot approve; nor can Dana be restored by her and one friend', async () => {
		const { dana, ana, eve, fresh } = await setup(2);
		const request = await fresh.requestFriendRecovery();
		await expect(eve.approveFriendRecovery(request.code, dana)).rejects.toMatchObject({
			code: 'not-authorized'
		});
		await ana.approveFriendRecovery(request.code, dana);
		const progress: number[] = [];
		const again = await fresh.requestFriendRecovery({ onProgress: (a) => progress.push(a) });
		await ana.approveFriendRecovery(again.code, dana);
		await eventually(() => progress.includes(1), 'Ana’s approval to arrive');
		again.cancel();
		request.cancel();
		await expect(again.restored).rejects.toMatchObject({ code: 'too-few-approvals' });
		await expect(request.restored).rejects.toMatchObject({ code: 'too-few-approvals' });
		expect(fresh.identity).toBeUndefined();
	});

	it('✓ junk shares written by someone who learnt the request code delay nothing: two real approvals still restore', async () => {
		const { dana, ana, ben, eve, fresh } = await setup(2);
		const request = await fresh.requestFriendRecovery();
		const { ephemeral } = parseRecoveryRequest(request.code);
		// Eve reads the real shares' public fields (setup id, x, k, n) in Dana's account envelope…
		const account = await eve.wire.open(accountEnvelopeId(userKey(dana)));
		const real = await eventually(() => {
			const found = bytesWrittenBy(A.getAllChanges(account.doc()))
				.filter((b) => bytesEqual(b.subarray(0, 3), LOCKBOX_MAGIC))
				.map((b) => parseLockbox(b).header)
				.filter((h) => parseShareDocument(h.document));
			return found.length === 3 && found;
		}, 'the three shares to reach Eve');
		// …and writes, for every x, a share with the right setup id and a wrong y, before anyone approves
		const provider = await cryptoProvider();
		const seed = randomBytes(32);
		const junk = await Promise.all(
			real.map((h) =>
				sealLockbox({
					space: requestRendezvousId(ephemeral),
					document: h.document,
					epoch: h.epoch,
					epochKey: randomBytes(32),
					recipient: ephemeral,
					author: randomBytes(32),
					sign: (m) => provider.sign(seed, m)
				})
			)
		);
		const out = await eve.wire.open(requestEnvelopeId(ephemeral));
		await eve.wire.append(
			out,
			junk.map((l) => ({ key: entryKey(hash(l.bytes)), bytes: l.bytes }))
		);
		await ana.approveFriendRecovery(request.code, dana);
		await ben.approveFriendRecovery(request.code, dana);
		expect((await request.restored).userId).toBe(dana);
	});

	it('✓ a key made after the setup (a device revoked later) still reaches the device her friends restore', async () => {
		const server = await startSyncServerProcess();
		cleanup.push(() => server.stop());
		const open = async (deviceName: string) => {
			const client = await Charter.open({
				inMemory: true,
				syncServers: [server.wsUrl],
				deviceName
			});
			cleanup.push(() => client.close());
			return client;
		};
		const [laptop, phone, ana, ben] = await Promise.all(
			['dana-laptop', 'dana-phone', 'ana', 'ben'].map(open)
		);
		const { userId: dana } = await laptop!.createIdentity();
		for (const friend of [ana!, ben!]) await friend.createIdentity();
		const garden = await laptop!.createSpace({ name: "Dana's garden" });
		for (const member of [ana!, ben!]) await garden.addMember(await member.memberCard());
		const { code, linked } = await laptop!.linkDevice();
		await phone!.acceptDeviceLink(code);
		const device = await linked;
		await laptop!.setUpFriendRecovery({
			friends: [ana!, ben!].map((c) => c.identity!.userId),
			threshold: 2
		});
		// the phone is stolen: revoking it gives Dana a new encryption key the recovery kit lacks
		await laptop!.revokeDevice(device.deviceId);
		await garden.channels[0]!.send('after the phone was stolen');
		const anaGarden = await ana!.openSpace(garden.id);
		await eventually(
			() => anaGarden.channels[0]?.messages.some((m) => m.text === 'after the phone was stolen'),
			'Ana to read the message written after the revocation'
		);
		await laptop!.close();

		const fresh = await open('dana-new');
		const request = await fresh.requestFriendRecovery();
		await ana!.approveFriendRecovery(request.code, dana);
		await ben!.approveFriendRecovery(request.code, dana);
		expect((await request.restored).userId).toBe(dana);
		await eventually(() => fresh.spaces[0]?.channels[0], 'the garden to come back', 20_000);
		await eventually(
			() =>
				fresh.spaces[0]!.channels[0]!.messages.some((m) => m.text === 'after the phone was stolen'),
			'the restored device to read what was sealed to the newer key',
			20_000
		);
	});

	it('✓ bad setups and requests are refused with typed errors', async () => {
		const { open, ana, ben, cy, dana } = await setup(2);
		await eventually(() => ana.spaces[0]?.ready, 'Ana to hold the garden');
		const [benId, cyId] = [ben, cy].map((c) => c.identity!.userId) as [UserId, UserId];
		const stranger = await open('stranger');
		const { userId: strangerId } = await stranger.createIdentity();
		const cases: [string, { friends: UserId[]; threshold: number }][] = [
			['threshold below 2', { friends: [benId, cyId], threshold: 1 }],
			['threshold above n', { friends: [benId, cyId], threshold: 3 }],
			['more than ten friends', { friends: Array<UserId>(11).fill(benId), threshold: 2 }],
			['a friend listed twice', { friends: [benId, benId], threshold: 2 }],
			['a friend who shares no space', { friends: [benId, strangerId], threshold: 2 }],
			['oneself', { friends: [benId, ana.identity!.userId], threshold: 2 }]
		];
		for (const [what, input] of cases)
			await expect(ana.setUpFriendRecovery(input), what).rejects.toMatchObject({
				code: 'invalid-argument'
			});
		expect(ana.friendRecovery).toBeUndefined();
		// the same friends, properly: accepted
		await expect(
			ana.setUpFriendRecovery({ friends: [benId, cyId], threshold: 2 })
		).resolves.toMatchObject({
			threshold: 2
		});
		await expect(ana.approveFriendRecovery('charter-recover:nonsense', dana)).rejects.toMatchObject(
			{
				code: 'invalid-argument'
			}
		);
		await expect(ana.requestFriendRecovery()).rejects.toMatchObject({ code: 'identity-exists' });
	});
});
