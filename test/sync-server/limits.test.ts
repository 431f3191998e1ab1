/**
 * Storage abuse: each limit trips with its close code and its metric, and nothing stored before is
 * lost. The attacker is a bare WebSocket speaking automerge-repo's wire protocol; the honest party is
 * an unmodified automerge-repo client.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { cbor, generateAutomergeUrl, parseAutomergeUrl, Repo } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import {
	startSyncServer,
	type RunningSyncServer,
	type SyncServerOptions
} from '../../sync-server/server.js';
import { CLOSE, WS_MESSAGE_TOO_BIG } from '../../sync-server/close-codes.js';
import type { Limits } from '../../sync-server/config.js';
import { metric, rawClient, until } from './raw-client.js';

const silent = pino({ level: process.env.DEBUG_SERVER ? 'debug' : 'silent' });
let servers: RunningSyncServer[] = [];
afterEach(async () => {
	for (const s of servers) await s.close();
	servers = [];
});

async function serve(limits: Partial<Limits>, more: Partial<SyncServerOptions> = {}) {
	const server = await startSyncServer({
		port: 0,
		dataDir: await mkdtemp(join(tmpdir(), 'charter-limits-')),
		limits,
		logger: silent,
		// the limits are judged on stock automerge-repo traffic, which carries no publication seals
		allowUnsealed: true,
		...more
	});
	servers.push(server);
	return server;
}

/** An honest client stores a small document and waits until the server confirms it holds it. */
async function storeSomething(server: RunningSyncServer): Promise<string> {
	const repo = new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] });
	const handle = repo.create<{ note: string }>({ note: 'kept safe' });
	await until(
		() => handle.getSyncInfo(server.storageId)?.lastHeads?.length,
		'the server to confirm the document'
	);
	await repo.shutdown().catch(() => undefined);
	return handle.documentId;
}

async function stillThere(server: RunningSyncServer, documentId: string) {
	const repo = new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] });
	try {
		const handle = await repo.find<{ note: string }>(documentId as never, {
			signal: AbortSignal.timeout(5000)
		});
		return handle.doc().note;
	} finally {
		await repo.shutdown().catch(() => undefined);
	}
}

const rejections = (server: RunningSyncServer, reason: string) =>
	metric(server.url, 'charter_sync_rejections_total', `{reason="${reason}"}`);

