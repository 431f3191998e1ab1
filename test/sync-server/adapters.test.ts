/**
 * automerge-repo's own shared suites against the adapters this server configures: the guarded
 * WebSocket server adapter (with WebSocket client adapters, the way clients and peer servers dial
 * it), the peer dialing adapter, and nodefs storage (stock, and the server's durable variant).
 */
import '@automerge/automerge-repo';
import { describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import { runStorageAdapterTests } from '@automerge/automerge-repo/helpers/tests/storage-adapter-tests.js';
import { runNetworkAdapterTests } from '@automerge/automerge-repo/helpers/tests/network-adapter-tests.js';
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { DEFAULT_LIMITS } from '../../sync-server/config.js';
import {
	DurableNodeFSStorageAdapter,
	TEMPORARY_DIRECTORY
} from '../../sync-server/durable-storage.js';
import { GuardedServerAdapter } from '../../sync-server/guarded-adapter.js';
import { createMetrics } from '../../sync-server/metrics.js';
import { PeerDialAdapter, PeerGroup } from '../../sync-server/peering.js';
import { StorageLedger } from '../../sync-server/storage-ledger.js';

const silent = pino({ level: 'silent' });

describe('storage: stock NodeFSStorageAdapter', () => {
	runStorageAdapterTests(async () => {
		const dir = await mkdtemp(join(tmpdir(), 'charter-storage-'));
		return {
			adapter: new NodeFSStorageAdapter(dir),
			teardown: () => rm(dir, { recursive: true, force: true })
		};
	});
});

describe('storage: DurableNodeFSStorageAdapter (the server’s data directory)', () => {
	runStorageAdapterTests(async () => {
		const dir = await mkdtemp(join(tmpdir(), 'charter-durable-'));
		return {
			adapter: await new DurableNodeFSStorageAdapter(dir).open(),
			teardown: () => rm(dir, { recursive: true, force: true })
		};
	});

	it('✓ keeps the stock layout, so either adapter reads what the other wrote', async () => {
		const dir = await mkdtemp(join(tmpdir(), 'charter-layout-'));
		const durable = await new DurableNodeFSStorageAdapter(dir).open();
		await durable.save(['3xyzDocument', 'snapshot', 'h1'], new Uint8Array([1, 2, 3]));
		await new NodeFSStorageAdapter(dir).save(
			['3xyzDocument', 'incremental', 'h2'],
			new Uint8Array([4])
		);
		expect(await new NodeFSStorageAdapter(dir).load(['3xyzDocument', 'snapshot', 'h1'])).toEqual(
			new Uint8Array([1, 2, 3])
		);
		expect((await durable.loadRange(['3xyzDocument'])).map((c) => c.key.join('/')).sort()).toEqual([
			'3xyzDocument/incremental/h2',
			'3xyzDocument/snapshot/h1'
		]);
		await rm(dir, { recursive: true, force: true });
	});

	it('✓ half-written chunks never appear inside a document and are cleared on open', async () => {
		const dir = await mkdtemp(join(tmpdir(), 'charter-crash-'));
		await mkdir(join(dir, TEMPORARY_DIRECTORY), { recursive: true });
		await writeFile(join(dir, TEMPORARY_DIRECTORY, 'torn'), new Uint8Array([9]));
		const durable = await new DurableNodeFSStorageAdapter(dir).open();
		expect(await readdir(join(dir, TEMPORARY_DIRECTORY))).toEqual([]);
		await durable.save(['3xyzDocument', 'snapshot', 'h1'], new Uint8Array([1]));
		expect(await readdir(join(dir, TEMPORARY_DIRECTORY))).toEqual([]);
		await rm(dir, { recursive: true, force: true });
	});
});

async function guardedServer() {
	const dir = await mkdtemp(join(tmpdir(), 'charter-guarded-'));
	const http = createServer();
	const wss = new WebSocketServer({ server: http });
	const metrics = createMetrics();
	const adapter = new GuardedServerAdapter(wss, {
		limits: DEFAULT_LIMITS,
		metrics,
		ledger: new StorageLedger(dir, DEFAULT_LIMITS),
		peers: new PeerGroup(undefined, silent, metrics),
		log: silent,
		requireSeals: false // automerge-repo's own adapter suite syncs unsealed documents
	});
	await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
	const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
	const teardown = () => {
		for (const client of wss.clients) client.terminate();
		wss.close();
		http.close();
		void rm(dir, { recursive: true, force: true });
	};
	return { adapter, url, teardown };
}

describe('network: guarded WebSocket server + stock WebSocket clients', () => {
	runNetworkAdapterTests(async () => {
		const { adapter, url, teardown } = await guardedServer();
		return {
			adapters: [
				adapter,
				new WebSocketClientAdapter(url, 1000),
				new WebSocketClientAdapter(url, 1000)
			],
			teardown
		};
	});
});

describe('network: guarded WebSocket server + peer dialing adapters', () => {
	runNetworkAdapterTests(async () => {
		const { adapter, url, teardown } = await guardedServer();
		return {
			adapters: [
				adapter,
				new PeerDialAdapter(url, 1000, silent),
				new PeerDialAdapter(url, 1000, silent)
			],
			teardown
		};
	});
});
