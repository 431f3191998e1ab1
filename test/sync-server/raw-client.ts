/**
 * Test helpers: a bare WebSocket speaking automerge-repo's wire protocol (to probe the server's
 * limits precisely, as a hostile client would), a metric reader and an async `until`.
 */
import * as A from '@automerge/automerge';
import { cbor, generateAutomergeUrl, parseAutomergeUrl } from '@automerge/automerge-repo';
import { WebSocket } from 'ws';

export interface RawClient {
	serverPeerId: string;
	/**
	 * Sends a sync message that would create (or extend) a document holding `payload` bytes, with
	 * every change at once (a real peer would after one round trip). `type` "request" is what a peer
	 * lacking the document sends; the repo applies its data all the same.
	 */
	pushDocument(
		payload: Uint8Array,
		options?: { documentId?: string; type?: 'sync' | 'request' }
	): string;
	sendRaw(bytes: Uint8Array): void;
	closed: Promise<{ code: number; reason: string }>;
	close(): void;
}

export async function rawClient(
	wsUrl: string,
	senderId = `raw-${Math.random().toString(36).slice(2)}`
): Promise<RawClient> {
	const socket = new WebSocket(wsUrl);
	const closed = new Promise<{ code: number; reason: string }>((resolve) =>
		socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
	);
	socket.on('error', () => undefined); // a server closing on us is what several tests expect
	await new Promise<void>((resolve, reject) => {
		socket.once('open', () => resolve());
		socket.once('error', reject);
	});
	const peer = new Promise<string>((resolve) =>
		socket.once('message', (data) =>
			resolve((cbor.decode(data as Uint8Array) as { senderId: string }).senderId)
		)
	);
	socket.send(
		cbor.encode({
			type: 'join',
			senderId,
			peerMetadata: { isEphemeral: true },
			supportedProtocolVersions: ['1']
		})
	);
	const serverPeerId = await Promise.race([peer, closed.then(() => '')]);
	const send = (bytes: Uint8Array) => {
		if (socket.readyState === WebSocket.OPEN) socket.send(bytes);
	};
	return {
		serverPeerId,
		pushDocument(
			payload,
			{ documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId, type = 'sync' } = {}
		) {
			const doc = A.change(A.init<{ blob?: Uint8Array }>(), (d) => {
				d.blob = payload;
			});
			const message = A.encodeSyncMessage({
				heads: A.getHeads(doc),
				need: [],
				have: [{ lastSync: [], bloom: new Uint8Array() }],
				changes: A.getAllChanges(doc)
			});
			send(cbor.encode({ type, senderId, targetId: serverPeerId, documentId, data: message }));
			return documentId;
		},
		sendRaw: send,
		closed,
		close: () => socket.close()
	};
}

export async function metric(url: string, name: string, labels = ''): Promise<number> {
	const text = await (await fetch(`${url}/metrics`)).text();
	const line = text
		.split('\n')
		.find((l) => l.startsWith(`${name}${labels} `) && !l.startsWith('#'));
	return line ? Number(line.split(' ').at(-1)) : 0;
}

export async function health(url: string): Promise<{
	ok: boolean;
	storageId: string;
	peerId: string;
	documents: number;
	connections: number;
}> {
	return (await fetch(`${url}/healthz`)).json() as never;
}

export async function until<T>(
	probe: () => Promise<T | undefined | false> | T | undefined | false,
	what: string,
	timeoutMs = 15_000
): Promise<T> {
	const start = Date.now();
	for (;;) {
		const value = await probe();
		if (value) return value;
		if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 25));
	}
}
