/**
 * automerge-repo's own shared network suite, run against the adapters clients configure: the stock
 * WebSocket server adapter (`Charter.open({ listen })`, peer to peer) with WebSocket clients, and
 * MessageChannel (tests, workers). Storage adapters and the sync server's guarded WebSocket adapter
 * run the shared suites in test/sync-server/adapters.test.ts.
 */
import '@automerge/automerge-repo';
import { describe } from 'vitest';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { runNetworkAdapterTests } from '@automerge/automerge-repo/helpers/tests/network-adapter-tests.js';
import {
	NodeWSServerAdapter,
	WebSocketClientAdapter
} from '@automerge/automerge-repo-network-websocket';
import { MessageChannelNetworkAdapter } from '@automerge/automerge-repo-network-messagechannel';

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
