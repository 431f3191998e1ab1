/**
 * Charter on the sync server. Admission: with an allow list the server stores only envelope
 * documents of allowed spaces, told from entry headers and signatures alone. Peering: Charter
 * clients spread over two peered servers chat, and survive losing one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Charter } from '../../src/lib/index.js';
import { startSyncServer, type SyncServerOptions } from '../../sync-server/server.js';
import { metric, until } from './raw-client.js';
import { entriesIn } from '../support/held.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
	for (const c of cleanup.reverse())
		await Promise.resolve()
			.then(c)
			.catch(() => undefined);
});

async function server(options: Partial<SyncServerOptions> = {}) {
	const s = await startSyncServer({
		port: 0,
		dataDir: await mkdtemp(join(tmpdir(), 'charter-admission-')),
		logger: pino({ level: 'silent' }),
		peerRetryMs: 500,
		...options
	});
	cleanup.push(() => s.close());
	return s;
}

async function client(servers: string[]) {
	const c = await Charter.open({ inMemory: true, syncServers: servers });
	cleanup.push(() => c.close());
	await c.createIdentity();
	return c;
}

describe('admission by space', () => {
	it('✓ stores allowed spaces and refuses foreign ones', async () => {
		// spaces are created offline first so their ids can go into the server's allow list
		const owner = await Charter.open({ inMemory: true });
		cleanup.push(() => owner.close());
		await owner.createIdentity();
		const allowed = await owner.createSpace({ name: 'Allowed' });
		const foreign = await owner.createSpace({ name: 'Foreign' });
		await allowed.channels[0]!.send('welcome here');
		await foreign.channels[0]!.send('not here');

		const relay = await server({ allow: [allowed.id] });
		owner.addSyncServer(relay.wsUrl);
		await until(
			async () =>
				(await metric(relay.url, 'charter_sync_rejections_total', '{reason="admission"}')) > 0,
			'the foreign space to be refused'
		);

		const reader = await client([relay.wsUrl]);
		const seenAllowed = await reader.wire.repo.find<{ entries: Record<string, unknown> }>(
			allowed.channels[0]!.envelope.documentId
		);
		await until(() => entriesIn(seenAllowed.doc()) > 0, 'the allowed channel to be served');
		const foreignEntries = await reader.wire.repo
			.find<{ entries?: Record<string, unknown> }>(foreign.channels[0]!.envelope.documentId, {
				signal: AbortSignal.timeout(1500)
			})
			.then((h) => entriesIn(h.doc()))
			.catch(() => 0);
		expect(foreignEntries).toBe(0);
		expect(
			relay.repo.handles[foreign.channels[0]!.envelope.documentId as never]?.isReady()
		).toBeFalsy();
	});
});

describe('Charter over peered sync servers', () => {
	it('✓ members on different servers chat; losing a server loses nothing', async () => {
		const peerToken = 'charter-group-secret-0123456789';
		const a = await server({ peerToken });
		const b = await server({ peerToken, peers: [a.wsUrl] });
		const alice = await client([a.wsUrl]);
		const bob = await client([b.wsUrl, a.wsUrl]);
		const space = await alice.createSpace({ name: 'Redundant' });
		await space.addMember(await bob.memberCard());
		await space.channels[0]!.send('first');
		const bobSpace = await bob.openSpace(space.id);
		await until(() => bobSpace.channels[0]?.messages.length === 1, 'bob to read');
		// a client that only knows B reads what Alice wrote to A
		const carol = await client([b.wsUrl]);
		const onB = await carol.wire.repo.find<{ entries: Record<string, unknown> }>(
			space.channels[0]!.envelope.documentId
		);
		await until(() => entriesIn(onB.doc()) === 1, 'server B to hold the channel');
		// A goes away; Bob keeps chatting through B
		await a.close();
		await bobSpace.channels[0]!.send('still here without A');
		const later = await client([b.wsUrl]);
		const fromB = await later.wire.repo.find<{ entries: Record<string, unknown> }>(
			space.channels[0]!.envelope.documentId
		);
		await until(() => entriesIn(fromB.doc()) === 2, 'B to serve both messages');
	});
});
