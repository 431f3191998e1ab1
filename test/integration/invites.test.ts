/**
 * Invites through a real sync server: a newcomer joins while every member is offline; revoked,
 * expired, used-up and damaged invites are refused with clear errors; a link used before the invite
 * reached the server waits for it; an old (version 1) link still joins; two concurrent joins on the
 * last use resolve the same way everywhere; a proof cannot be reused by someone else.
 */
import * as A from '@automerge/automerge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Charter, isCharterError } from '../../src/lib/index.js';
import { startSyncServerProcess, type SyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';
import { forge } from '../support/hostile.js';
import { atom, type SpaceDoc } from '../../src/lib/authority/schema.js';
import type { DocHandle } from '@automerge/automerge-repo';
import { caughtUpWithStoringPeer } from '../../src/lib/sync/peer-status.js';

let server: SyncServerProcess;
const clients: Charter[] = [];
async function person() {
	const c = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	clients.push(c);
	await c.createIdentity();
	return c;
}
/** A persistent node (the sync server) reported heads that include all `handle` holds on `client`. */
const held = (client: Charter, handle: DocHandle<unknown>) =>
	client.wire.remote.persistentStorageIds().some((id) => {
		const reported = client.wire.remote.heads(handle.documentId, id) ?? [];
		return A.getHeads(handle.doc()).every((h) => reported.includes(h));
	});
const codeOf = async (p: Promise<unknown>) =>
	p.then(
		() => 'joined',
		(e) => (isCharterError(e) ? e.code : `untyped: ${e}`)
	);

beforeAll(async () => {
	server = await startSyncServerProcess();
});
afterAll(async () => {
	for (const c of clients) await c.close().catch(() => undefined);
	await server.stop();
});

describe('invites', () => {
	it('✓ a newcomer joins and reads history with every member offline', async () => {
		const owner = await person();
		const space = await owner.createSpace({ name: 'Night owls' });
		await space.channels[0]!.send('first post');
		const { link } = await space.createInvite({ maxUses: 5 });
		expect(link.startsWith('charter-invite:')).toBe(true);
		await space.settled();
		// the sync server reported holding every envelope of the space as the owner has it
		await eventually(
			() => held(owner, space.envelope) && space.channels.every((c) => held(owner, c.envelope)),
			'the sync server to hold the space'
		);
		await owner.close(); // every member is now offline

		const newcomer = await person();
		const joined = await newcomer.joinSpace(link);
		await eventually(() => joined.channels[0]?.messages.length === 1, 'history to be readable');
		expect(joined.name).toBe('Night owls');
		expect(joined.isMember).toBe(true);
		expect(joined.channels[0]!.messages[0]!.text).toBe('first post');
		await joined.channels[0]!.send('hello, I am new here');

		expect(joined.members.map((m) => m.user)).toContain(newcomer.identity!.userId);
		expect(joined.invites[0]!.uses).toBe(1);
	});

	it('✓ revoked, expired, used-up and damaged invites are refused with clear errors', async () => {
		const owner = await person();
		const space = await owner.createSpace({ name: 'Strict club' });
		const revoked = await space.createInvite();
		await space.revokeInvite(revoked.id);
		const expiring = await space.createInvite({ expiresAt: Date.now() + 300 });
		const single = await space.createInvite({ maxUses: 1 });
		await new Promise((r) => setTimeout(r, 600));

		expect(await codeOf((await person()).joinSpace(revoked.link))).toBe('invite-revoked');
		expect(await codeOf((await person()).joinSpace(expiring.link))).toBe('invite-expired');
		expect(await codeOf((await person()).joinSpace(single.link))).toBe('joined');
		await new Promise((r) => setTimeout(r, 500));
		expect(await codeOf((await person()).joinSpace(single.link))).toBe('invite-used-up');
		// a damaged secret (or space id) fails the link's check before anything is looked up
		const at = 'charter-invite:'.length + 40;
		const damaged =
			single.link.slice(0, at) + (single.link[at] === 'A' ? 'B' : 'A') + single.link.slice(at + 1);
		const started = Date.now();
		const refusal = await (await person()).joinSpace(damaged).catch((e: unknown) => e);
		expect(isCharterError(refusal) && refusal.code).toBe('invalid-invite');
		expect((refusal as Error).message).toContain('damaged');
		expect(Date.now() - started).toBeLessThan(1000);
		expect(await codeOf((await person()).joinSpace('hello'))).toBe('invalid-invite');
	});

	it('✓ a link used before its invite reached the server waits for it, and joins when it comes', async () => {
		const owner = await person();
		const space = await owner.createSpace({ name: 'Slow inviter' });
		await space.settled();
		await eventually(() => held(owner, space.envelope), 'the sync server to hold the space');
		// the owner goes offline, makes an invite and hands the link over before reconnecting
		owner.removeSyncServer(server.wsUrl);
		await eventually(() => owner.peers.length === 0, 'the owner to be offline');
		const { link } = await space.createInvite({ endpoints: [server.wsUrl] });
		const newcomer = await person();
		const joining = codeOf(newcomer.joinSpace(link));
		// ✓ the newcomer has everything the server holds of the space — which lacks the invite —
		// and is not refused (a link of version 1 was, here: a race between inviter and newcomer)
		await eventually(() => {
			const handle = newcomer.wire.repo.handles[space.envelope.documentId];
			return !!handle && caughtUpWithStoringPeer(newcomer.wire.repo, newcomer.wire.remote, handle);
		}, 'the newcomer to hold what the server has of the space');
		await space.settled();
		owner.addSyncServer(server.wsUrl);
		expect(await joining).toBe('joined');
		expect(newcomer.space(space.id)?.isMember).toBe(true);
	});

	it('✓ a link of version 1 (no check) still joins', async () => {
		const owner = await person();
		const space = await owner.createSpace({ name: 'Old link' });
		const { link } = await space.createInvite();
		// a version 1 link is an old one: the server holds its invite (a version 1 join is refused
		// when the server has given everything and no lockbox opens with the secret)
		await space.settled();
		await eventually(() => held(owner, space.envelope), 'the sync server to hold the invite');
		// version 2 is version 1 with 4 check bytes after the secret: 'CHI' ‖ v ‖ space (16) ‖ secret (32)
		const bytes = Buffer.from(link.slice('charter-invite:'.length), 'base64url');
		expect(bytes[3]).toBe(2);
		const v1 = Buffer.concat([bytes.subarray(0, 52), bytes.subarray(56)]);
		v1[3] = 1;
		const old = await person();
		expect(await codeOf(old.joinSpace(`charter-invite:${v1.toString('base64url')}`))).toBe(
			'joined'
		);
		expect(old.space(space.id)?.isMember).toBe(true);
	});

	it('✓ two concurrent joins on the last use: exactly one stays, the same one everywhere', async () => {
		const owner = await person();
		const space = await owner.createSpace({ name: 'One seat' });
		const { link } = await space.createInvite({ maxUses: 1 });
		await new Promise((r) => setTimeout(r, 300));
		const a = await person();
		const b = await person();
		const results = await Promise.all([codeOf(a.joinSpace(link)), codeOf(b.joinSpace(link))]);
		expect(results.filter((r) => r === 'joined').length).toBeGreaterThanOrEqual(1);
		const members = () =>
			space.members
				.map((m) => m.user)
				.filter((u) => u !== owner.identity!.userId)
				.sort();
		const settled = () =>
			members().length === 1 &&
			(space.rejections.some((r) => r.reason === 'invite used up') ||
				results.includes('invite-used-up'));
		await eventually(
			settled,
			'the owner to settle on one newcomer, having seen both joins',
			20_000
		);
		const views = [a, b].map((c) => c.space(space.id)).filter((s) => s !== undefined);
		for (const view of views)
			await eventually(
				() =>
					view.members
						.filter((m) => m.user !== owner.identity!.userId)
						.map((m) => m.user)
						.join() === members().join(),
				'every view to agree',
				20_000
			);
		expect(settled()).toBe(true);
	});

	it('✓ a join proof is bound to the newcomer: an intercepted proof admits nobody else', async () => {
		const owner = await person();
		const space = await owner.createSpace({ name: 'Bound' });
		const { link, id } = await space.createInvite({ maxUses: 3 });
		const alice = await person();
		await alice.joinSpace(link);
		await eventually(() => !!space.document.members[alice.identity!.userId], 'owner to see alice');
		const proof = space.document.members[alice.identity!.userId]!.invite!.proof;
		// mallory holds alice's proof (and, for the test, the space key) and writes her own join with it
		const mallory = await person();
		const card = await (async () =>
			(await import('../../src/lib/identity/certificates.js')).verifyUserCard(
				await mallory.memberCard()
			))();
		await forge<SpaceDoc>(mallory, space, { into: space, keysFrom: owner }, (d) => {
			d.members[mallory.identity!.userId] = {
				card: card.bytes,
				addedAt: Date.now(),
				addedBy: atom(mallory.identity!.userId),
				roles: {},
				invite: { id: atom(id), proof }
			};
			d.invites[id]!.uses[mallory.identity!.userId] = true;
		});
		await space.settled();
		expect(space.members.map((m) => m.user)).not.toContain(mallory.identity!.userId);
		expect(space.rejections.map((r) => r.reason)).toContain('the invite proof does not verify');
	});
});