describe('sync server limits', () => {
	it('✓ a message over --max-message-bytes closes with 4009 and counts message-too-big', async () => {
		const server = await serve({ maxMessageBytes: 4096 });
		const kept = await storeSomething(server);
		const raw = await rawClient(server.wsUrl);
		raw.pushDocument(new Uint8Array(20_000).fill(7));
		expect((await raw.closed).code).toBe(CLOSE.messageTooBig);
		expect(await rejections(server, 'message-too-big')).toBe(1);
		expect(await stillThere(server, kept)).toBe('kept safe');
	});

	it('✓ a frame beyond the WebSocket ceiling is cut off by ws (1009), counted, and the server lives on', async () => {
		const server = await serve({ maxMessageBytes: 4096 }); // ceiling: max(2 × limit, 1 MiB)
		const kept = await storeSomething(server);
		const raw = await rawClient(server.wsUrl);
		raw.sendRaw(new Uint8Array(3 * 1024 * 1024));
		expect((await raw.closed).code).toBe(WS_MESSAGE_TOO_BIG);
		expect(await rejections(server, 'message-too-big')).toBe(1);
		expect(await stillThere(server, kept)).toBe('kept safe');
	});

	it('✓ a burst over the message rate closes with 4008 and counts rate-limited', async () => {
		const server = await serve({ messagesPerSecond: 5 }); // a burst of 10 s = 50 messages
		const kept = await storeSomething(server);
		const raw = await rawClient(server.wsUrl);
		for (let i = 0; i < 80; i++) raw.pushDocument(new Uint8Array([i]));
		expect((await raw.closed).code).toBe(CLOSE.rateLimited);
		expect(await rejections(server, 'rate-limited')).toBe(1);
		expect(await stillThere(server, kept)).toBe('kept safe');
	});

	it('✓ a burst over the byte rate closes with 4008 too', async () => {
		const server = await serve({ bytesPerSecond: 2048 }); // a burst of 4 s = 8 KiB
		const raw = await rawClient(server.wsUrl);
		for (let i = 0; i < 5; i++) raw.pushDocument(new Uint8Array(3000).fill(i));
		expect((await raw.closed).code).toBe(CLOSE.rateLimited);
		expect(await rejections(server, 'rate-limited')).toBe(1);
	});

	it('✓ too many new documents from one connection closes with 4029; the ones before stay', async () => {
		const server = await serve({ documentsPerHour: 3 });
		const raw = await rawClient(server.wsUrl);
		const first = raw.pushDocument(new Uint8Array([1]));
		for (let i = 0; i < 5; i++) raw.pushDocument(new Uint8Array([i + 2]));
		expect((await raw.closed).code).toBe(CLOSE.tooManyDocuments);
		expect(await rejections(server, 'too-many-documents')).toBe(1);
		await until(
			() => server.repo.handles[first as never]?.isReady(),
			'the first document to be held'
		);
		// the cap is per connection: an honest client elsewhere is unaffected
		expect(await stillThere(server, await storeSomething(server))).toBe('kept safe');
	});

	it('✓ a document over its quota closes with 4013; what was stored stays, across a restart', async () => {
		const dataDir = await mkdtemp(join(tmpdir(), 'charter-quota-'));
		const server = await serve({ maxDocumentBytes: 2000 }, { dataDir });
		const kept = await storeSomething(server);
		const raw = await rawClient(server.wsUrl);
		raw.pushDocument(new Uint8Array(5000).fill(1));
		expect((await raw.closed).code).toBe(CLOSE.quotaExceeded);
		expect(await rejections(server, 'document-quota')).toBe(1);
		expect(await stillThere(server, kept)).toBe('kept safe');
		await server.close();
		const again = await serve({ maxDocumentBytes: 2000 }, { dataDir });
		expect(await stillThere(again, kept)).toBe('kept safe');
	});

	it('✓ the total storage quota closes with 4013 and counts total-quota', async () => {
		const server = await serve({ maxTotalBytes: 3000 });
		const kept = await storeSomething(server);
		const raw = await rawClient(server.wsUrl);
		raw.pushDocument(new Uint8Array(4000).fill(2));
		expect((await raw.closed).code).toBe(CLOSE.quotaExceeded);
		expect(await rejections(server, 'total-quota')).toBe(1);
		expect(await stillThere(server, kept)).toBe('kept safe');
	});

	it('✓ changes smuggled in a "request" message meet the same quota', async () => {
		const server = await serve({ maxDocumentBytes: 2000 });
		const raw = await rawClient(server.wsUrl);
		raw.pushDocument(new Uint8Array(5000).fill(3), { type: 'request' });
		expect((await raw.closed).code).toBe(CLOSE.quotaExceeded);
	});

	it('✓ bytes that are not automerge-repo messages close with 4400 and count malformed', async () => {
		const server = await serve({});
		const raw = await rawClient(server.wsUrl);
		raw.sendRaw(new Uint8Array([0xff, 0xfe, 0x00, 0x13, 0x37]));
		expect((await raw.closed).code).toBe(CLOSE.malformed);
		expect(await rejections(server, 'malformed')).toBe(1);
	});

	it('✓ a message naming no valid document closes with 4400 too (the repo would log it whole)', async () => {
		const server = await serve({});
		const raw = await rawClient(server.wsUrl);
		raw.sendRaw(
			cbor.encode({
				type: 'ephemeral',
				senderId: 'raw',
				targetId: raw.serverPeerId,
				documentId: 'not-a-document',
				data: new Uint8Array([1])
			})
		);
		expect((await raw.closed).code).toBe(CLOSE.malformed);
	});
});

describe('admission hook', () => {
	it('✓ refuses new documents it does not admit, counts them, and keeps the connection', async () => {
		const welcome = new Set<string>();
		const asked: string[] = [];
		const server = await serve(
			{},
			{ admission: { admit: (documentId) => (asked.push(documentId), welcome.has(documentId)) } }
		);
		const raw = await rawClient(server.wsUrl);
		const allowedId = parseAutomergeUrl(generateAutomergeUrl()).documentId;
		welcome.add(allowedId);
		const refused = raw.pushDocument(new Uint8Array([1, 2, 3]));
		raw.pushDocument(new Uint8Array([4, 5, 6]), { documentId: allowedId });
		await until(
			() => server.repo.handles[allowedId as never]?.isReady(),
			'the admitted document to be held'
		);
		expect(await metric(server.url, 'charter_sync_rejections_total', '{reason="admission"}')).toBe(
			1
		);
		expect(asked).toEqual([refused, allowedId]);
		expect(server.repo.handles[refused as never]?.isReady()).toBeFalsy();
		// documents already held are not asked about again
		raw.pushDocument(new Uint8Array([7]), { documentId: allowedId });
		await new Promise((r) => setTimeout(r, 100));
		expect(asked).toHaveLength(2);
		const stillOpen = await Promise.race([
			raw.closed.then(() => false),
			new Promise((r) => setTimeout(() => r(true), 100))
		]);
		expect(stillOpen).toBe(true);
		raw.close();
	});
});
