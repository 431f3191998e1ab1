/**
 * Each limit trips with its close code and its metric, and nothing stored before is lost.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Repo } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { startSyncServer, type RunningSyncServer } from '../../sync-server/server.js';
import { CLOSE } from '../../sync-server/guarded-adapter.js';
import type { Limits } from '../../sync-server/config.js';
import { metric, rawClient } from './raw-client.js';

const silent = pino({ level: process.env.DEBUG_SERVER ? 'debug' : 'silent' });
let servers: RunningSyncServer[] = [];
afterEach(async () => {
	for (const s of servers) await s.close();
	servers = [];
});

async function serve(limits: Partial<Limits>, dataDir?: string) {
	const server = await startSyncServer({ port: 0, dataDir: dataDir ?? (await mkdtemp(join(tmpdir(), 'charter-limits-'))), limits, logger: silent });
	servers.push(server);
	return server;
}

/** Stores a small document through a plain automerge-repo client and returns its id. */
async function storeSomething(server: RunningSyncServer): Promise<string> {
	const repo = new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] });
	const handle = repo.create<{ note: string }>({ note: 'kept safe' });
	await new Promise((r) => setTimeout(r, 300));
	await server.repo.flush();
	await repo.shutdown().catch(() => undefined);
	return handle.documentId;
}

async function stillThere(server: RunningSyncServer, documentId: string) {
	const repo = new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] });
	const handle = await repo.find<{ note: string }>(documentId as never);
	const note = handle.doc().note;
	await repo.shutdown().catch(() => undefined);
	return note;
}

describe('sync server limits', () => {
	it('✓ a message over the size limit closes with 4009 and counts message-too-big', async () => {
		const server = await serve({ maxMessageBytes: 4096 });
		const kept = await storeSomething(server);
		const raw = await rawClient(server.wsUrl);
		raw.pushDocument(new Uint8Array(20_000).fill(7));
		expect((await raw.closed).code).toBe(CLOSE.messageTooBig);
		expect(await metric(server.url, 'charter_sync_rejections_total', '{reason="message-too-big"}')).toBe(1);
		expect(await stillThere(server, kept)).toBe('kept safe');
	});

	it('✓ a burst over the message rate closes with 4008 and counts rate-limited', async () => {
		const server = await serve({ messagesPerSecond: 5 });
		const kept = await storeSomething(server);
		const raw = await rawClient(server.wsUrl);
		for (let i = 0; i < 40; i++) raw.pushDocument(new Uint8Array([i]));
		expect((await raw.closed).code).toBe(CLOSE.rateLimited);
		expect(await metric(server.url, 'charter_sync_rejections_total', '{reason="rate-limited"}')).toBe(1);
		expect(await stillThere(server, kept)).toBe('kept safe');
	});

	it('✓ too many new documents from one connection closes with 4029', async () => {
		const server = await serve({ documentsPerHour: 3 });
		const raw = await rawClient(server.wsUrl);
		const first = raw.pushDocument(new Uint8Array([1]));
		for (let i = 0; i < 5; i++) raw.pushDocument(new Uint8Array([i + 2]));
		expect((await raw.closed).code).toBe(CLOSE.tooManyDocuments);
		expect(await metric(server.url, 'charter_sync_rejections_total', '{reason="too-many-documents"}')).toBe(1);
		await server.repo.flush();
		expect(server.repo.handles[first as never]).toBeDefined();
	});

	it('✓ a document over its storage quota closes with 4013; what was stored stays', async () => {
		const server = await serve({ maxDocumentBytes: 2000 });
		const kept = await storeSomething(server);
		const raw = await rawClient(server.wsUrl);
		raw.pushDocument(new Uint8Array(5000).fill(1));
		expect((await raw.closed).code).toBe(CLOSE.quotaExceeded);
		expect(await metric(server.url, 'charter_sync_rejections_total', '{reason="document-quota"}')).toBe(1);
		expect(await stillThere(server, kept)).toBe('kept safe');
	});
});
