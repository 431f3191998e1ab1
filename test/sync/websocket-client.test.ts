/**
 * A sync server that resets the connection (TCP RST: ECONNRESET on the client) must not take the
 * client's process down: automerge-repo's WebSocket client rethrows that error from its event
 * handler, an uncaught exception in Node (checked: the stock adapter against this server ends the
 * process with an uncaught ECONNRESET). Charter's client counts it and dials again.
 */
import '@automerge/automerge-repo';
import type { PeerId } from '@automerge/automerge-repo';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { WebSocketClient } from '../../src/lib/sync/servers.js';
import { eventually } from '../support/wait.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
	for (const c of cleanups.splice(0)) c();
});

/**
 * A WebSocket server on loopback that resets (TCP RST) the first `resets` connections during the
 * handshake — how a loaded or restarting server looks to a client — and accepts the rest.
 */
async function resettingServer(resets: number) {
	const http: Server = createServer();
	const wss = new WebSocketServer({ noServer: true });
	let attempts = 0;
	http.on('upgrade', (request, socket, head) => {
		attempts++;
		if (attempts <= resets) (socket as Socket).resetAndDestroy();
		else wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
	});
	await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
	cleanups.push(() => {
		wss.close();
		http.close();
	});
	return {
		url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
		attempts: () => attempts
	};
}

/** A server on loopback that takes the TCP connection and never answers the WebSocket handshake. */
async function silentServer() {
	const http: Server = createServer();
	let upgrades = 0;
	const held: Socket[] = [];
	http.on('upgrade', (_request, socket) => {
		upgrades++;
		held.push(socket as Socket);
	});
	await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
	cleanups.push(() => {
		for (const socket of held) socket.destroy();
		http.close();
	});
	return {
		url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
		upgrades: () => upgrades
	};
}

describe('a client that closes while its socket is still connecting', () => {
	it('✓ closes quietly: the socket’s error on that close is counted, not thrown', async () => {
		const server = await silentServer();
		const client = new WebSocketClient(server.url, 100);
		client.connect('client' as PeerId);
		await eventually(() => server.upgrades() === 1, 'the handshake to reach the server');
		const socket = (client as unknown as { socket?: { readyState: number } }).socket;
		expect(socket?.readyState).toBe(0); // CONNECTING
		// the stock adapter removes its error listener before closing: the error event that follows
		// would be an uncaught exception here, failing this test (vitest reports it)
		client.disconnect();
		await eventually(() => client.errors === 1, 'the close to answer with an error event');
	});
});

describe('a sync server that resets the connection', () => {
	it('✓ the client counts the error and dials again instead of throwing', async () => {
		const server = await resettingServer(1);
		const client = new WebSocketClient(server.url, 100);
		cleanups.push(() => client.disconnect());
		client.connect('client' as PeerId);
		await eventually(() => client.errors > 0, 'the reset to reach the client');
		await eventually(() => server.attempts() >= 2, 'the client to dial again');
		const socket = () => (client as unknown as { socket?: { readyState: number } }).socket;
		await eventually(() => socket()?.readyState === 1, 'the second attempt to connect');
		expect(client.errors).toBeGreaterThan(0);
	});
});
