/**
 * Sync server load: N concurrent WebSocket clients on loopback, each pushing a small document and
 * waiting for the server's sync reply; reports connections held, reply latency p50/p99 and server
 * memory — for Charter's server and, side by side, a plain automerge-repo server. `--soak S` instead
 * runs S seconds of clients connecting and disconnecting, then checks that nothing was lost.
 *
 *   npm run bench -- server [--clients 1000] [--seconds 10] [--soak 60]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as A from '@automerge/automerge';
import { cbor, generateAutomergeUrl, parseAutomergeUrl, Repo } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { WebSocket } from 'ws';

export const SERVER_PARAMS = { clients: 1000, seconds: 10, connectBatch: 100 };
const root = resolve(import.meta.dirname, '..');

interface Started {
	url: string;
	child: ChildProcess;
}

async function start(kind: 'charter' | 'stock', dataDir?: string): Promise<Started & { data: string }> {
	const data = dataDir ?? (await mkdtemp(join(tmpdir(), `bench-${kind}-`)));
	const script = kind === 'charter' ? join(root, 'sync-server/main.ts') : join(root, 'bench/stock-server.ts');
	const args = kind === 'charter' ? ['--port', '0', '--data', data, '--log-level', 'warn', '--messages-per-second', '100000', '--documents-per-hour', '1000000'] : ['--data', data];
	const child = spawn(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
	const url = await new Promise<string>((resolveUrl, reject) => {
		let out = '';
		child.stdout!.on('data', (d) => {
			out += d;
			const m = /listening on (http:\/\/\S+)/.exec(out);
			if (m) resolveUrl(m[1]!);
		});
		child.once('exit', (code) => reject(new Error(`${kind} server exited ${code}`)));
	});
	return { url, child, data };
}

/** The server process's own resident memory (tsx runs it in a child of the pid we spawned). */
async function rssMb(url: string): Promise<number> {
	const health = (await (await fetch(`${url}/healthz`)).json()) as { rssBytes: number };
	return health.rssBytes / (1024 * 1024);
}

function percentile(sorted: number[], p: number) {
	return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;
}

/** One protocol-level client: join, push a small document, time the server's first sync reply. */
function loadClient(wsUrl: string, latencies: number[]): Promise<WebSocket> {
	return new Promise((resolveSocket, reject) => {
		const socket = new WebSocket(wsUrl);
		const senderId = `bench-${Math.random().toString(36).slice(2)}`;
		let serverId = '';
		let sentAt = 0;
		socket.on('error', (error) => (sentAt || !serverId ? reject(error) : undefined)); // later errors: the run is over
		socket.on('open', () => socket.send(cbor.encode({ type: 'join', senderId, peerMetadata: { isEphemeral: true }, supportedProtocolVersions: ['1'] })));
		socket.on('message', (data) => {
			const message = cbor.decode(data as Uint8Array) as { type: string; senderId: string };
			if (message.type === 'peer') {
				serverId = message.senderId;
				const doc = A.change(A.init<{ entries: Record<string, Uint8Array> }>(), (d) => {
					d.entries = { e: crypto.getRandomValues(new Uint8Array(256)) };
				});
				const [, sync] = A.generateSyncMessage(doc, A.initSyncState());
				sentAt = performance.now();
				socket.send(cbor.encode({ type: 'sync', senderId, targetId: serverId, documentId: parseAutomergeUrl(generateAutomergeUrl()).documentId, data: sync! }));
			} else if (sentAt) {
				latencies.push(performance.now() - sentAt);
				sentAt = 0;
				resolveSocket(socket);
			}
		});
	});
}


export async function serverLoad(kind: 'charter' | 'stock', clients = SERVER_PARAMS.clients, seconds = SERVER_PARAMS.seconds) {
	const server = await start(kind);
	const wsUrl = server.url.replace('http', 'ws');
	const latencies: number[] = [];
	const sockets: WebSocket[] = [];
	const started = performance.now();
	for (let i = 0; i < clients; i += SERVER_PARAMS.connectBatch) {
		const batch = await Promise.allSettled(Array.from({ length: Math.min(SERVER_PARAMS.connectBatch, clients - i) }, () => loadClient(wsUrl, latencies)));
		for (const r of batch) if (r.status === 'fulfilled') sockets.push(r.value);
	}
	const connectMs = performance.now() - started;
	await new Promise((r) => setTimeout(r, seconds * 1000));
	const held = sockets.filter((s) => s.readyState === WebSocket.OPEN).length;
	const memory = await rssMb(server.url);
	for (const s of sockets) s.terminate();
	server.child.kill('SIGTERM');
	latencies.sort((a, b) => a - b);
	return { kind, clients, held, connectMs, p50: percentile(latencies, 50), p99: percentile(latencies, 99), rssMb: memory };
}

/** Clients come and go for `seconds`; afterwards every document they wrote must be on the server. */
export async function soak(seconds: number) {
	const server = await start('charter');
	const wsUrl = server.url.replace('http', 'ws');
	const written: { url: string; value: number }[] = [];
	const deadline = Date.now() + seconds * 1000;
	let rounds = 0;
	while (Date.now() < deadline) {
		const repos = Array.from({ length: 20 }, () => new Repo({ network: [new WebSocketClientAdapter(wsUrl)] }));
		for (const repo of repos) {
			const value = written.length;
			const handle = repo.create<{ value: number }>({ value });
			written.push({ url: handle.url, value });
		}
		await new Promise((r) => setTimeout(r, 400));
		await Promise.all(repos.map((r) => r.shutdown().catch(() => undefined)));
		rounds++;
	}
	server.child.kill('SIGTERM');
	await new Promise((r) => server.child.once('exit', r));
	// restart on the same data directory and read everything back
	const again = await start('charter', server.data);
	const checker = new Repo({ network: [new WebSocketClientAdapter(again.url.replace('http', 'ws'))] });
	let found = 0;
	for (const w of written) {
		const handle = await checker.find<{ value: number }>(w.url as never, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
		if (handle?.doc()?.value === w.value) found++;
	}
	await checker.shutdown().catch(() => undefined);
	again.child.kill('SIGTERM');
	return { seconds, rounds, documents: written.length, found, lost: written.length - found };
}
