/**
 * The server stays a standard automerge-repo sync server: unmodified automerge-repo clients sync
 * through it, what it confirmed survives a restart, and Charter works through a stock server too.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import { Repo, type DocHandle } from '@automerge/automerge-repo';
import {
	NodeWSServerAdapter,
	WebSocketClientAdapter
} from '@automerge/automerge-repo-network-websocket';
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs';
import { Charter } from '../../src/lib/index.js';
import { startSyncServer, type RunningSyncServer } from '../../sync-server/server.js';
import { metric, until } from './raw-client.js';

const silent = pino({ level: 'silent' });
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
	for (const c of cleanup.reverse())
		await Promise.resolve()
			.then(c)
			.catch(() => undefined);
});

function client(server: RunningSyncServer): Repo {
	const repo = new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] });
	cleanup.push(async () => repo.shutdown()); // async: a second shutdown throws synchronously
	return repo;
}

/** What `guaranteed` durability waits for: the server's storage id reports our current heads. */
function confirmedBy(server: RunningSyncServer, handle: DocHandle<unknown>) {
	return until(() => {
		const theirs = handle.getSyncInfo(server.storageId)?.lastHeads;
		return (
			theirs !== undefined &&
			JSON.stringify([...theirs].sort()) === JSON.stringify([...handle.heads()].sort())
		);
	}, 'the server to confirm our heads');
}

describe('interoperability', () => {
	it('✓ one unmodified automerge-repo client creates, another finds it and sees later changes', async () => {
		const server = await startSyncServer({
			port: 0,
			dataDir: await mkdtemp(join(tmpdir(), 'charter-interop-')),
			logger: silent,
			allowUnsealed: true
		});
		cleanup.push(() => server.close());
		const handle = client(server).create<{ title: string; items: string[] }>({
			title: 'groceries',
			items: ['milk']
		});
		const seen = await client(server).find<{ title: string; items: string[] }>(handle.url);
		expect(seen.doc().title).toBe('groceries');
		handle.change((d) => {
			d.items.push('eggs');
		});
		await until(() => seen.doc().items.length === 2, 'the second client to see the change');
	});

	it('✓ what the server confirmed (remote-heads for its storage id) is there after a restart', async () => {
		const dataDir = await mkdtemp(join(tmpdir(), 'charter-interop-restart-'));
		const first = await startSyncServer({ port: 0, dataDir, logger: silent, allowUnsealed: true });
		const writer = client(first);
		const handle = writer.create<{ items: string[] }>({ items: [] });
		for (let i = 0; i < 30; i++)
			handle.change((d) => {
				d.items.push(`item ${i}`);
			});
		await confirmedBy(first, handle);
		await writer.shutdown().catch(() => undefined);
		await first.close();

		const second = await startSyncServer({ port: 0, dataDir, logger: silent, allowUnsealed: true });
		cleanup.push(() => second.close());
		expect(second.storageId).toBe(first.storageId); // the same storage, so confirmations stay meaningful
		const reader = await client(second).find<{ items: string[] }>(handle.url);
		expect(reader.doc().items).toHaveLength(30);
	});

	it('✓ Charter clients sync through a stock automerge-repo sync server', async () => {
		const http = createServer();
		const wss = new WebSocketServer({ server: http });
		const stock = new Repo({
			network: [new NodeWSServerAdapter(wss as never)],
			storage: new NodeFSStorageAdapter(await mkdtemp(join(tmpdir(), 'charter-stock-'))),
			sharePolicy: async () => false
		});
		await new Promise((r) => setTimeout(r, 50)); // let the repo attach its adapter
		await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
		const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
		cleanup.push(async () => {
			await stock.shutdown().catch(() => undefined);
			wss.close();
			http.closeAllConnections();
			http.close();
		});
		const alice = await Charter.open({ inMemory: true, syncServers: [url] });
		const bob = await Charter.open({ inMemory: true, syncServers: [url] });
		cleanup.push(
			() => alice.close(),
			() => bob.close()
		);
		await alice.createIdentity();
		await bob.createIdentity();
		const space = await alice.createSpace({ name: 'Through stock' });
		await space.addMember(await bob.memberCard());
		await space.channels[0]!.send('works anywhere');
		const bobSpace = await bob.openSpace(space.id);
		await until(
			() => bobSpace.channels[0]?.messages[0]?.text === 'works anywhere',
			'bob to read through the stock server'
		);
	});

	it("✓ by default it stores only sealed publications: a stock client's unsealed changes are cut out and counted, Charter's pass", async () => {
		const server = await startSyncServer({
			port: 0,
			dataDir: await mkdtemp(join(tmpdir(), 'charter-sealed-')),
			logger: silent
		});
		cleanup.push(() => server.close());
		const stock = client(server).create<{ title: string }>({ title: 'unsealed' });
		await until(
			async () =>
				(await metric(server.url, 'charter_sync_rejections_total', '{reason="unsealed-change"}')) >
				0,
			'the unsealed change to be counted'
		);
		expect(await metric(server.url, 'charter_sync_changes_stored_total')).toBe(0);
		expect(stock.getSyncInfo(server.storageId)?.lastHeads ?? []).toEqual([]);

		const alice = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
		cleanup.push(() => alice.close());
		const { phrase } = await alice.createIdentity();
		await (await alice.createSpace({ name: 'Sealed' })).channels[0]!.send('sealed and stored');
		await until(() => {
			const status = alice.syncStatus().find((p) => p.storageId === server.storageId);
			return status && status.lagging.length === 0 && status.inSync >= 2;
		}, 'the server to confirm every document');
		expect(alice.refusedChanges.total).toBe(0);
		await alice.close();
		const restored = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
		cleanup.push(() => restored.close());
		await restored.restoreIdentity(phrase);
		await until(
			() => restored.spaces[0]?.channels[0]?.messages[0]?.text === 'sealed and stored',
			'a new device to read through the sealing server'
		);
	});
});
