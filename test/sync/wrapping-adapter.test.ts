/**
 * automerge-repo sends from inside a document handle's update; a transport that throws there (the
 * WebSocket client does while its socket is not open: "Websocket not ready") aborts the update after
 * Automerge marked the old document outdated, and every later change of that handle fails ("Attempting
 * to change an outdated document" — seen in the cold-sync benchmark when a reader closed mid-sync).
 * Charter's wrapping adapters therefore never throw from `send`: the message is lost as on a network.
 */
import '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import type { Message, PeerId } from '@automerge/automerge-repo';
import { describe, expect, it } from 'vitest';
import { VerifyingNetworkAdapter } from '../../src/lib/sync/verifying-adapter.js';
import { freePort } from '../support/ports.js';
import { eventually } from '../support/wait.js';

describe('a wrapped transport that cannot send', () => {
	it('✓ does not throw into the repo; the lost message is counted', async () => {
		// a real WebSocket client whose socket is not open: nobody listens on the port
		const socket = new WebSocketClientAdapter(`ws://127.0.0.1:${await freePort()}`);
		const message = {
			type: 'sync',
			senderId: 'me' as PeerId,
			targetId: 'them' as PeerId,
			documentId: '4FxPQvLtKbBXBe9aTrd7mtD5GwnJ',
			data: new Uint8Array([1, 2, 3])
		} as unknown as Message;
		const wrapped = new VerifyingNetworkAdapter(socket);
		wrapped.connect('me' as PeerId);
		expect(() => socket.send(message)).toThrow(/not ready/);
		expect(() => wrapped.send(message)).not.toThrow();
		expect(wrapped.sendFailures).toBe(1);
		// let the refused connection attempt finish before stopping its retries
		const ws = (socket as unknown as { socket?: { readyState: number } }).socket;
		await eventually(() => !ws || ws.readyState === 3, 'the connection attempt to fail');
		socket.disconnect();
	});
});
