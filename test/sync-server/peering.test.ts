/**
 * Peered sync servers replicate through automerge-repo itself. A group shares a peer token; each
 * server announces everything to the others (never to clients), so every server ends up holding
 * every document, a client of either sees everything, and losing a server — even by SIGKILL —
 * loses nothing that reached the other.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Repo, type AutomergeUrl } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { CLOSE } from '../../sync-server/close-codes.js';
import { startSyncServer, type RunningSyncServer } from '../../sync-server/server.js';
import { spawnServer, type ServerProcess } from './server-process.js';
import { health, metric, rawClient, until } from './raw-client.js';

const TOKEN = 'peer-token-for-the-test-group';
const silent = pino({ level: 'silent' });
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
	for (const c of cleanup.reverse())
		await Promise.resolve()
			.then(c)
			.catch(() => undefined);
});

type Server = ServerProcess | RunningSyncServer;

async function processServer(args: string[] = []): Promise<ServerProcess> {
	// replication is shown with stock automerge-repo clients, whose changes carry no seals
	const s = await spawnServer({ args: ['--peer-token', TOKEN, '--allow-unsealed', ...args] });
	cleanup.push(() => s.stop('SIGKILL'));
	return s;
}

async function server(
	options: { peers?: string[]; dataDir?: string; peerToken?: string | null } = {}
): Promise<RunningSyncServer> {
	const s = await startSyncServer({
		port: 0,
		dataDir: options.dataDir ?? (await mkdtemp(join(tmpdir(), 'charter-peering-'))),
		peers: options.peers ?? [],
		...(options.peerToken === null ? {} : { peerToken: options.peerToken ?? TOKEN }),
		peerRetryMs: 500,
		logger: silent,
		allowUnsealed: true // replication is shown with stock automerge-repo clients
	});
	cleanup.push(() => s.close());
	return s;
}

function client(...urls: string[]): Repo {
	const repo = new Repo({ network: urls.map((u) => new WebSocketClientAdapter(u, 500)) });
	cleanup.push(async () => repo.shutdown());
	return repo;
}

async function read(s: Server, doc: AutomergeUrl): Promise<string | undefined> {
	const handle = await client(s.wsUrl).find<{ note: string }>(doc, {
		signal: AbortSignal.timeout(8000)
	});
	return handle.doc().note;
}

const peerCount = (s: Server) => metric(s.url, 'charter_sync_peer_servers');
const holds = async (s: Server, n: number) => (await health(s.url)).documents >= n;

describe('peered sync servers', () => {
	it('✓ replicate both ways without being asked; a client of the survivor reads everything after a SIGKILL', async () => {
		const a = await processServer();
		const b = await processServer(['--peer', a.wsUrl]);
		await until(
			async () => (await peerCount(a)) === 1 && (await peerCount(b)) === 1,
			'A and B to see each other as peers'
		);

		// Alice writes on A, Bob on B; nobody ever asks the other server for these documents
		const fromA = client(a.wsUrl).create({ note: 'written on A' });
		const fromB = client(b.wsUrl).create({ note: 'written on B' });
		await until(() => holds(b, 2), 'B to hold both documents');
		await until(() => holds(a, 2), 'A to hold both documents');

		// Dave uses both servers at once; A dies without a goodbye
		const daves = await client(a.wsUrl, b.wsUrl).find<{ note: string }>(fromA.url);
		expect(await a.stop('SIGKILL')).toBe(null);
		daves.change((d) => {
			d.note = 'edited after A died';
		});
		await until(
			async () => (await read(b, fromA.url)) === 'edited after A died',
			'B to serve Dave’s edit'
		);
		expect(await read(b, fromB.url)).toBe('written on B');
		expect((await health(b.url)).ok).toBe(true); // B survived its peer's abrupt death
		expect(await peerCount(b)).toBe(0);
	});

	it('✓ a restarted server pushes its stored backlog to a new, empty peer', async () => {
		const dataDir = await mkdtemp(join(tmpdir(), 'charter-backlog-'));
		const b = await server({ dataDir });
		const notes = Array.from({ length: 5 }, (_, i) =>
			client(b.wsUrl).create({ note: `backlog ${i}` })
		);
		await until(() => holds(b, 5), 'B to hold the backlog');
		await b.close();

		const c = await server(); // empty, and nobody will ask it for these documents
		const restarted = await server({ peers: [c.wsUrl], dataDir });
		await until(() => holds(c, 5), 'C to receive the backlog');
		await restarted.close();
		for (const [i, n] of notes.entries()) expect(await read(c, n.url)).toBe(`backlog ${i}`);
	});

	it('✓ a client cannot pose as a peer server by reusing its peer id', async () => {
		const a = await server();
		const b = await server({ peers: [a.wsUrl] });
		await until(async () => (await peerCount(a)) === 1, 'A to see B');
		const impostor = await rawClient(a.wsUrl, b.peerId);
		expect((await impostor.closed).code).toBe(CLOSE.impersonation);
		expect(await metric(a.url, 'charter_sync_rejections_total', '{reason="impersonation"}')).toBe(
			1
		);
		expect(await peerCount(a)).toBe(1); // B's own connection was not displaced
	});

	it('✓ shutting down while a peer connection is still being established is clean', async () => {
		// a TCP listener that never answers the WebSocket handshake keeps the dial "connecting"
		const silentPeer = createNetServer(() => undefined);
		await new Promise<void>((r) => silentPeer.listen(0, '127.0.0.1', () => r()));
		cleanup.push(async () => silentPeer.close());
		const s = await server({
			peers: [`ws://127.0.0.1:${(silentPeer.address() as AddressInfo).port}`]
		});
		await new Promise((r) => setTimeout(r, 100));
		await s.close(); // the stock adapter would throw "closed before the connection was established" here
		expect(await peerCount(s).catch(() => 'closed')).toBe('closed');
	});

	it('✓ without the token a dialing server is just a client: it pulls on demand but gets nothing announced', async () => {
		const a = await server({ peerToken: null });
		const b = await server({ peerToken: null, peers: [a.wsUrl] });
		await until(async () => (await peerCount(b)) === 1, 'B to dial A');
		const onA = client(a.wsUrl).create({ note: 'only on A' });
		await until(() => holds(a, 1), 'A to hold it');
		await new Promise((r) => setTimeout(r, 300));
		expect((await health(b.url)).documents).toBe(0); // not pushed: A treats B as a client
		expect(await read(b, onA.url)).toBe('only on A'); // but B asks A when a client asks B
	});
});
