/**
 * Sync server load, measured with real automerge-repo clients (Repo + WebSocketClientAdapter, one
 * WebSocket each) on loopback against the server running as its own process:
 *
 *   load  N clients connect (in batches), each creates a small document and waits for the server to
 *         confirm it (`remote-heads` for the server's storage id — what Charter's "guaranteed"
 *         durability waits for); then all stay connected for S seconds, each changing its document
 *         every few seconds and timing the confirmation again. Reports connections held, confirm
 *         latency p50/p99 (first sync and steady state) and the server's RSS and heap.
 *   soak  for S seconds, waves of clients connect, write, edit earlier documents and disconnect;
 *         then the server restarts on the same data directory and every confirmed value is checked.
 *   storm D documents are created (bare wire clients, 1,000 per connection), then C connections
 *         join and drop at once; /healthz is polled from another process throughout. Reports the
 *         longest /healthz silence and the server's RSS before and after (issue 12, item 6).
 *
 *   tsx bench/server.ts [--clients 200] [--seconds 10] [--stock] [--soak 120]
 *   tsx bench/server.ts --storm 600 [--documents 2000] [--stock]
 *   npm run bench -- server [--clients 1000] [--seconds 10] [--soak 60]   (side by side with plain)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Repo, type AutomergeUrl, type DocHandle } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { joinAndDrop, rawClient } from '../test/sync-server/raw-client.js';
import { pollUntilStopped } from '../test/sync-server/server-process.js';

export const SERVER_PARAMS = { clients: 1000, seconds: 10, connectBatch: 100, changeEveryMs: 5000 };
const root = resolve(import.meta.dirname, '..');

type Kind = 'charter' | 'stock';

interface ServerProcess {
	url: string;
	wsUrl: string;
	dataDir: string;
	child: ChildProcess;
	stop(): Promise<void>;
}

/** One process, no tsx wrapper in between, so /proc/<pid> is the server itself. */
async function startServer(kind: Kind, dataDir?: string): Promise<ServerProcess> {
	const data = dataDir ?? (await mkdtemp(join(tmpdir(), `bench-${kind}-`)));
	const script =
		kind === 'charter' ? join(root, 'sync-server/main.ts') : join(root, 'bench/stock-server.ts');
	// the load clients are plain automerge-repo repos (unsealed changes): this measures the relay's
	// capacity, not its seal checks (one signature per message and writer; see bench/sync.ts)
	const args =
		kind === 'charter'
			? ['--port', '0', '--data', data, '--log-level', 'warn', '--allow-unsealed']
			: ['--data', data];
	const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
		cwd: root,
		stdio: ['ignore', 'pipe', 'inherit']
	});
	const url = await new Promise<string>((resolveUrl, reject) => {
		let out = '';
		child.stdout!.on('data', (d) => {
			out += d;
			const m = /listening on (http:\/\/\S+)/.exec(out);
			if (m) resolveUrl(m[1]!);
		});
		child.once('exit', (code) => reject(new Error(`${kind} server exited ${code}`)));
	});
	const exited = new Promise<void>((r) => child.once('exit', () => r()));
	return {
		url,
		wsUrl: url.replace(/^http/, 'ws'),
		dataDir: data,
		child,
		stop: () => {
			child.kill('SIGTERM');
			return exited;
		}
	};
}

async function serverMemory(
	server: ServerProcess
): Promise<{ rssMb: number; heapMb: number | undefined }> {
	const status = await readFile(`/proc/${server.child.pid}/status`, 'utf8');
	const rssMb = Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
	const health = (await (await fetch(`${server.url}/healthz`)).json().catch(() => ({}))) as {
		heapUsedBytes?: number;
	};
	return {
		rssMb,
		heapMb: health.heapUsedBytes === undefined ? undefined : health.heapUsedBytes / 2 ** 20
	};
}

function percentile(sorted: number[], p: number): number {
	return sorted.length
		? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
		: NaN;
}

const sameHeads = (a: readonly string[], b: readonly string[]) =>
	a.length === b.length && a.every((h) => b.includes(h));

/**
 * Milliseconds until a server (any storage id) reports heads that cover ours: exactly ours, or — when
 * others wrote concurrently — heads that include ours, or that we have merged to as well.
 */
