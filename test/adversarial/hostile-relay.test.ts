/**
 * A hostile relay between honest clients and the sync server: it duplicates, reorders, drops
 * (at random, or exactly the first changes the server sends each client), replays and tampers with
 * ciphertext in transit. Honest peers must end converged, with nothing
 * accepted that should not be, nothing valid lost, and no crash.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { AddressInfo } from 'node:net';
import * as A from '@automerge/automerge';
import { cbor } from '@automerge/automerge-repo';
import { Charter } from '../../src/lib/index.js';
import { startSyncServerProcess, type SyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';

type Mode = 'duplicate' | 'reorder' | 'drop' | 'hole' | 'replay' | 'tamper';

interface Relay {
	/** Start misbehaving (the clients have joined the space by then). */
	misbehave(): void;
	url: string;
	/** Frames whose ciphertext was forged in transit. */
	readonly tampered: number;
	/** Stop misbehaving (after which lost sync rounds must recover). */
	heal(): void;
	close(): Promise<void>;
}

const toBuffer = (d: RawData): Buffer =>
	Buffer.isBuffer(d) ? d : Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d);

/**
 * Corrupts a frame in transit (cuts its tail), so it no longer parses. (A relay that forges
 * well-formed Automerge changes under a writer's actor instead is refused by publication seals:
 * test/unit/publication.test.ts and hostile-peer.test.ts.)
 */
function tamperCiphertext(frame: Buffer, random: () => number): Buffer {
	if (frame.length < 16 || random() < 0.5) return frame;
	return frame.subarray(0, frame.length - 1 - Math.floor(random() * 8));
}

/** Whether a frame is a sync message that carries changes (what a lost frame takes with it). */
function carriesChanges(frame: Buffer): boolean {
	try {
		const message = cbor.decode(new Uint8Array(frame)) as { type?: string; data?: Uint8Array };
		return message.type === 'sync' && A.decodeSyncMessage(message.data!).changes.length > 0;
	} catch {
		return false;
	}
}

async function hostileRelay(target: string, mode: Mode): Promise<Relay> {
	let hostile = false;
	let tampered = 0;
	let seed = 42;
	const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
	const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
	await new Promise<void>((r) => server.once('listening', () => r()));
	const sockets = new Set<WebSocket>();
	const seen: Buffer[] = [];
	const holed = new Set<WebSocket>();
	server.on('connection', (client) => {
		const upstream = new WebSocket(target);
		sockets.add(client).add(upstream);
		const pending: Buffer[] = [];
		upstream.on('open', () => pending.splice(0).forEach((m) => upstream.send(m)));
		const forward = (to: WebSocket, frame: Buffer) => {
			if (to.readyState !== WebSocket.OPEN)
				return to === upstream ? void pending.push(frame) : undefined;
			if (!hostile) return to.send(frame);
			seen.push(frame);
			switch (mode) {
				case 'duplicate':
					to.send(frame);
					return to.send(frame);
				case 'reorder':
					return void setTimeout(
						() => to.readyState === WebSocket.OPEN && to.send(frame),
						Math.floor(random() * 80)
					);
				case 'drop':
					return random() < 0.3 ? undefined : to.send(frame);
				case 'hole': {
					// the first changes the server sends each client are lost, the rest arrive: the client
					// holds later changes it cannot apply, and the server believes it sent the missing one
					if (to === upstream || holed.has(to) || !carriesChanges(frame)) return to.send(frame);
					return void holed.add(to);
				}
				case 'replay': {
					to.send(frame);
					const old = seen[Math.floor(random() * seen.length)]!;
					return to.send(old);
				}
				case 'tamper': {
					const forged = tamperCiphertext(frame, random);
					if (forged !== frame) tampered++;
					return to.send(forged);
				}
			}
		};
		client.on('message', (d) => forward(upstream, toBuffer(d)));
		upstream.on('message', (d) => forward(client, toBuffer(d)));
		const closeBoth = () => {
			client.close();
			upstream.close();
		};
		for (const s of [client, upstream]) {
			s.on('close', closeBoth);
			s.on('error', closeBoth);
		}
	});
	return {
		url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
		get tampered() {
			return tampered;
		},
		misbehave: () => {
			hostile = true;
		},
		heal: () => {
			hostile = false;
			// drop every connection so peers reconnect and run a clean sync round
			for (const s of sockets) s.terminate();
		},
		close: async () => {
			for (const s of sockets) s.terminate();
			await new Promise<void>((r) => server.close(() => r()));
		}
	};
}

let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
	for (const c of cleanup.reverse()) await c().catch(() => undefined);
	cleanup = [];
});

describe('a hostile relay that misbehaves in transit', () => {
	for (const mode of ['duplicate', 'reorder', 'drop', 'hole', 'replay', 'tamper'] as Mode[]) {
		it(`✓ ${mode}: honest peers converge on exactly the messages sent`, async () => {
			const server: SyncServerProcess = await startSyncServerProcess();
			cleanup.push(() => server.stop());
			const relay = await hostileRelay(server.wsUrl, mode);
			cleanup.push(() => relay.close());
			const alice = await Charter.open({ inMemory: true, syncServers: [relay.url] });
			const bob = await Charter.open({ inMemory: true, syncServers: [relay.url] });
			cleanup.push(
				() => alice.close(),
				() => bob.close()
			);
			await alice.createIdentity();
			await bob.createIdentity();
			const space = await alice.createSpace({ name: `Relay ${mode}` });
			await space.addMember(await bob.memberCard());
			const bobSpace = await bob.openSpace(space.id);
			await eventually(
				() => bobSpace.channels[0],
				'bob to open the space before the relay turns hostile'
			);
			relay.misbehave();
			const sent: string[] = [];
			for (let i = 0; i < 8; i++) {
				const text = `${mode} ${i}`;
				sent.push(text);
				await space.channels[0]!.send(text);
				await new Promise((r) => setTimeout(r, 20));
			}
			await new Promise((r) => setTimeout(r, 500));
			relay.heal();
			await space.channels[0]!.send('after healing');
			sent.push('after healing');
			// Bob writes too, so a fresh sync round starts from his side as well once he reconnects
			await eventually(
				() => bobSpace.channels[0],
				`bob to receive the channel under ${mode}`,
				60_000
			);
			await bobSpace.channels[0]!.send('bob after healing');
			sent.push('bob after healing');
			await eventually(
				() =>
					bobSpace.channels[0]?.messages.length === sent.length &&
					space.channels[0]?.messages.length === sent.length,
				`bob and alice to converge under ${mode}`,
				60_000
			);
			expect([...bobSpace.channels[0]!.messages.map((m) => m.text)].sort()).toEqual(
				[...sent].sort()
			);
			expect([...space.channels[0]!.messages.map((m) => m.text)].sort()).toEqual([...sent].sort());
			if (mode === 'tamper') expect(relay.tampered).toBeGreaterThan(0);
			expect(bobSpace.rejections).toEqual([]);
		}, 150_000);
	}
});
