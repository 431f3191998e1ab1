/**
 * A sync server that withholds data from one client: the relay in front of it lets the client's
 * frames through (so it looks connected and keeps receiving what the client writes) but never
 * forwards the server's sync messages back. The client, also connected to an honest server, gets
 * everything from there — and reports the withholding one as suspect.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { AddressInfo } from 'node:net';
import { Charter } from '../../src/lib/index.js';
import { startSyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';

const toBuffer = (d: RawData): Buffer =>
	Buffer.isBuffer(d) ? d : Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d);

/** Forwards everything client → server, but only the handshake (first frame) server → client. */
async function withholdingRelay(target: string) {
	const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
	await new Promise<void>((r) => server.once('listening', () => r()));
	const sockets = new Set<WebSocket>();
	server.on('connection', (client) => {
		const upstream = new WebSocket(target);
		sockets.add(client).add(upstream);
		const pending: Buffer[] = [];
		let fromServer = 0;
		upstream.on('open', () => pending.splice(0).forEach((m) => upstream.send(m)));
		client.on('message', (d) =>
			upstream.readyState === WebSocket.OPEN
				? upstream.send(toBuffer(d))
				: pending.push(toBuffer(d))
		);
		upstream.on('message', (d) => {
			if (fromServer++ === 0 && client.readyState === WebSocket.OPEN) client.send(toBuffer(d));
		});
		const closeBoth = () => (client.close(), upstream.close());
		for (const s of [client, upstream]) s.on('close', closeBoth).on('error', closeBoth);
	});
	return {
		url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
		close: async () => {
			for (const s of sockets) s.terminate();
			await new Promise<void>((r) => server.close(() => r()));
		}
	};
}

describe('a sync server that withholds data from one client', async () => {
	const honest = await startSyncServerProcess();
	const withholding = await startSyncServerProcess();
	const relay = await withholdingRelay(withholding.wsUrl);
	const alice = await Charter.open({
		inMemory: true,
		syncServers: [honest.wsUrl, relay.url],
		suspectAfterMs: 1500
	});
	const bob = await Charter.open({
		inMemory: true,
		syncServers: [honest.wsUrl, withholding.wsUrl]
	});
	afterAll(async () => {
		await alice.close();
		await bob.close();
		await relay.close();
		await honest.stop();
		await withholding.stop();
	});

	it('✓ the client still gets everything through the honest server, and names the other as suspect', async () => {
		await alice.createIdentity();
		await bob.createIdentity();
		const space = await bob.createSpace({ name: 'Watched' });
		await space.addMember(await alice.memberCard());
		await space.channels[0]!.send('can you read this?');
		const aliceSpace = await alice.openSpace(space.id);
		await eventually(
			() => aliceSpace.channels[0]?.messages.length === 1,
			'alice to read via the honest server'
		);
		await aliceSpace.channels[0]!.send('yes');

		const status = await eventually(
			() => {
				const s = alice.syncStatus();
				const bad = s.find((p) => p.suspect);
				// the honest server caught up (on a loaded machine it may lag a moment after each send)
				const good = s.find(
					(p) => !p.suspect && p.storageId && p.inSync > 0 && p.lagging.length === 0
				);
				return bad && good ? { bad, good } : undefined;
			},
			'alice to flag the withholding server while the honest one is in sync',
			20_000
		);
		expect(status.bad.lagging.length).toBeGreaterThan(0);
		// flagged because a document it claims to hold stayed behind past the threshold (others may
		// have started lagging only just now)
		expect(status.bad.lagging.some((l) => l.forMs >= 1500)).toBe(true);
		expect(status.good.lagging).toEqual([]);
		// and the honest server is not flagged from Bob's side either
		await eventually(
			() =>
				bob
					.syncStatus()
					.filter((p) => p.storageId)
					.every((p) => !p.suspect && p.lagging.length === 0),
			'bob to be in sync with both'
		);
	});
});