function confirmation(handle: DocHandle<unknown>, timeoutMs = 30_000): Promise<number> {
	const started = performance.now();
	const want = handle.heads();
	return new Promise((resolveMs, reject) => {
		const timer = setTimeout(() => {
			handle.off('remote-heads', listener);
			reject(new Error('not confirmed'));
		}, timeoutMs);
		const listener = ({ heads }: { heads: readonly string[] }) => {
			if (!want.every((h) => heads.includes(h)) && !sameHeads(heads, handle.heads())) return;
			clearTimeout(timer);
			handle.off('remote-heads', listener);
			resolveMs(performance.now() - started);
		};
		handle.on('remote-heads', listener);
	});
}

/**
 * The stock client adapter, except that shutting a repo down while its socket is still connecting
 * does not crash the benchmark (the stock adapter removes its error listener first, and ws then
 * throws "closed before the connection was established").
 */
class BenchClientAdapter extends WebSocketClientAdapter {
	override disconnect(): void {
		this.socket?.addEventListener('error', () => undefined);
		if (this.socket) super.disconnect();
	}
}

const benchRepo = (wsUrl: string) => new Repo({ network: [new BenchClientAdapter(wsUrl)] });

interface Client {
	repo: Repo;
	handle: DocHandle<{ entries: Record<string, Uint8Array>; edits: number }>;
}

/** A client like Charter's wire repo: a small envelope-like document of opaque entries. */
async function connectClient(wsUrl: string, latencies: number[]): Promise<Client> {
	const repo = benchRepo(wsUrl);
	const handle = repo.create<Client['handle'] extends DocHandle<infer T> ? T : never>({
		entries: { e0: crypto.getRandomValues(new Uint8Array(256)) },
		edits: 0
	});
	latencies.push(await confirmation(handle));
	return { repo, handle };
}

async function shutdown(repo: Repo): Promise<void> {
	// a stock client's shutdown can throw synchronously (e.g. on a socket that never opened)
	await Promise.resolve()
		.then(() => repo.shutdown())
		.catch(() => undefined);
}

export interface ServerBenchOptions {
	kind?: Kind;
	clients?: number;
	seconds?: number;
	connectBatch?: number;
	changeEveryMs?: number;
}

export interface ServerBenchResult {
	kind: Kind;
	clients: number;
	held: number;
	failed: number;
	connectMs: number;
	firstSync: { p50: number; p99: number };
	steady: { changes: number; p50: number; p99: number };
	rssMb: number;
	heapMb: number | undefined;
	idleRssMb: number;
}

export async function runServerBench(options: ServerBenchOptions = {}): Promise<ServerBenchResult> {
	const {
		kind = 'charter',
		clients = 200,
		seconds = 10,
		connectBatch = SERVER_PARAMS.connectBatch,
		changeEveryMs = SERVER_PARAMS.changeEveryMs
	} = options;
	const server = await startServer(kind);
	const idle = await serverMemory(server);
	const firstSync: number[] = [];
	const connected: Client[] = [];
	let failed = 0;
	const started = performance.now();
	for (let i = 0; i < clients; i += connectBatch) {
		const batch = await Promise.allSettled(
			Array.from({ length: Math.min(connectBatch, clients - i) }, () =>
				connectClient(server.wsUrl, firstSync)
			)
		);
		for (const r of batch) {
			if (r.status === 'fulfilled') connected.push(r.value);
			else failed++;
		}
	}
	const connectMs = performance.now() - started;

	// steady state: every client changes its document every changeEveryMs (staggered), timing each confirmation
	const steady: number[] = [];
	const deadline = performance.now() + seconds * 1000;
	await Promise.all(
		connected.map(async ({ handle }, i) => {
			await new Promise((r) => setTimeout(r, (i / connected.length) * changeEveryMs));
			while (performance.now() + changeEveryMs < deadline) {
				handle.change((d) => {
					d.edits++;
					d.entries[`e${d.edits}`] = crypto.getRandomValues(new Uint8Array(256));
				});
				steady.push(await confirmation(handle).catch(() => NaN));
				await new Promise((r) => setTimeout(r, changeEveryMs));
			}
		})
	);
	const held = connected.filter(({ repo }) => repo.peers.length > 0).length;
	const memory = await serverMemory(server);
	await Promise.all(connected.map(({ repo }) => shutdown(repo)));
	await server.stop();
	firstSync.sort((a, b) => a - b);
	const confirmed = steady.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
	return {
		kind,
		clients,
		held,
		failed: failed + (steady.length - confirmed.length),
		connectMs,
		firstSync: { p50: percentile(firstSync, 50), p99: percentile(firstSync, 99) },
		steady: {
			changes: confirmed.length,
			p50: percentile(confirmed, 50),
			p99: percentile(confirmed, 99)
		},
		rssMb: memory.rssMb,
		heapMb: memory.heapMb,
		idleRssMb: idle.rssMb
	};
}

