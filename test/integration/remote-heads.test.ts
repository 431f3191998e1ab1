/**
 * What a client knows of what its sync server holds comes from the sync protocol's own heads, kept
 * by the client (sync/remote-heads.ts) instead of automerge-repo's per-peer bookkeeping, which
 * re-encoded the server's heads on every sync round and saved the server's sync state to the
 * device's storage every 100 ms. The stories: delivery and sync status still follow the server,
 * and nothing of that bookkeeping is written to the device.
 */
import * as A from '@automerge/automerge';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Charter } from '../../src/lib/index.js';
import { startSyncServerProcess, type SyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';

/** The storage id the client's sync server announced (its one peer). */
async function serverStorageId(client: Charter) {
	await eventually(() => client.wire.repo.peers.length > 0, 'the connection to the server');
	const id = client.wire.remote.storageIdOf(client.wire.repo.peers[0]!);
	expect(id).toBeDefined();
	return id!;
}

/** Every path under `dir`, relative to it. */
async function pathsUnder(dir: string): Promise<string[]> {
	const entries = await readdir(dir, { recursive: true });
	return entries.map(String);
}

describe('what the server holds, as the client follows it', () => {
	let server: SyncServerProcess | undefined;
	let ada: Charter | undefined;
	afterEach(async () => {
		await ada?.close();
		await server?.stop();
		ada = server = undefined;
	});

	async function setup() {
		server = await startSyncServerProcess();
		const dataDir = await mkdtemp(join(tmpdir(), 'charter-remote-heads-'));
		const client = await Charter.open({
			dataDir,
			syncServers: [server.wsUrl],
			deviceName: 'Ada laptop'
		});
		ada = client;
		await client.createIdentity();
		return { ada: client, dataDir };
	}

	it('✓ a guaranteed message turns stored from the server’s own heads, and sync status names the server with its storage id', async () => {
		const { ada } = await setup();
		const storageId = await serverStorageId(ada);
		const space = await ada.createSpace({ name: 'Book club' });
		const channel = await space.createChannel({ name: 'minutes', durability: 'guaranteed' });
		const sent = await channel.send('Chapter 3 next week');
		await channel.whenStored(sent.id, { timeoutMs: 20_000 });
		// ✓ the report that flipped it is the server's heads, and they hold the message's change
		const reported = ada.wire.remote.heads(channel.envelope.documentId, storageId) ?? [];
		expect(reported.length).toBeGreaterThan(0);
		expect(A.hasHeads(channel.envelope.doc(), reported)).toBe(true);
		// ✓ sync status sees the server as a storing peer, in step on every document
		await eventually(() => {
			const status = ada.syncStatus().find((p) => p.storageId === storageId);
			return !!status && status.inSync > 0 && status.lagging.length === 0;
		}, 'the server in step');
	});

	it('✓ no sync state of the server is saved on the device', async () => {
		const { dataDir } = await setup();
		const client = ada!;
		const storageId = await serverStorageId(client);
		const space = await client.createSpace({ name: 'Book club' });
		const channel = space.channels[0]!;
		for (let i = 0; i < 5; i++) await channel.send(`note ${i}`);
		await eventually(() => {
			const theirs = client.wire.remote.heads(channel.envelope.documentId, storageId) ?? [];
			return A.getHeads(channel.envelope.doc()).every((h) => theirs.includes(h));
		}, 'the server to hold all five');
		await client.close();
		ada = undefined;
		// ✓ the automerge-repo storage keys of a saved sync state are [document, 'sync-state', peer]
		const saved = await pathsUnder(dataDir);
		expect(
			saved.some((p) => p.split(/[\\/]/).includes('snapshot') || p.includes('incremental'))
		).toBe(true);
		expect(saved.filter((p) => p.split(/[\\/]/).includes('sync-state'))).toEqual([]);
	});

	it('✓ the server’s storage id reaches the client, not its repo', async () => {
		const { ada } = await setup();
		await serverStorageId(ada);
		const peer = ada.wire.repo.peers[0]!;
		expect(ada.wire.remote.isPersistent(peer)).toBe(true);
		expect(ada.wire.remote.persistentStorageIds()).toEqual([ada.wire.remote.storageIdOf(peer)]);
		expect(ada.wire.repo.peerMetadataByPeerId[peer]?.storageId).toBeUndefined();
	});
});
