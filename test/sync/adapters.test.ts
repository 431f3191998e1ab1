/**
 * automerge-repo's own shared adapter suites, run against every adapter Charter configures: nodefs
 * storage (clients and the sync server), WebSocket client/server (sync servers, home nodes), and
 * MessageChannel (tests, workers).
 */
import '@automerge/automerge-repo';
import { describe } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { runStorageAdapterTests } from '@automerge/automerge-repo/helpers/tests/storage-adapter-tests.js';
import { runNetworkAdapterTests } from '@automerge/automerge-repo/helpers/tests/network-adapter-tests.js';
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs';
import {
	NodeWSServerAdapter,
	WebSocketClientAdapter
} from '@automerge/automerge-repo-network-websocket';
import { MessageChannelNetworkAdapter } from '@automerge/automerge-repo-network-messagechannel';

describe('storage: NodeFSStorageAdapter', () => {
	runStorageAdapterTests(async () => {
		const dir = await mkdtemp(join(tmpdir(), 'charter-storage-'));
		return {
			adapter: new NodeFSStorageAdapter(dir),
			teardown: () => rm(dir, { recursive: true, force: true })
		};
	});
});

describe('network: WebSocket server + clients on loopback', () => {
	runNetworkAdapterTests(async () => {
		const http = createServer();
		const wss = new WebSocketServer({ server: http });
		await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
		const { port } = http.address() as AddressInfo;
		const url = `ws://127.0.0.1:${port}`;
		return {
			adapters: [
				new NodeWSServerAdapter(wss as never),
				new WebSocketClientAdapter(url),
				new WebSocketClientAdapter(url)
			],
			teardown: () => {
				for (const client of wss.clients) client.terminate();
				http.close();
			}
		};
	});
});

describe('network: MessageChannel', () => {
	runNetworkAdapterTests(async () => {
		const ab = new MessageChannel();
		const bc = new MessageChannel();
		return {
			adapters: [
				new MessageChannelNetworkAdapter(ab.port1),
				[new MessageChannelNetworkAdapter(ab.port2), new MessageChannelNetworkAdapter(bc.port1)],
				new MessageChannelNetworkAdapter(bc.port2)
			],
			teardown: () => {
				for (const p of [ab.port1, ab.port2, bc.port1, bc.port2]) p.close();
			}
		};
	});
});