/** The shape bench/run.ts prints side by side (Charter's server vs plain automerge-repo). */
export async function serverLoad(
	kind: Kind,
	clients = SERVER_PARAMS.clients,
	seconds = SERVER_PARAMS.seconds
) {
	const r = await runServerBench({ kind, clients, seconds });
	return {
		kind,
		clients,
		held: r.held,
		connectMs: r.connectMs,
		p50: r.steady.p50,
		p99: r.steady.p99,
		rssMb: r.rssMb
	};
}

/**
 * Clients come and go for `seconds`: each wave connects 20 clients that each create a document, add
 * an edit to a document from an earlier wave (several may pick the same one, concurrently), wait for
 * the server's confirmation and disconnect. Afterwards the server restarts on its data directory
 * and every confirmed document and edit must be there.
 */
export async function soak(seconds: number, wave = 20) {
	type Doc = { edits: Record<string, number> };
	let server = await startServer('charter');
	const rssStart = (await serverMemory(server)).rssMb;
	const confirmed = new Map<AutomergeUrl, Set<string>>();
	const deadline = Date.now() + seconds * 1000;
	let rounds = 0;
	let unconfirmed = 0;
	let edits = 0;
	while (Date.now() < deadline) {
		const earlier = [...confirmed.keys()];
		await Promise.all(
			Array.from({ length: wave }, async (_, i) => {
				const repo = benchRepo(server.wsUrl);
				const note = (url: AutomergeUrl, edit: string) =>
					confirmed.set(url, (confirmed.get(url) ?? new Set()).add(edit));
				try {
					const created = `r${rounds}c${i}`;
					const mine = repo.create<Doc>({ edits: { [created]: rounds } });
					const writes = [confirmation(mine, 10_000).then(() => note(mine.url, created))];
					const other = earlier[Math.floor(Math.random() * earlier.length)];
					if (other) {
						const handle = await repo.find<Doc>(other, { signal: AbortSignal.timeout(10_000) });
						const edit = `r${rounds}e${i}`;
						handle.change((d) => {
							d.edits[edit] = rounds;
						});
						edits++;
						writes.push(confirmation(handle, 10_000).then(() => note(other, edit)));
					}
					await Promise.all(writes);
				} catch {
					unconfirmed++;
				} finally {
					await shutdown(repo);
				}
			})
		);
		rounds++;
	}
	const rssEnd = (await serverMemory(server)).rssMb;
	await server.stop();
	server = await startServer('charter', server.dataDir);
	const checker = benchRepo(server.wsUrl);
	let lost = 0;
	let checked = 0;
	const queue = [...confirmed];
	const check = async () => {
		for (let next = queue.pop(); next; next = queue.pop()) {
			const [url, expected] = next;
			const handle = await checker
				.find<Doc>(url, { signal: AbortSignal.timeout(10_000) })
				.catch(() => undefined);
			const present = handle?.doc()?.edits ?? {};
			for (const edit of expected) {
				checked++;
				if (!(edit in present)) lost++;
			}
		}
	};
	await Promise.all(Array.from({ length: 16 }, check));
	await shutdown(checker);
	await server.stop();
	return {
		seconds,
		rounds,
		clients: rounds * wave,
		documents: confirmed.size,
		'edits of others': edits,
		'confirmed writes': checked,
		unconfirmed,
		lost,
		'rss start MB': rssStart.toFixed(0),
		'rss end MB': rssEnd.toFixed(0)
	};
}

/** Documents per creating connection: under --documents-per-hour's default of 2,000. */
const DOCUMENTS_PER_CONNECTION = 1000;

