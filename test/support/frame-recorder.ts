/**
 * A WebSocket man-in-the-middle on loopback that forwards every message between clients and a real
 * server and keeps a copy of each payload, so tests can assert what crossed the wire.
 */
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { AddressInfo } from 'node:net';

export interface FrameRecorder {
	url: string;
	frames: Buffer[];
	close(): Promise<void>;
}

const toBuffer = (data: RawData): Buffer =>
	Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);

export async function recordFrames(targetWsUrl: string): Promise<FrameRecorder> {
	const frames: Buffer[] = [];
	const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
	await new Promise<void>((r) => server.once('listening', () => r()));
	const sockets = new Set<WebSocket>();
	server.on('connection', (client) => {
		const upstream = new WebSocket(targetWsUrl);
		sockets.add(client);
		sockets.add(upstream);
		const queue: Buffer[] = [];
		upstream.on('open', () => queue.splice(0).forEach((m) => upstream.send(m)));
		client.on('message', (data) => {
			const buf = toBuffer(data);
			frames.push(buf);
			if (upstream.readyState === WebSocket.OPEN) upstream.send(buf);
			else queue.push(buf);
		});
		upstream.on('message', (data) => {
			const buf = toBuffer(data);
			frames.push(buf);
			if (client.readyState === WebSocket.OPEN) client.send(buf);
		});
		const closeBoth = () => {
			client.close();
			upstream.close();
		};
		client.on('close', closeBoth);
		upstream.on('close', closeBoth);
		client.on('error', closeBoth);
		upstream.on('error', closeBoth);
	});
	const { port } = server.address() as AddressInfo;
	return {
		url: `ws://127.0.0.1:${port}`,
		frames,
		close: async () => {
			for (const s of sockets) s.terminate();
			await new Promise<void>((r) => server.close(() => r()));
		}
	};
}
