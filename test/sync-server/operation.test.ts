/**
 * Operating the sync server: the CLI, health, readiness and metrics endpoints, graceful shutdown,
 * and a restart that loses nothing a client was told was stored.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Charter } from '../../src/lib/index.js';
import { startSyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';

const root = resolve(import.meta.dirname, '../..');
const cli = (args: string[]) =>
	spawnSync(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'sync-server/main.ts'), ...args], { encoding: 'utf8', timeout: 30_000 });

describe('operating the sync server', () => {
	it('✓ --help documents every option; a bad flag exits 2 with a clear message', () => {
		const help = cli(['--help']);
		expect(help.status).toBe(0);
		for (const flag of ['--port', '--data', '--peer', '--spaces-allow', '--max-message-bytes', '--documents-per-hour', '--log-level'])
			expect(help.stdout).toContain(flag);
		const bad = cli(['--port', 'ninety']);
		expect(bad.status).toBe(2);
		expect(bad.stderr).toContain('--port must be an integer');
		expect(cli(['--bogus']).status).toBe(2);
	});

	it('✓ health, readiness and Prometheus metrics answer; SIGTERM exits cleanly', async () => {
		const server = await startSyncServerProcess();
		const health = await (await fetch(`${server.url}/healthz`)).json();
		expect(health.ok).toBe(true);
		expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
		const metrics = await (await fetch(`${server.url}/metrics`)).text();
		for (const name of ['charter_sync_connections', 'charter_sync_bytes_in_total', 'charter_sync_rejections_total', 'charter_sync_relay_latency_seconds', 'charter_sync_documents'])
			expect(metrics).toContain(name);
		const exited = new Promise<number | null>((r) => server.child.once('exit', (code) => r(code)));
		server.child.kill('SIGTERM');
		expect(await exited).toBe(0);
	});

	it('✓ a restart loses nothing the server had confirmed to a client', async () => {
		const dataDir = await mkdtemp(join(tmpdir(), 'charter-restart-'));
		let server = await startSyncServerProcess({ dataDir });
		const alice = await Charter.open({ inMemory: true, syncServers: [server.wsUrl], suspectAfterMs: 60_000 });
		await alice.createIdentity();
		const space = await alice.createSpace({ name: 'Durable' });
		for (let i = 0; i < 20; i++) await space.channels[0]!.send(`note ${i}`);
		// the server confirms, through the sync protocol, that it holds exactly our heads
		await eventually(() => {
			const status = alice.syncStatus().find((p) => p.storageId);
			return status && status.lagging.length === 0 && status.inSync >= 2;
		}, 'the server to confirm every document');
		await alice.close();
		await server.stop();

		server = await startSyncServerProcess({ dataDir });
		const bob = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
		await bob.createIdentity();
		// Bob cannot read (no keys), but a relay-level look shows every entry came back from disk
		const envelope = await bob.wire.find<{ entries: Record<string, Uint8Array> }>(space.envelope.documentId);
		expect(Object.keys(envelope.doc().entries).length).toBeGreaterThanOrEqual(4);
		const channelEnvelope = await bob.wire.find<{ entries: Record<string, Uint8Array> }>(space.channels[0]!.envelope.documentId);
		expect(Object.keys(channelEnvelope.doc().entries).length).toBe(20);
		await bob.close();
		await server.stop();
	});
});
