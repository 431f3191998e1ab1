/**
 * Charter's sync server: a stock automerge-repo peer (WebSocket + nodefs storage) that holds no keys
 * and never reads entry bodies. It stores envelope documents — ciphertext — and relays them, within
 * limits, optionally only for allowed spaces, optionally replicating with other sync servers.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { WebSocketServer } from 'ws';
import sirv from 'sirv';
import { pino, type Logger } from 'pino';
import { Repo, type PeerId } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs';
import { admitEnvelope } from '../src/lib/index.js';
import { DEFAULT_LIMITS, type Limits, type SyncServerConfig } from './config.js';
import { createMetrics, type Metrics } from './metrics.js';
import { GuardedServerAdapter, type Admission } from './guarded-adapter.js';
import { StorageLedger } from './storage-ledger.js';

export interface SyncServerOptions extends Partial<Omit<SyncServerConfig, 'limits'>> {
	dataDir: string;
	limits?: Partial<Limits>;
	/** Custom admission (overrides `allow`). */
	admission?: Admission;
	logger?: Logger;
}

export interface RunningSyncServer {
	url: string;
	wsUrl: string;
	port: number;
	repo: Repo;
	metrics: Metrics;
	close(): Promise<void>;
}

const SERVER_PREFIX = 'sync-server-';

export async function startSyncServer(options: SyncServerOptions): Promise<RunningSyncServer> {
	const log = options.logger ?? pino({ level: options.logLevel ?? 'info' }, pino.destination(2));
	const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
	await mkdir(options.dataDir, { recursive: true });
	const metrics = createMetrics();
	const ledger = new StorageLedger(options.dataDir, limits);
	const admission: Admission | undefined =
		options.admission ??
		(options.allow?.length
			? {
					admit: async (documentId, changes) => {
						const decision = await admitEnvelope(documentId, changes, {
							spaces: options.allow!.filter((id) => id.startsWith('space_')),
							owners: options.allow!.filter((id) => id.startsWith('user_'))
						});
						return decision.admitted;
					}
				}
			: undefined);

	const statics = options.staticDir ? sirv(options.staticDir, { single: true, etag: true }) : undefined;
	let ready = false;
	const http = createServer((req: IncomingMessage, res: ServerResponse) => {
		const path = (req.url ?? '/').split('?')[0];
		if (path === '/healthz')
			return json(res, 200, { ok: true, peerId: repo.peerId, documents: ledger.documents, connections: wss.clients.size, rssBytes: process.memoryUsage().rss });
		if (path === '/readyz') return json(res, ready ? 200 : 503, { ready });
		if (path === '/metrics') {
			metrics.documents.set(ledger.documents);
			void metrics.registry.metrics().then((text) => {
				res.writeHead(200, { 'content-type': metrics.registry.contentType });
				res.end(text);
			});
			return;
		}
		if (statics) return statics(req, res, () => json(res, 404, { error: 'not found' }));
		json(res, 404, { error: 'not found' });
	});
	// ws enforces a hard ceiling; the guarded adapter closes earlier, with its own code and metric.
	const wss = new WebSocketServer({ server: http, maxPayload: Math.max(limits.maxMessageBytes * 2, 1024 * 1024) });
	wss.on('connection', (socket, req) => {
		metrics.connections.inc();
		metrics.connectionsTotal.inc();
		log.debug({ remote: req.socket.remoteAddress }, 'connection opened');
		socket.on('close', (code) => {
			metrics.connections.dec();
			log.debug({ code }, 'connection closed');
		});
	});
	const serverAdapter = new GuardedServerAdapter(wss as never, limits, metrics, ledger, log, admission);
	const peerServers = new Set<PeerId>();
	const peerAdapters = (options.peers ?? []).map((url) => {
		const adapter = new WebSocketClientAdapter(url);
		adapter.on('peer-candidate', ({ peerId }) => {
			peerServers.add(peerId);
			log.info({ url, peerId }, 'peered with sync server');
		});
		return adapter;
	});
	const storage = new NodeFSStorageAdapter(options.dataDir);
	const repo = new Repo({
		network: [serverAdapter, ...peerAdapters],
		storage,
		peerId: `${SERVER_PREFIX}${Math.random().toString(36).slice(2, 10)}` as PeerId,
		// Like the stock sync server, announce nothing to clients; replicate everything with peer servers.
		sharePolicy: async (peerId) => peerServers.has(peerId) || peerId.startsWith(SERVER_PREFIX)
	});
	await serverAdapter.attached;
	await new Promise<void>((resolve, reject) => {
		http.once('error', reject);
		http.listen(options.port ?? 3030, options.host ?? '127.0.0.1', () => resolve());
	});
	ready = true;
	const { port } = http.address() as AddressInfo;
	const host = (options.host ?? '127.0.0.1').includes(':') ? `[${options.host}]` : (options.host ?? '127.0.0.1');
	log.info({ port, host, dataDir: options.dataDir, peers: options.peers ?? [], admission: !!admission, documents: ledger.documents }, 'sync server listening');
	return {
		url: `http://${host}:${port}`,
		wsUrl: `ws://${host}:${port}`,
		port,
		repo,
		metrics,
		async close() {
			ready = false;
			for (const client of wss.clients) client.close(1001, 'server shutting down');
			const held = Object.values(repo.handles).filter((h) => h.isReady()).map((h) => h.documentId);
			await repo.flush(held).catch((err) => log.error({ err }, 'flush failed'));
			await repo.shutdown().catch(() => undefined);
			await new Promise<void>((resolve) => wss.close(() => resolve()));
			await new Promise<void>((resolve) => http.close(() => resolve()));
			http.closeAllConnections?.();
			log.info('sync server stopped; storage flushed');
		}
	};
}

function json(res: ServerResponse, status: number, body: unknown) {
	res.writeHead(status, { 'content-type': 'application/json' });
	res.end(JSON.stringify(body));
}
