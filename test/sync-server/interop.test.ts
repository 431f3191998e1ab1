/**
 * The server stays a standard automerge-repo sync server, and Charter works through a stock one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { Repo } from '@automerge/automerge-repo';
import { NodeWSServerAdapter, WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs';
import { Charter } from '../../src/lib/index.js';
import { startSyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';

describe('interoperability', () => {
	const cleanup: (() => Promise<unknown>)[] = [];
	afterAll(async () => {
		for (const c of cleanup.reverse()) await c().catch(() => undefined);
	});

	it('✓ unmodified automerge-repo clients sync plain documents through Charter\'s server', async () => {
		const server = await startSyncServerProcess();
		cleanup.push(() => server.stop());
		const a = new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] });
		const b = new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] });
		cleanup.push(() => a.shutdown(), () => b.shutdown());
		const handle = a.create<{ title: string; items: string[] }>({ title: 'groceries', items: ['milk'] });
		const seen = await b.find<{ title: string; items: string[] }>(handle.url);
		expect(seen.doc().title).toBe('groceries');
		handle.change((d) => {
			d.items.push('eggs');
		});
		await eventually(() => seen.doc().items.length === 2, 'b to see the change');
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
			await stock.shutdown();
			wss.close();
			http.close();
		});
		const alice = await Charter.open({ inMemory: true, syncServers: [url] });
		const bob = await Charter.open({ inMemory: true, syncServers: [url] });
		cleanup.push(() => alice.close(), () => bob.close());
		await alice.createIdentity();
		await bob.createIdentity();
		const space = await alice.createSpace({ name: 'Through stock' });
		await space.addMember(await bob.memberCard());
		await space.channels[0]!.send('works anywhere');
		const bobSpace = await bob.openSpace(space.id);
		await eventually(() => bobSpace.channels[0]?.messages[0]?.text === 'works anywhere', 'bob to read through the stock server');
	});
});
