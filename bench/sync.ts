/**
 * Sync benchmarks, each side by side with plain automerge-repo doing the same work over the same
 * kind of loopback sync server:
 *  - cold sync: a new device reads a channel of N messages (one entry / one change per message);
 *  - send → visible: one message at a time from one client to another, p50 / p99.
 */
import * as A from '@automerge/automerge';
import { Repo } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { Charter } from '../src/lib/index.js';
import { startSyncServerProcess } from '../test/support/sync-server-process.js';

export const SYNC_PARAMS = { messages: 10_000, latencySamples: 200 };

const until = async (check: () => boolean, timeoutMs = 300_000) => {
	const start = Date.now();
	while (!check()) {
		if (Date.now() - start > timeoutMs) throw new Error('timed out');
		await new Promise((r) => setTimeout(r, 5));
	}
};

const percentile = (sorted: number[], p: number) =>
	sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export async function coldSync(messages = SYNC_PARAMS.messages) {
	const server = await startSyncServerProcess();
	try {
		// Charter: one entry per message (what a chat produces), then a new device restored from the phrase
		const writer = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
		const { phrase } = await writer.createIdentity();
		const space = await writer.createSpace({ name: 'bench' });
		const channel = space.channels[0]!;
		for (let i = 0; i < messages; i++) await channel.send(`message ${i}`);
		await until(
			() => writer.syncStatus().some((p) => p.storageId && p.lagging.length === 0 && p.inSync > 0),
			120_000
		);
		await writer.close();
		const reader = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
		const t0 = performance.now();
		await reader.restoreIdentity(phrase);
		await until(() => reader.spaces[0]?.channels[0]?.messages.length === messages);
		const charterMs = performance.now() - t0;
		await reader.close();

		// plain automerge-repo: one change per message, then a new client
		const a = new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] });
		const handle = a.create<{ messages: Record<string, { text: A.ImmutableString; at: number }> }>({
			messages: {}
		});
		for (let i = 0; i < messages; i++)
			handle.change((d) => {
				d.messages[`m${i}`] = { text: new A.ImmutableString(`message ${i}`), at: i };
			});
		await new Promise((r) => setTimeout(r, 2000));
		await a.shutdown().catch(() => undefined);
		const b = new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] });
		const t1 = performance.now();
		const found = await b.find<{ messages: Record<string, unknown> }>(handle.url);
		await until(() => Object.keys(found.doc().messages).length === messages);
		const plainMs = performance.now() - t1;
		await b.shutdown().catch(() => undefined);
		return { messages, charterMs, plainMs };
	} finally {
		await server.stop();
	}
}

export async function sendToVisible(samples = SYNC_PARAMS.latencySamples) {
	const server = await startSyncServerProcess();
	try {
		const alice = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
		const bob = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
		await alice.createIdentity();
		await bob.createIdentity();
		const space = await alice.createSpace({ name: 'latency' });
		await space.addMember(await bob.memberCard());
		const bobSpace = await bob.openSpace(space.id);
		await until(() => !!bobSpace.channels[0], 30_000);
		const bobChannel = bobSpace.channels[0]!;
		const charter: number[] = [];
		for (let i = 0; i < samples; i++) {
			const t = performance.now();
			await space.channels[0]!.send(`ping ${i}`);
			await until(() => bobChannel.messages.length === i + 1, 30_000);
			charter.push(performance.now() - t);
		}
		await alice.close();
		await bob.close();

		const a = new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] });
		const b = new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] });
		const handle = a.create<{ n: number }>({ n: 0 });
		const seen = await b.find<{ n: number }>(handle.url);
		const plain: number[] = [];
		for (let i = 1; i <= samples; i++) {
			const t = performance.now();
			handle.change((d) => {
				d.n = i;
			});
			await until(() => seen.doc().n === i, 30_000);
			plain.push(performance.now() - t);
		}
		await a.shutdown().catch(() => undefined);
		await b.shutdown().catch(() => undefined);
		charter.sort((x, y) => x - y);
		plain.sort((x, y) => x - y);
		return {
			samples,
			charterP50: percentile(charter, 50),
			charterP99: percentile(charter, 99),
			plainP50: percentile(plain, 50),
			plainP99: percentile(plain, 99)
		};
	} finally {
		await server.stop();
	}
}