export async function storm(kind: Kind, documents: number, connections: number) {
	const server = await startServer(kind);
	try {
		const creators = [];
		for (let made = 0; made < documents; made += DOCUMENTS_PER_CONNECTION) {
			const creator = await rawClient(server.wsUrl);
			const count = Math.min(DOCUMENTS_PER_CONNECTION, documents - made);
			for (let i = 0; i < count; i++) creator.pushDocument(new Uint8Array([i & 0xff]));
			creators.push({ creator, count });
		}
		// held once the repo has answered for each document (the 'peer' message is in the set too)
		const createdAt = performance.now();
		for (const { creator, count } of creators)
			while (
				new Set(creator.received.map((m) => m.type === 'sync' && m.documentId)).size <= count
			) {
				if (performance.now() - createdAt > 120_000) throw new Error('documents not held in 120 s');
				await new Promise((r) => setTimeout(r, 50));
			}
		const createS = (performance.now() - createdAt) / 1000;
		const before = await serverMemory(server);
		const poller = pollUntilStopped(`${server.url}/healthz`);
		const started = performance.now();
		await joinAndDrop(server.wsUrl, connections);
		// the storm is over when the server answers /healthz again after seeing every drop
		await fetch(`${server.url}/healthz`).then((r) => r.text());
		const stormS = (performance.now() - started) / 1000;
		const silentMs = await poller.stop();
		const after = await serverMemory(server);
		for (const { creator } of creators) creator.close();
		return {
			server: kind === 'charter' ? 'charter sync server' : 'plain automerge-repo',
			documents,
			connections,
			'create s': createS.toFixed(1),
			'storm s': stormS.toFixed(1),
			'longest /healthz wait ms': silentMs.toFixed(0),
			'rss before→after MB': `${before.rssMb.toFixed(0)} → ${after.rssMb.toFixed(0)}`
		};
	} finally {
		await server.stop();
	}
}

function printLoad(rows: ServerBenchResult[], seconds: number) {
	console.log(
		`\nSync server: concurrent automerge-repo WebSocket clients on loopback, held ${seconds} s`
	);
	console.table(
		rows.map((r) => ({
			server: r.kind === 'charter' ? 'charter sync server' : 'plain automerge-repo',
			clients: r.clients,
			held: r.held,
			failed: r.failed,
			'connect all s': (r.connectMs / 1000).toFixed(1),
			'first sync p50/p99 ms': `${r.firstSync.p50.toFixed(0)} / ${r.firstSync.p99.toFixed(0)}`,
			'steady changes': r.steady.changes,
			'steady p50/p99 ms': `${r.steady.p50.toFixed(0)} / ${r.steady.p99.toFixed(0)}`,
			'rss idle→held MB': `${r.idleRssMb.toFixed(0)} → ${r.rssMb.toFixed(0)}`,
			'heap MB': r.heapMb === undefined ? '' : r.heapMb.toFixed(0)
		}))
	);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	// stock client repos forget some rejections (60 s handle timeouts after a shutdown): not a result
	process.on('unhandledRejection', () => undefined);
	const flag = (name: string, fallback: number) => {
		const i = process.argv.indexOf(`--${name}`);
		return i > 0 ? Number(process.argv[i + 1]) : fallback;
	};
	const soakSeconds = flag('soak', 0);
	const stormConnections = flag('storm', 0);
	if (stormConnections) {
		const documents = flag('documents', 2000);
		console.log(
			`\nStorm: ${documents} documents held, then ${stormConnections} connections join and drop at once`
		);
		const kinds: Kind[] = process.argv.includes('--stock') ? ['charter', 'stock'] : ['charter'];
		const rows = [];
		for (const kind of kinds)
			rows.push(
				await storm(kind, documents, stormConnections).catch((error: Error) => ({
					server: kind,
					failed: error.message
				}))
			);
		console.table(rows);
	} else if (soakSeconds) {
		console.log(
			`\nSoak: waves of clients connecting, writing, editing and leaving for ${soakSeconds} s, then a restart`
		);
		console.table([await soak(soakSeconds)]);
	} else {
		const seconds = flag('seconds', 10);
		const clients = flag('clients', 200);
		const rows = [await runServerBench({ clients, seconds })];
		if (process.argv.includes('--stock'))
			rows.push(await runServerBench({ kind: 'stock', clients, seconds }));
		printLoad(rows, seconds);
	}
	process.exit(0);
}
