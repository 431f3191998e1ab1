/**
 * Charter's sync server: a stock automerge-repo peer (WebSocket + nodefs storage) that holds no keys
 * and never parses document bodies. It only ever stores envelope documents' ciphertext.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { WebSocketServer } from 'ws';
import sirv from 'sirv';
import { Repo, type PeerId } from '@automerge/automerge-repo';
import { NodeWSServerAdapter } from '@automerge/automerge-repo-network-websocket';
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs';

export interface SyncServerOptions {
	port: number;
	host: string;
	dataDir: string;
	staticDir?: string;
}

export interface RunningSyncServer {
	url: string;
	wsUrl: string;
	port: number;
	repo: Repo;
	close(): Promise<void>;
}

export async function startSyncServer(options: SyncServerOptions): Promise<RunningSyncServer> {
	await mkdir(options.dataDir, { recursive: true });
	const statics = options.staticDir ? sirv(options.staticDir, { single: true, dev: false, etag: true }) : undefined;
	let ready = false;
	const http = createServer((req: IncomingMessage, res: ServerResponse) => {
		const path = (req.url ?? '/').split('?')[0];
		if (path === '/healthz') return json(res, 200, { ok: true, peerId: repo.peerId });
		if (path === '/readyz') return json(res, ready ? 200 : 503, { ready });
		if (statics) return statics(req, res, () => json(res, 404, { error: 'not found' }));
		json(res, 404, { error: 'not found' });
	});
	const wss = new WebSocketServer({ server: http });
	const repo = new Repo({
		network: [new NodeWSServerAdapter(wss as never)],
		storage: new NodeFSStorageAdapter(options.dataDir),
		peerId: `sync-server-${Math.random().toString(36).slice(2, 10)}` as PeerId,
		sharePolicy: async () => false
	});
	await new Promise<void>((resolve, reject) => {
		http.once('error', reject);
		http.listen(options.port, options.host, () => resolve());
	});
	ready = true;
	const { port } = http.address() as AddressInfo;
	const host = options.host.includes(':') ? `[${options.host}]` : options.host;
	return {
		url: `http://${host}:${port}`,
		wsUrl: `ws://${host}:${port}`,
		port,
		repo,
		async close() {
			ready = false;
			for (const client of wss.clients) client.terminate();
			await repo.flush().catch(() => undefined);
			await repo.shutdown().catch(() => undefined);
			await new Promise<void>((resolve) => wss.close(() => resolve()));
			await new Promise<void>((resolve) => http.close(() => resolve()));
		}
	};
}

function json(res: ServerResponse, status: number, body: unknown) {
	res.writeHead(status, { 'content-type': 'application/json' });
	res.end(JSON.stringify(body));
}
