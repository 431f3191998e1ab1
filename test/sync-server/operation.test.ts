/**
 * Operating the sync server: flags and environment, the CLI's one stdout line, health, readiness
 * and metrics endpoints, the static web client, graceful shutdown on SIGTERM/SIGINT, and a restart
 * that loses nothing the server had confirmed to a client.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { pino } from 'pino';
import { Charter } from '../../src/lib/index.js';
import { ConfigError, DEFAULT_LIMITS, parseConfig } from '../../sync-server/config.js';
import { startSyncServer } from '../../sync-server/server.js';
import { routeConsoleToLog } from '../../sync-server/console-to-log.js';
import { spawnServer } from './server-process.js';
import { health, until } from './raw-client.js';
import { entriesIn } from '../support/held.js';

const root = resolve(import.meta.dirname, '../..');
const silent = pino({ level: 'silent' });
const cli = (args: string[]) =>
	spawnSync(process.execPath, ['--import', 'tsx', join(root, 'sync-server/main.ts'), ...args], {
		cwd: root,
		encoding: 'utf8',
		timeout: 20_000
	});

describe('configuration', () => {
	it('✓ defaults: port 3030 on loopback, data under ./.charter-data, stock limits', () => {
		const config = parseConfig([], {});
		expect(config).toMatchObject({
			port: 3030,
			host: '127.0.0.1',
			logLevel: 'info',
			peers: [],
			allow: [],
			limits: DEFAULT_LIMITS
		});
		expect(config !== 'help' && config.dataDir).toBe(resolve('.charter-data/sync-server'));
	});

	it('✓ the environment configures everything; flags win over it', () => {
		const env = {
			PORT: '4000',
			HOST: '0.0.0.0',
			CHARTER_DATA: '/srv/charter',
			LOG_LEVEL: 'debug',
			CHARTER_PEERS: 'ws://a:1, wss://b',
			CHARTER_PEER_TOKEN: 'sixteen-chars-or-more',
			CHARTER_MAX_MESSAGE_BYTES: '65536',
			CHARTER_DOCUMENTS_PER_HOUR: '7',
			CHARTER_DOCUMENTS_PER_ADDRESS_PER_HOUR: '70',
			CHARTER_MAX_DOCUMENTS: '700',
			CHARTER_MAX_REFUSED_CHANGES: '5',
			CHARTER_REFUSED_WINDOW_SECONDS: '30',
			CHARTER_TRUST_PROXY: '1'
		};
		expect(parseConfig([], env)).toMatchObject({
			port: 4000,
			host: '0.0.0.0',
			dataDir: '/srv/charter',
			logLevel: 'debug',
			peers: ['ws://a:1', 'wss://b'],
			peerToken: 'sixteen-chars-or-more',
			trustProxy: true,
			limits: {
				maxMessageBytes: 65536,
				documentsPerHour: 7,
				documentsPerAddressPerHour: 70,
				maxDocuments: 700,
				maxRefusedChanges: 5,
				refusedWindowSeconds: 30
			}
		});
		expect(
			parseConfig(
				['--port', '5000', '--peer', 'ws://c', '--peer', 'ws://d', '--documents-per-hour', '9'],
				env
			)
		).toMatchObject({ port: 5000, peers: ['ws://c', 'ws://d'], limits: { documentsPerHour: 9 } });
	});

	it('✓ bad values are refused with a message naming the flag', () => {
		expect(() => parseConfig(['--port', '70000'], {})).toThrow(
			/--port must be an integer from 0 to 65535/
		);
		expect(() => parseConfig(['--peer', 'http://x'], {})).toThrow(/--peer must be a ws/);
		expect(() => parseConfig(['--peer-token', 'short'], {})).toThrow(/--peer-token/);
		expect(() => parseConfig(['--log-level', 'loud'], {})).toThrow(/--log-level/);
		expect(() => parseConfig([], { CHARTER_MAX_MESSAGE_BYTES: '12' })).toThrow(
			/--max-message-bytes/
		);
		expect(() => parseConfig(['--refused-window-seconds', '0'], {})).toThrow(
			/--refused-window-seconds must be an integer from 1/
		);
		expect(() => parseConfig(['--spaces-allow', 'nonsense'], {})).toThrow(ConfigError);
		expect(() => parseConfig(['stray'], {})).toThrow(ConfigError);
	});

	it('✓ the CLI: --help documents every option; a bad flag exits 2 with a clear message', () => {
		const help = cli(['--help']);
		expect(help.status).toBe(0);
		for (const flag of [
			'--port',
			'--host',
			'--data',
			'--static',
			'--peer',
			'--peer-token',
			'--spaces-allow',
			'--max-message-bytes',
			'--messages-per-second',
			'--bytes-per-second',
			'--documents-per-hour',
			'--documents-per-address-per-hour',
			'--max-documents',
			'--max-refused-changes',
			'--trust-proxy',
			'--refused-window-seconds',
			'--max-document-bytes',
			'--max-total-bytes',
			'--log-level',
			'PORT',
			'CHARTER_DATA',
			'CHARTER_PEERS'
		])
			expect(help.stdout).toContain(flag);
		const bad = cli(['--port', 'ninety']);
		expect(bad.status).toBe(2);
		expect(bad.stderr).toContain('--port must be an integer');
	});
});

describe('the CLI process', () => {
	it('✓ prints one listening line; health, readiness and metrics answer; logs are JSON on stderr; SIGTERM exits 0', async () => {
		const server = await spawnServer({ env: { LOG_LEVEL: 'info' } });
		const body = await health(server.url);
		expect(body).toMatchObject({ ok: true });
		expect(body.storageId).toMatch(/\S{8,}/);
		expect(body.peerId).toMatch(/^sync-server-/);
		const ready = await fetch(`${server.url}/readyz`);
		expect(ready.status).toBe(200);
		const metrics = await (await fetch(`${server.url}/metrics`)).text();
		for (const name of [
			'charter_sync_connections',
			'charter_sync_documents',
			'charter_sync_bytes_in_total',
			'charter_sync_bytes_out_total',
			'charter_sync_messages_in_total',
			'charter_sync_relay_latency_seconds_bucket',
			'charter_sync_rejections_total{reason="rate-limited"} 0',
			'charter_sync_process_resident_memory_bytes'
		])
			expect(metrics).toContain(name);
		expect(await server.stop('SIGTERM')).toBe(0);
		expect(server.stdout().trim().split('\n')).toEqual([server.stdout().trim()]);
		expect(server.stdout()).toMatch(
			/^Charter sync server listening on http:\/\/127\.0\.0\.1:\d+\n$/
		);
		const logs = server.stderr().trim().split('\n');
		for (const line of logs) expect(() => JSON.parse(line)).not.toThrow();
		expect(logs.map((l) => JSON.parse(l).msg)).toEqual(
			expect.arrayContaining(['sync server listening', 'sync server stopped; storage flushed'])
		);
	});

	it('✓ SIGINT (Ctrl+C) closes gracefully too', async () => {
		const server = await spawnServer();
		expect(await server.stop('SIGINT')).toBe(0);
	});

	it('✓ a port already in use is a clear error, not a stack trace', async () => {
		const first = await spawnServer();
		try {
			const port = new URL(first.url).port;
			const second = cli(['--port', port, '--data', join(first.dataDir, 'second')]);
			expect(second.status).toBe(1);
			expect(second.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
		} finally {
			await first.stop('SIGKILL');
		}
	});
});

describe('durability', () => {
	it('✓ a restart loses nothing the server had confirmed to a Charter client', async () => {
		const dataDir = await mkdtemp(join(tmpdir(), 'charter-restart-'));
		let server = await startSyncServer({ port: 0, dataDir, logger: silent });
		const alice = await Charter.open({
			inMemory: true,
			syncServers: [server.wsUrl],
			suspectAfterMs: 60_000
		});
		await alice.createIdentity();
		const space = await alice.createSpace({ name: 'Durable' });
		for (let i = 0; i < 20; i++) await space.channels[0]!.send(`note ${i}`);
		// the server confirms, through the sync protocol, that it holds exactly our heads
		await until(() => {
			const status = alice.syncStatus().find((p) => p.storageId === server.storageId);
			return status && status.lagging.length === 0 && status.inSync >= 2;
		}, 'the server to confirm every document');
		await alice.close();
		await server.close();

		server = await startSyncServer({ port: 0, dataDir, logger: silent });
		const bob = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
		await bob.createIdentity();
		// Bob cannot read (no keys), but a relay-level look shows every entry came back from disk
		const envelope = await bob.wire.repo.find<{ entries: Record<string, Uint8Array> }>(
			space.envelope.documentId
		);
		expect(entriesIn(envelope.doc())).toBeGreaterThanOrEqual(4);
		const channelEnvelope = await bob.wire.repo.find<{ entries: Record<string, Uint8Array> }>(
			space.channels[0]!.envelope.documentId
		);
		expect(entriesIn(channelEnvelope.doc())).toBe(20);
		await bob.close();
		await server.close();
	});
});

describe('logging', () => {
	it('✓ console output from libraries goes to the JSON log as text, never as payloads', () => {
		const lines: string[] = [];
		const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
		const saved = { ...console };
		routeConsoleToLog(log);
		try {
			console.log('error receiving message', {
				err: new Error('boom'),
				message: { type: 'sync', data: new Uint8Array([104, 105, 33]) }
			});
			console.warn(new Uint8Array(4096));
		} finally {
			Object.assign(console, saved);
		}
		const entries = lines.map(
			(l) => JSON.parse(l) as { level: number; msg: string; source: string }
		);
		expect(entries.map((e) => e.msg)).toEqual([
			'error receiving message { err: Error: boom, message: <sync message> }',
			'<4096 bytes>'
		]);
		expect(entries.every((e) => e.source === 'console' && e.level === 40)).toBe(true);
	});
});

describe('process guards', () => {
	const fixture = (args: string[] = []) =>
		spawnSync(
			process.execPath,
			['--import', 'tsx', join(root, 'test/sync-server/fixtures/forgotten-rejection.ts'), ...args],
			{ cwd: root, encoding: 'utf8', timeout: 20_000 }
		);

	it('✓ a rejection a library forgot is logged and counted; the server carries on', () => {
		const run = fixture();
		expect(run.status).toBe(0);
		expect(run.stdout).toBe('alive 1\n');
		expect(JSON.parse(run.stderr.trim().split('\n')[0]!)).toMatchObject({
			msg: 'unhandled rejection (logged; the server carries on)',
			error: { message: 'withTimeout: timed out after 60000ms' }
		});
	});

	it('✓ an uncaught exception still ends the process with exit 1', () => {
		const run = fixture(['--throw']);
		expect(run.status).toBe(1);
		expect(run.stderr).toContain('uncaught exception; exiting');
	});
});

describe('serving the web client', () => {
	it('✓ --static serves files, falls back to index.html for client routes, and keeps the endpoints', async () => {
		const site = await mkdtemp(join(tmpdir(), 'charter-site-'));
		await writeFile(join(site, 'index.html'), '<!doctype html><title>Charter</title>');
		await writeFile(join(site, 'app.js'), 'console.log("charter")');
		const server = await startSyncServer({
			port: 0,
			dataDir: await mkdtemp(join(tmpdir(), 'charter-static-')),
			staticDir: site,
			logger: silent
		});
		try {
			expect(await (await fetch(`${server.url}/app.js`)).text()).toBe('console.log("charter")');
			const route = await fetch(`${server.url}/spaces/space_abc/channels/general`);
			expect(route.status).toBe(200);
			expect(await route.text()).toContain('<title>Charter</title>');
			expect((await health(server.url)).storageId).toBe(server.storageId);
		} finally {
			await server.close();
		}
	});
});
