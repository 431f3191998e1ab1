/** A bare WebSocket speaking automerge-repo's wire protocol, to probe the server's limits precisely. */
import * as A from '@automerge/automerge';
import { cbor, generateAutomergeUrl, parseAutomergeUrl } from '@automerge/automerge-repo';
import { WebSocket } from 'ws';

export interface RawClient {
	serverPeerId: string;
	/** Sends a sync message that would create (or extend) a document holding `payload` bytes. */
	pushDocument(payload: Uint8Array, documentId?: string): string;
	closed: Promise<{ code: number; reason: string }>;
	close(): void;
}

export async function rawClient(wsUrl: string): Promise<RawClient> {
	const socket = new WebSocket(wsUrl);
	const senderId = `raw-${Math.random().toString(36).slice(2)}`;
	const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
	await new Promise<void>((resolve, reject) => {
		socket.once('open', () => resolve());
		socket.once('error', reject);
	});
	const peer = new Promise<string>((resolve) => socket.once('message', (data) => resolve((cbor.decode(data as Uint8Array) as { senderId: string }).senderId)));
	socket.send(cbor.encode({ type: 'join', senderId, peerMetadata: { isEphemeral: true }, supportedProtocolVersions: ['1'] }));
	const serverPeerId = await peer;
	return {
		serverPeerId,
		pushDocument(payload, documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId) {
			const doc = A.change(A.init<{ blob?: Uint8Array }>(), (d) => {
				d.blob = payload;
			});
			// a sync message that carries the changes at once (a real peer would after one round trip)
			const message = A.encodeSyncMessage({ heads: A.getHeads(doc), need: [], have: [{ lastSync: [], bloom: new Uint8Array() }], changes: A.getAllChanges(doc) });
			if (socket.readyState === WebSocket.OPEN)
				socket.send(cbor.encode({ type: 'sync', senderId, targetId: serverPeerId, documentId, data: message }));
			return documentId;
		},
		closed,
		close: () => socket.close()
	};
}

export async function metric(url: string, name: string, labels = ''): Promise<number> {
	const text = await (await fetch(`${url}/metrics`)).text();
	const line = text.split('\n').find((l) => l.startsWith(`${name}${labels}`) && !l.startsWith('#'));
	return line ? Number(line.split(' ').at(-1)) : 0;
}
