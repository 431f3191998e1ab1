/**
 * Admission: with --spaces-allow the server stores only envelope documents of allowed spaces, told
 * from entry headers and signatures alone. Peering: two servers replicate through automerge-repo,
 * and a client survives losing either.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Charter } from '../../src/lib/index.js';
import { startSyncServerProcess, type SyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';
import { metric } from './raw-client.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
	for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

async function client(servers: string[]) {
	const c = await Charter.open({ inMemory: true, syncServers: servers });
	cleanup.push(() => c.close());
	await c.createIdentity();
	return c;
}

describe('admission policy', () => {
	it('✓ stores allowed spaces and refuses foreign ones', async () => {
		// spaces are created offline first so their ids can go into the server's allow list
		const owner = await Charter.open({ inMemory: true });
		cleanup.push(() => owner.close());
		await owner.createIdentity();
		const allowed = await owner.createSpace({ name: 'Allowed' });
		const foreign = await owner.createSpace({ name: 'Foreign' });
		await allowed.channels[0]!.send('welcome here');
		await foreign.channels[0]!.send('not here');

		const server = await startSyncServerProcess({ args: ['--spaces-allow', allowed.id] });
		cleanup.push(() => server.stop());
		owner.wire.networkSubsystem.addNetworkAdapter(new (await import('@automerge/automerge-repo-network-websocket')).WebSocketClientAdapter(server.wsUrl));
		await eventually(() => owner.peers.length > 0, 'owner to connect');
		await new Promise((r) => setTimeout(r, 1500));

		const reader = await client([server.wsUrl]);
		const seenAllowed = await reader.wire.find<{ entries: Record<string, unknown> }>(allowed.channels[0]!.envelope.documentId);
		expect(Object.keys(seenAllowed.doc().entries).length).toBeGreaterThan(0);
		const foreignEntries = await reader.wire
			.find<{ entries?: Record<string, unknown> }>(foreign.channels[0]!.envelope.documentId, { signal: AbortSignal.timeout(3000) })
			.then((h) => Object.keys(h.doc()?.entries ?? {}).length)
			.catch(() => 0);
		expect(foreignEntries).toBe(0);
		expect(await metric(server.url, 'charter_sync_rejections_total', '{reason="admission"}')).toBeGreaterThan(0);
	});
});

describe('peered sync servers', () => {
	let a: SyncServerProcess;
	let b: SyncServerProcess;

	it('✓ replicate each other; a client of either sees everything and survives losing one', async () => {
		a = await startSyncServerProcess();
		b = await startSyncServerProcess({ args: ['--peer', a.wsUrl] });
		cleanup.push(() => a.stop(), () => b.stop());
		const alice = await client([a.wsUrl]);
		const bob = await client([b.wsUrl, a.wsUrl]);
		const space = await alice.createSpace({ name: 'Redundant' });
		await space.addMember(await bob.memberCard());
		await space.channels[0]!.send('first');
		const bobSpace = await bob.openSpace(space.id);
		await eventually(() => bobSpace.channels[0]?.messages.length === 1, 'bob to read');
		// a client that only knows B reads what Alice wrote to A
		const carol = await client([b.wsUrl]);
		const onB = await carol.wire.find<{ entries: Record<string, unknown> }>(space.channels[0]!.envelope.documentId);
		await eventually(() => Object.keys(onB.doc().entries).length === 1, 'server B to hold the channel');
		// A goes away; Bob keeps chatting with Alice's words through B
		await a.stop();
		await bobSpace.channels[0]!.send('still here without A');
		const later = await client([b.wsUrl]);
		const fromB = await later.wire.find<{ entries: Record<string, unknown> }>(space.channels[0]!.envelope.documentId);
		await eventually(() => Object.keys(fromB.doc().entries).length === 2, 'B to serve both messages');
	});
});
