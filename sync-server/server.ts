/**
 * Charter's sync server: a stock automerge-repo peer (WebSocket + nodefs storage) that holds no keys
 * and never reads entry bodies. It stores envelope documents — ciphertext — and relays them, within
 * limits, optionally only for admitted documents, optionally replicating with other sync servers.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { WebSocketServer } from 'ws';
import { pino, type Logger } from 'pino';
import { Repo, type DocumentId, type PeerId, type StorageId } from '@automerge/automerge-repo';
import { allowListAdmission, type Admission } from './admission.js';
import { DurableNodeFSStorageAdapter } from './durable-storage.js';
import { DEFAULT_LIMITS, type Limits, type SyncServerConfig } from './config.js';
import { accountPeerWrite, GuardedServerAdapter } from './guarded-adapter.js';
import { createRequestHandler } from './http.js';
import { createMetrics, type Metrics } from './metrics.js';
import { PeerChurn } from './peer-churn.js';
import { PeerGroup } from './peering.js';
import { preloadDocuments } from './preload.js';
import { settleStorageId } from './storage-identity.js';
import { StorageLedger } from './storage-ledger.js';
import type { WireEnvelope } from './wire-envelope.js';

export interface SyncServerOptions extends Partial<Omit<SyncServerConfig, 'limits' | 'dataDir'>> {
	dataDir: string;
	limits?: Partial<Limits>;
	/** Custom admission of new documents (overrides `allow`). Default: admit everything. */
	admission?: Admission;
	/** Log here instead of a new pino logger on stderr. */
	logger?: Logger;
	/** How long a dialed peer waits before reconnecting (ms, default 3000). */
	peerRetryMs?: number;
}

export interface RunningSyncServer {
	/** http://host:port — health, metrics, static files. */
	url: string;
	/** ws://host:port — the automerge-repo endpoint. */
	wsUrl: string;
	port: number;
	repo: Repo;
	/** Announced to every peer; clients see `remote-heads` for it once the server holds their heads. */
	storageId: StorageId;
	peerId: PeerId;
	metrics: Metrics;
	/** Graceful: stop accepting, close connections, flush storage, shut the repo down. */
	close(): Promise<void>;
}

/** A readable prefix: operators see at a glance which peer ids in logs are servers. */
const PEER_ID_PREFIX = 'sync-server-';

export async function startSyncServer(options: SyncServerOptions): Promise<RunningSyncServer> {
	const log = options.logger ?? pino({ level: options.logLevel ?? 'info' }, pino.destination(2));
	const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
	const host = options.host ?? '127.0.0.1';
	await mkdir(options.dataDir, { recursive: true });
	const metrics = createMetrics();
	const ledger = new StorageLedger(options.dataDir, limits);
	const peers = new PeerGroup(options.peerToken, log, metrics);
	const admission =
		options.admission ?? (options.allow?.length ? allowListAdmission(options.allow) : undefined);
	let ready = false;

	const http = createServer(
		createRequestHandler(
			metrics,
			{
				ready: () => ready,
				health: (): Record<string, unknown> => ({
					storageId,
					peerId: repo.peerId,
					documents: ledger.documents,
					heldDocuments: ledger.held,
					connections: wss.clients.size,
					rssBytes: process.memoryUsage.rss(),
					heapUsedBytes: process.memoryUsage().heapUsed
				}),
				refreshGauges: () => {
					metrics.documents.set(ledger.documents);
					metrics.storedBytes.set(ledger.totalBytes);
				}
			},
			options.staticDir
		)
	);
	// ws's hard ceiling on a frame; the guard closes earlier (at maxMessageBytes) with its own code
	const wss = new WebSocketServer({
		server: http,
		maxPayload: Math.max(limits.maxMessageBytes * 2, 1024 * 1024)
	});
	let churn: PeerChurn | undefined = undefined; // made with the repo, below
	const serverAdapter = new GuardedServerAdapter(wss, {
		limits,
		metrics,
		ledger,
		peers,
		log,
		admission,
		requireSeals: !options.allowUnsealed,
		trustProxy: options.trustProxy === true,
		touched: (peerId, documentId) => churn?.touch(peerId, documentId)
	});
	const dialers = (options.peers ?? []).map((url) => {
		const adapter = peers.dial(url, options.peerRetryMs ?? 3000);
		adapter.on('message', (message) => accountPeerWrite(message as WireEnvelope, ledger, metrics));
		return adapter;
	});
	const storage = await new DurableNodeFSStorageAdapter(options.dataDir).open();
	const storageId = await settleStorageId(storage); // also proves the data directory is writable
	const repo = new Repo({
		network: [serverAdapter, ...dialers],
		storage,
		peerId: `${PEER_ID_PREFIX}${randomBytes(6).toString('hex')}` as PeerId,
		// like the stock sync server, announce nothing to clients; everything to peer servers
		sharePolicy: peers.sharePolicy
	});
	// a client joining or leaving costs O(documents it touched), not O(documents held)
	churn = new PeerChurn(repo, (peerId) => peers.isServer(peerId));
	serverAdapter.on('peer-disconnected', ({ peerId }) => peers.left(peerId));
	wss.on('error', (error) => log.error({ err: error }, 'WebSocket server error'));
	await serverAdapter.attached;
	try {
		await new Promise<void>((resolve, reject) => {
			http.once('error', reject);
			http.listen(options.port ?? 3030, host, () => {
				http.off('error', reject);
				resolve();
			});
		});
	} catch (error) {
		await repo.shutdown().catch(() => undefined);
		wss.close();
		throw error;
	}
	ready = true;
	const { port } = http.address() as AddressInfo;
	const shownHost = host.includes(':') ? `[${host}]` : host;
	log.info(
		{
			port,
			host,
			dataDir: options.dataDir,
			storageId,
			peerId: repo.peerId,
			peers: options.peers ?? [],
			admission: !!admission,
			documents: ledger.documents
		},
		'sync server listening'
	);

	// repos announce only documents they hold in memory: a server in a peer group loads what it has
	// on disk, so a restarted server pushes its backlog to peers and answers for every document
	const preload =
		dialers.length || peers.enabled
			? preloadDocuments(repo, [...ledger.ids()] as DocumentId[], log)
			: undefined;

	let closing: Promise<void> | undefined;
	const close = async () => {
		ready = false;
		const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
		await preload?.stop();
		serverAdapter.quiesce();
		const held = Object.values(repo.handles)
			.filter((handle) => handle.isReady())
			.map((handle) => handle.documentId);
		await repo.flush(held).catch((error: unknown) => log.error({ err: error }, 'flush failed'));
		// automerge-repo 2.5.6 can reject here if a handle that never became available is cached
		await repo.shutdown().catch(() => undefined);
		await new Promise<void>((resolve) => wss.close(() => resolve()));
		http.closeAllConnections();
		await stopped;
		await storage.idle(); // a sync state saved on a timer is whole on disk, not half-renamed
		log.info('sync server stopped; storage flushed');
	};
	return {
		url: `http://${shownHost}:${port}`,
		wsUrl: `ws://${shownHost}:${port}`,
		port,
		repo,
		storageId,
		peerId: repo.peerId,
		metrics,
		close: () => (closing ??= close())
	};
}
