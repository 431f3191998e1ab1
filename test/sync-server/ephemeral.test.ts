/**
 * Story: two stock automerge-repo clients share a document through the sync server and send each
 * other ephemeral messages (Charter's presence and typing signals travel this way).
 * - The server relays them between the clients of the document, stores none, and counts them.
 * - What a client passes back (automerge-repo forwards what it hears to its other peers, the
 *   server included) is dropped as an echo and costs that client's budget nothing.
 * - A client flooding them gets the excess dropped past --ephemeral-per-second (counted), and keeps
 *   its connection: its document still syncs.
 * - Junk (not a byte string of a signal's size) and messages for a document the server does not
 *   hold are dropped and counted, and relayed to nobody.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import {
	cbor,
	generateAutomergeUrl,
	parseAutomergeUrl,
	Repo,
	type DocHandle
} from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { startSyncServer, type RunningSyncServer } from '../../sync-server/server.js';
import { metric, rawClient, until } from './raw-client.js';
import { filesUnder } from '../support/stored.js';

const silent = pino({ level: 'silent' });
let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
	for (const c of cleanup.reverse()) await c().catch(() => undefined);
	cleanup = [];
});

async function serve(ephemeralPerSecond?: number) {
	const dataDir = await mkdtemp(join(tmpdir(), 'charter-ephemeral-'));
	const server = await startSyncServer({
		port: 0,
		dataDir,
		logger: silent,
		allowUnsealed: true, // stock automerge-repo clients carry no publication seals
		...(ephemeralPerSecond === undefined ? {} : { limits: { ephemeralPerSecond } })
	});
	cleanup.push(() => server.close());
	return { server, dataDir };
}

function client(server: RunningSyncServer): Repo {
	const repo = new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] });
	cleanup.push(() => repo.shutdown());
	return repo;
}

/** Ada's document, held by the server, and Ben's handle of it. */
async function shared(server: RunningSyncServer) {
	const ada = client(server).create<{ note: string }>({ note: 'hello' });
	await until(
		() => ada.getSyncInfo(server.storageId)?.lastHeads?.length,
		'the server to hold the document'
	);
	const ben = await client(server).find<{ note: string }>(ada.url);
	const heard: unknown[] = [];
	ben.on('ephemeral-message', ({ message }) => heard.push(message));
	return { ada, ben, heard };
}

const ephemeral = (server: RunningSyncServer, outcome: string) =>
	metric(server.url, 'charter_sync_ephemeral_messages_total', `{outcome="${outcome}"}`);

/** Keeps broadcasting until Ben hears one: the server only relays to peers that synced the document. */
async function firstHeard(ada: DocHandle<unknown>, heard: unknown[], data: Uint8Array) {
	await until(() => {
		ada.broadcast(data);
		return heard.length > 0;
	}, 'Ben to hear Ada');
}

describe('ephemeral messages through the sync server', () => {
	it('✓ are relayed between the clients of a document, counted, and never stored', async () => {
		const { server, dataDir } = await serve();
		const { ada, ben, heard } = await shared(server);
		const marker = new TextEncoder().encode('ephemeral-marker-never-stored');
		await firstHeard(ada, heard, marker);
		// ✓ Ben heard Ada's bytes as they were sent
		expect(heard[0]).toEqual(marker);
		expect(await ephemeral(server, 'relayed')).toBeGreaterThanOrEqual(1);
		// ✓ nothing about them on disk, the document unchanged
		await server.close();
		const disk = Buffer.concat(
			await Promise.all((await filesUnder(dataDir)).map((f) => readFile(f)))
		);
		expect(disk.includes(Buffer.from('hello'))).toBe(true); // the document itself is there
		expect(disk.includes(Buffer.from(marker))).toBe(false);
		expect(ben.doc().note).toBe('hello');
	});

	it('✓ a flood past --ephemeral-per-second is dropped and counted; the connection stays and still syncs', async () => {
		const startedAt = performance.now();
		const { server } = await serve(2);
		const { ada, ben, heard } = await shared(server);
		await firstHeard(ada, heard, new Uint8Array([1]));
		const relayedBefore = await ephemeral(server, 'relayed');
		for (let i = 0; i < 200; i++) ada.broadcast(new Uint8Array([i & 0xff]));
		// ✓ the excess is dropped: at most the burst (10 s at 2/s) got through
		await until(async () => (await ephemeral(server, 'rate-limited')) > 0, 'drops to be counted');
		const dropped = await ephemeral(server, 'rate-limited');
		await until(
			async () =>
				(await ephemeral(server, 'relayed')) - relayedBefore + dropped >= 200 ||
				(await ephemeral(server, 'rate-limited')) +
					(await ephemeral(server, 'relayed')) -
					relayedBefore >=
					200,
			'the flood to be judged'
		);
		// every message of Ada's connection drew on one bucket: a burst of 10 s at 2/s, then 2/s
		const seconds = (performance.now() - startedAt) / 1000;
		const relayed = await ephemeral(server, 'relayed');
		expect(relayed).toBeLessThanOrEqual(2 * 10 + 2 * seconds + 1);
		expect(await ephemeral(server, 'rate-limited')).toBeGreaterThanOrEqual(200 - 2 * 10);
		// ✓ Ben's repo passes each message it hears back to the server: dropped as echoes, free of charge
		expect(await ephemeral(server, 'echo')).toBeGreaterThanOrEqual(1);
		// ✓ the connection stayed: a change still reaches Ben
		ada.change((d) => (d.note = 'still here'));
		await until(() => ben.doc().note === 'still here', 'the change to reach Ben');
	});

	it('✓ junk and messages for a document the server does not hold are dropped and counted', async () => {
		const { server } = await serve();
		const { ada, heard, ben } = await shared(server);
		await firstHeard(ada, heard, new Uint8Array([1]));
		// not a byte string: the server never decodes it for anyone
		ada.broadcast({ not: 'a signal' });
		ada.broadcast(new Uint8Array(10_000));
		await until(async () => (await ephemeral(server, 'malformed')) === 2, 'junk to be dropped');
		// a document id the server never saw
		const raw = await rawClient(server.wsUrl, 'raw-stranger');
		cleanup.push(async () => raw.close());
		raw.sendRaw(
			cbor.encode({
				type: 'ephemeral',
				senderId: 'raw-stranger',
				targetId: raw.serverPeerId,
				documentId: parseAutomergeUrl(generateAutomergeUrl()).documentId,
				sessionId: 'stray',
				count: 1,
				data: cbor.encode(new Uint8Array([2]))
			})
		);
		await until(
			async () => (await ephemeral(server, 'unknown-document')) >= 1,
			'the stray to be dropped'
		);
		// ✓ then a real one still comes through, and nothing else did
		ada.broadcast(new Uint8Array([3]));
		await until(() => heard.some((m) => m instanceof Uint8Array && m[0] === 3), 'the next message');
		// ✓ Ben never heard the junk nor the stray
		expect(heard.every((m) => m instanceof Uint8Array && m.length === 1 && m[0] !== 2)).toBe(true);
		expect(ben.doc().note).toBe('hello');
	});
});
