/**
 * Peered sync servers replicate through automerge-repo itself. A group shares a peer token; each
 * server announces everything to the others (never to clients), so every server ends up holding
 * every document, a client of either sees everything, and losing a server — even by SIGKILL —
 * loses nothing that reached the other.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Repo, type AutomergeUrl } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { CLOSE } from '../../sync-server/close-codes.js';
import { spawnServer, type ServerProcess } from './server-process.js';
import { health, metric, rawClient, until } from './raw-client.js';

const TOKEN = 'peer-token-for-the-test-group';
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
	for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

async function server(args: string[] = [], dataDir?: string): Promise<ServerProcess> {
	const s = await spawnServer({ args: ['--peer-token', TOKEN, ...args], ...(dataDir ? { dataDir } : {}) });
	cleanup.push(() => s.stop('SIGKILL'));
	return s;
}

function client(...urls: string[]): Repo {
	const repo = new Repo({ network: urls.map((u) => new WebSocketClientAdapter(u, 500)) });
	cleanup.push(() => repo.shutdown());
	return repo;
}

async function read(url: string, doc: AutomergeUrl): Promise<string | undefined> {
	const repo = client(url);
	const handle = await repo.find<{ note: string }>(doc, { signal: AbortSignal.timeout(8000) });
	return handle.doc().note;
}

const peerCount = (s: ServerProcess) => metric(s.url, 'charter_sync_peer_servers');
const holds = async (s: ServerProcess, n: number) => (await health(s.url)).documents >= n;

describe('peered sync servers', () => {
	it('✓ replicate both ways without being asked; a client of the survivor reads everything after a SIGKILL', async () => {
		const a = await server();
		const b = await server(['--peer', a.wsUrl]);
		await until(async () => (await peerCount(a)) === 1 && (await peerCount(b)) === 1, 'A and B to see each other as peers');

		// Alice writes on A, Bob on B; nobody ever asks the other server for these documents
		const fromA = client(a.wsUrl).create({ note: 'written on A' });
		const fromB = client(b.wsUrl).create({ note: 'written on B' });
		await until(() => holds(b, 2), 'B to hold both documents');
		await until(() => holds(a, 2), 'A to hold both documents');

		// Dave uses both servers at once; A dies without a goodbye
		const dave = client(a.wsUrl, b.wsUrl);
		const daves = await dave.find<{ note: string }>(fromA.url);
		expect(await a.stop('SIGKILL')).toBe(null);
		daves.change((d) => {
			d.note = 'edited after A died';
		});
		expect(await read(b.wsUrl, fromA.url)).toBeDefined();
		await until(async () => (await read(b.wsUrl, fromA.url)) === 'edited after A died', 'B to serve Dave’s edit');
		expect(await read(b.wsUrl, fromB.url)).toBe('written on B');
		expect((await health(b.url)).ok).toBe(true); // B survived its peer's abrupt death
		expect(await peerCount(b)).toBe(0);
	});

	it('✓ a restarted server pushes its stored backlog to a new, empty peer', async () => {
		const b = await server();
		const notes = Array.from({ length: 5 }, (_, i) => client(b.wsUrl).create({ note: `backlog ${i}` }));
		await until(() => holds(b, 5), 'B to hold the backlog');
		expect(await b.stop('SIGTERM')).toBe(0);

		const c = await server(); // empty
		const restarted = await server(['--peer', c.wsUrl], b.dataDir);
		await until(() => holds(c, 5), 'C to receive the backlog');
		expect(await restarted.stop('SIGKILL')).toBe(null);
		for (const [i, n] of notes.entries()) expect(await read(c.wsUrl, n.url)).toBe(`backlog ${i}`);
	});

	it('✓ a client cannot pose as a peer server by reusing its peer id', async () => {
		const a = await server();
		const b = await server(['--peer', a.wsUrl]);
		await until(async () => (await peerCount(a)) === 1, 'A to see B');
		const impostor = await rawClient(a.wsUrl, (await health(b.url)).peerId);
		expect((await impostor.closed).code).toBe(CLOSE.impersonation);
		expect(await metric(a.url, 'charter_sync_rejections_total', '{reason="impersonation"}')).toBe(1);
		expect(await peerCount(a)).toBe(1); // B's own connection was not displaced
	});

	it('✓ without the token a dialing server is just a client: it pulls on demand but gets nothing announced', async () => {
		const a = await spawnServer();
		cleanup.push(() => a.stop('SIGKILL'));
		const b = await spawnServer({ args: ['--peer', a.wsUrl] });
		cleanup.push(() => b.stop('SIGKILL'));
		await until(async () => (await peerCount(b)) === 1, 'B to dial A');
		const onA = client(a.wsUrl).create({ note: 'only on A' });
		await until(() => holds(a, 1), 'A to hold it');
		await new Promise((r) => setTimeout(r, 500));
		expect((await health(b.url)).documents).toBe(0); // not pushed: A treats B as a client
		expect(await read(b.wsUrl, onA.url)).toBe('only on A'); // but B asks A when a client asks B
	});
});
