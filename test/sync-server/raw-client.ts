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
	/** Sends these raw changes for a document (default: a new random id) in one sync message. */
	pushChanges(changes: Uint8Array[], options?: { documentId?: string }): string;
	/** Asks for a document (default: a new random id) with a change-free "request", as a peer lacking it does. */
	ask(documentId?: string): string;
	/** Every message the server sent us so far, decoded. */
	received: { type: string; documentId?: string }[];
	sendRaw(bytes: Uint8Array): void;
	closed: Promise<{ code: number; reason: string }>;
	close(): void;
}

export async function rawClient(
	wsUrl: string,
	senderId = `raw-${Math.random().toString(36).slice(2)}`,
	/** Connect from this loopback address (127.0.0.2, …) to look like another host. */
	localAddress?: string
): Promise<RawClient> {
	const socket = new WebSocket(wsUrl, localAddress ? { localAddress } : {});
	const received: { type: string; documentId?: string }[] = [];
	socket.on('message', (data) => received.push(cbor.decode(data as Uint8Array) as never));
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
	const newId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId;
	const sync = (type: string, documentId: string, data: Uint8Array) =>
		send(cbor.encode({ type, senderId, targetId: serverPeerId, documentId, data }));
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
		pushChanges(changes, { documentId = newId() } = {}) {
			const doc = A.applyChanges(A.init(), changes)[0];
			const message = A.encodeSyncMessage({
				heads: A.getHeads(doc),
				need: [],
				have: [{ lastSync: [], bloom: new Uint8Array() }],
				changes
			});
			sync('sync', documentId, message);
			return documentId;
		},
		ask(documentId = newId()) {
			const message = A.encodeSyncMessage({ heads: [], need: [], have: [], changes: [] });
			sync('request', documentId, message);
			return documentId;
		},
		received,
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

/**
 * A connection storm: `count` WebSockets open at once, each joins as an ephemeral automerge-repo
 * peer, and all drop together. Resolves once every socket is closed.
 */
export async function joinAndDrop(wsUrl: string, count: number): Promise<void> {
	const sockets = await Promise.all(
		Array.from(
			{ length: count },
			() =>
				new Promise<WebSocket>((resolve, reject) => {
					const socket = new WebSocket(wsUrl);
					socket.on('error', reject);
					socket.once('open', () => resolve(socket));
				})
		)
	);
	const closed = sockets.map((s) => new Promise((r) => s.once('close', r)));
	sockets.forEach((socket, i) =>
		socket.send(
			cbor.encode({
				type: 'join',
				senderId: `storm-${i}`,
				peerMetadata: { isEphemeral: true },
				supportedProtocolVersions: ['1']
			})
		)
	);
	for (const socket of sockets) socket.close();
	await Promise.all(closed);
}
