/**
 * Durability policies per channel, with the real sync server as a child process, real clients with
 * data directories and real WebSockets on 127.0.0.1:
 *
 * - guaranteed: a message is `pending` while no persistent node has confirmed it (server down, or
 *   only an ephemeral client peer holding it) and flips to `stored` only once the server reported
 *   heads that include it — and the server's disk then really holds it;
 * - strict: the envelope of a strict channel never reaches the sync server's disk nor a member who
 *   cannot read the channel, nor a stock automerge-repo peer asking for it by id, while readers chat
 *   peer to peer; a reader who loses VIEW_CHANNEL stops receiving and storing it;
 * - changing a channel's durability needs MANAGE_CHANNELS.
 */
import * as A from '@automerge/automerge';
import { Repo, type DocumentId, type StorageId } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Charter, isCharterError, type Message } from '../../src/lib/index.js';
import { envelopeDocumentId } from '../../src/lib/sync/envelope.js';
import { channelIdBytes } from '../../src/lib/identity/ids.js';
import { startSyncServerProcess, type SyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';
import { freePort } from '../support/ports.js';
import { entriesIn } from '../support/held.js';

const temp = (name: string) => mkdtemp(join(tmpdir(), `charter-durability-${name}-`));

/** Every Automerge chunk a nodefs-layout data directory holds for one document (none: []). */
async function chunksOnDisk(dataDir: string, doc: DocumentId): Promise<Uint8Array[]> {
	const dir = join(dataDir, doc.slice(0, 2), doc.slice(2));
	const out: Uint8Array[] = [];
	const walk = async (path: string) => {
		let entries;
		try {
			entries = await readdir(path, { withFileTypes: true });
		} catch {
			return;
		}
		for (const entry of entries) {
			const full = join(path, entry.name);
			if (entry.isDirectory()) await walk(full);
			else if (!full.includes(`${join(doc.slice(0, 2), doc.slice(2), 'sync-state')}`))
				try {
					out.push(new Uint8Array(await readFile(full)));
				} catch {
					/* removed while we looked (a compaction or a purge) */
				}
		}
	};
	await walk(dir);
	return out;
}

/** The document as a data directory holds it on disk (undefined if absent). */
async function docOnDisk(dataDir: string, doc: DocumentId): Promise<A.Doc<unknown> | undefined> {
	const chunks = await chunksOnDisk(dataDir, doc);
	if (!chunks.length) return undefined;
	let loaded = A.init<unknown>();
	for (const chunk of chunks) {
		try {
			loaded = A.loadIncremental(loaded, chunk);
		} catch {
			/* a chunk being replaced right now: read again later */
		}
	}
	return loaded;
}

const storageIdOf = (client: Charter): StorageId | undefined =>
	client.wire.repo.peers
		.filter((p) => client.wire.remote.isPersistent(p))
		.map((p) => client.wire.remote.storageIdOf(p))[0];

describe('guaranteed: stored only once a persistent node acknowledged', async () => {
	const port = await freePort();
	const serverDir = await temp('server');
	const args = ['--port', String(port)];
	let server: SyncServerProcess | undefined = await startSyncServerProcess({
		dataDir: serverDir,
		args
	});
	const alice = await Charter.open({ dataDir: await temp('alice'), syncServers: [server.wsUrl] });
	const bob = await Charter.open({ dataDir: await temp('bob'), listen: { port: 0 } });
	afterAll(async () => {
		await alice.close();
		await bob.close();
		await server?.stop();
	});

	it('✓ a guaranteed message is pending while the server is down, even with a client peer holding it; stored after the server acknowledged; on its disk', async () => {
		await alice.createIdentity();
		await bob.createIdentity();
		const space = await alice.createSpace({ name: 'Ops' });
		await space.addMember(await bob.memberCard());
		const channel = await space.createChannel({ name: 'incidents', durability: 'guaranteed' });
		expect(channel.durability).toBe('guaranteed');
		const envelopeId = envelopeDocumentId(space.idBytes, channelIdBytes(channel.id));

		// with the server up: awaitStored resolves once it reported holding the message
		const first = await channel.send('first', { awaitStored: true, timeoutMs: 20_000 });
		expect(first.delivery).toBe('stored');
		const serverStorage = storageIdOf(alice);
		expect(serverStorage).toBeDefined();
		await eventually(async () => {
			const onDisk = await docOnDisk(serverDir, envelopeId);
			return onDisk && A.hasHeads(onDisk, A.getHeads(channel.envelope.doc()));
		}, 'the first message on the server disk');

		// server down; Bob (an ephemeral client peer) connects directly and receives the next one
		await server!.stop();
		server = undefined;
		await eventually(() => alice.peers.length === 0, 'Alice to notice the server left');
		alice.wire.repo.networkSubsystem.addNetworkAdapter(
			new WebSocketClientAdapter(bob.listeningUrl!) as never
		);
		const flips: { id: string; at: number }[] = [];
		channel.subscribe((messages) => {
			for (const m of messages)
				if (m.delivery === 'stored' && !flips.some((f) => f.id === m.id))
					flips.push({ id: m.id, at: Date.now() });
		});
		const second = await channel.send('while the server is down');
		expect(second.delivery).toBe('pending');
		const theirs = await bob.openSpace(space.id);
		await eventually(
			() => theirs.channel(channel.id)?.messages.some((m) => m.text === 'while the server is down'),
			'Bob to receive the message peer to peer'
		);
		const waited = await channel.whenStored(second.id, { timeoutMs: 1_500 }).then(
			() => 'stored',
			(error) => (isCharterError(error, 'unavailable') ? 'unavailable' : String(error))
		);
		expect(waited).toBe('unavailable');
		expect(channel.messages.find((m) => m.id === second.id)?.delivery).toBe('pending');
		expect(channel.pending).toBe(1);
		// on Bob's side: Alice's message reached a client, not a persistent node
		expect(theirs.channel(channel.id)!.messages.find((m) => m.id === second.id)?.delivery).toBe(
			'pending'
		);
		const envelopeHeadsAfterSend = A.getHeads(channel.envelope.doc());
		const onDiskWhileDown = await docOnDisk(serverDir, envelopeId);
		expect(A.hasHeads(onDiskWhileDown!, envelopeHeadsAfterSend)).toBe(false);

		// the server comes back with the same data (same storage id) on the same port
		const restartedAt = Date.now();
		server = await startSyncServerProcess({ dataDir: serverDir, args });
		await channel.whenStored(second.id, { timeoutMs: 30_000 });
		const flip = flips.find((f) => f.id === second.id);
		expect(flip && flip.at).toBeGreaterThanOrEqual(restartedAt);
		expect(channel.pending).toBe(0);
		// what flipped it: the server's own report of its heads, which include the message
		const reported = alice.wire.remote.heads(channel.envelope.documentId, serverStorage!) ?? [];
		expect(reported.length).toBeGreaterThan(0);
		await eventually(async () => {
			const onDisk = await docOnDisk(serverDir, envelopeId);
			return onDisk && A.hasHeads(onDisk, envelopeHeadsAfterSend);
		}, 'the message on the server disk');
		// Bob hears from the server too: the same message is stored for him once it confirms
		bob.addSyncServer(server.wsUrl);
		await eventually(
			() =>
				theirs.channel(channel.id)!.messages.find((m: Message) => m.id === second.id)?.delivery ===
				'stored',
			'Bob to see the message stored'
		);
	});
});

describe('strict: only readers store or forward the channel', async () => {
	const server = await startSyncServerProcess();
	const dirs = {
		alice: await temp('s-alice'),
		bob: await temp('s-bob'),
		carol: await temp('s-carol')
	};
	const alice = await Charter.open({
		dataDir: dirs.alice,
		syncServers: [server.wsUrl],
		listen: { port: 0 }
	});
	const bob = await Charter.open({
		dataDir: dirs.bob,
		syncServers: [server.wsUrl, alice.listeningUrl!]
	});
	const carol = await Charter.open({
		dataDir: dirs.carol,
		syncServers: [server.wsUrl, alice.listeningUrl!]
	});
	const stock = new Repo({
		network: [new WebSocketClientAdapter(alice.listeningUrl!)],
		peerId: 'stock-peer' as never
	});
	afterAll(async () => {
		await stock.shutdown().catch(() => undefined);
		await Promise.all([alice.close(), bob.close(), carol.close()]);
		await server.stop();
	});

	it('✓ readers chat peer to peer; the server, a non-reader member and a stock peer never hold the envelope', async () => {
		await alice.createIdentity();
		const { userId: bobId } = await bob.createIdentity();
		await carol.createIdentity();
		const space = await alice.createSpace({ name: 'Guild' });
		await space.addMembers([await bob.memberCard(), await carol.memberCard()]);
		const general = space.channels[0]!;
		const mods = await space.createChannel({ name: 'mods', private: true, durability: 'strict' });
		await space.setChannelPermissions(
			mods.id,
			{ user: bobId },
			{ allow: ['VIEW_CHANNEL', 'SEND_MESSAGES'] }
		);
		const strictId = envelopeDocumentId(space.idBytes, channelIdBytes(mods.id));
		const generalId = envelopeDocumentId(space.idBytes, channelIdBytes(general.id));

		await general.send('hello everyone');
		await mods.send('the secret plan');
		const bobSpace = await bob.openSpace(space.id);
		const carolSpace = await carol.openSpace(space.id);
		await eventually(
			() => bobSpace.channel(mods.id)?.messages.some((m) => m.text === 'the secret plan'),
			'Bob (a reader) to receive the strict channel from Alice'
		);
		await bobSpace.channel(mods.id)!.send('on it');
		await eventually(
			() => mods.messages.some((m) => m.text === 'on it'),
			'Alice to receive Bob’s reply'
		);
		await eventually(
			() => carolSpace.channel(general.id)?.messages.some((m) => m.text === 'hello everyone'),
			'Carol to read the replicated channel'
		);
		expect(carolSpace.channel(mods.id)?.durability).toBe('strict');
		// both Charter peers proved which device they are to Alice: the refusal is about permission
		await eventually(
			() =>
				[bob, carol].every((c) =>
					alice.authenticatedPeers.some((p) => p.device === c.identity!.deviceId)
				),
			'Bob and Carol authenticated at Alice'
		);

		// a stock automerge-repo peer (no identity) asks Alice for both envelopes by id
		await eventually(() => stock.peers.length > 0, 'the stock peer to connect to Alice');
		const open = await stock.find(generalId).then(
			(h) => h.isReady(),
			() => false
		);
		expect(open).toBe(true);
		const refused = await stock.find(strictId).then(
			() => 'delivered',
			(error) => String(error)
		);
		expect(refused).toMatch(/unavailable/);

		// the replicated channel is on the server's disk (the check sees documents) — the strict one not
		await eventually(
			async () => (await chunksOnDisk(server.dataDir, generalId)).length > 0,
			'the replicated channel on the server disk'
		);
		await new Promise((r) => setTimeout(r, 500)); // past the server's save debounce
		expect(await chunksOnDisk(server.dataDir, strictId)).toEqual([]);
		// Carol, a member who cannot read it, neither received nor stored any of it
		const carolHandle = carol.wire.repo.handles[strictId];
		const carolDoc = carolHandle?.isReady() ? carolHandle.doc() : undefined;
		expect(entriesIn(carolDoc)).toBe(0);
		const carolDisk = await docOnDisk(join(dirs.carol, 'wire'), strictId);
		expect(carolDisk ? entriesIn(carolDisk) : 0).toBe(0); // the public root and buckets at most
		// and her sync status does not count the server as lagging on a document it must not have
		expect(carol.syncStatus().every((p) => !p.lagging.some((l) => l.documentId === strictId))).toBe(
			true
		);

		// Bob loses VIEW_CHANNEL: he gets nothing new, and his wire storage drops the envelope
		await space.setChannelPermissions(mods.id, { user: bobId }, { deny: ['VIEW_CHANNEL'] });
		await eventually(
			() => !bobSpace.channels.some((c) => c.id === mods.id),
			'Bob’s client to see that he lost the channel'
		);
		const bobHeadsBefore = bob.wire.repo.handles[strictId]?.doc()
			? A.getHeads(bob.wire.repo.handles[strictId]!.doc()!)
			: [];
		await mods.send('after Bob left');
		await eventually(
			async () => (await chunksOnDisk(join(dirs.bob, 'wire'), strictId)).length === 0,
			'Bob’s wire storage to drop the strict envelope'
		);
		await new Promise((r) => setTimeout(r, 1_000));
		const bobHeadsAfter = bob.wire.repo.handles[strictId]?.doc()
			? A.getHeads(bob.wire.repo.handles[strictId]!.doc()!)
			: [];
		expect(bobHeadsAfter).toEqual(bobHeadsBefore);
		expect(await chunksOnDisk(server.dataDir, strictId)).toEqual([]);
	});

	it('✓ changing a channel’s durability needs MANAGE_CHANNELS', async () => {
		const [aliceSpace] = alice.spaces;
		const carolSpace = carol.space(aliceSpace!.id)!;
		const general = aliceSpace!.channels[0]!;
		const attempt = await carolSpace.updateChannel(general.id, { durability: 'strict' }).then(
			() => 'changed',
			(error) => (isCharterError(error) ? error.code : String(error))
		);
		expect(attempt).toBe('not-authorized');
		expect(general.durability).toBe('replicated');
		await aliceSpace!.updateChannel(general.id, { durability: 'guaranteed' });
		await eventually(
			() => carolSpace.channel(general.id)?.durability === 'guaranteed',
			'Carol to see the new durability'
		);
	});
});
