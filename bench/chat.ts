/**
 * N members chatting concurrently for S seconds through one sync server, against plain
 * automerge-repo doing the same writes through the same server binary (with --allow-unsealed).
 *
 * Each member sends R messages per second (evenly spaced, each member at its own phase) into one
 * channel: Charter's #general of a space of N members (encrypted, signed, sealed; the server checks
 * each change's seal), or one shared automerge-repo document that every member appends to. Every
 * member watches the channel; a delivery is one message becoming visible to one other member.
 * Reported: messages sent, deliveries (of N−1 per message), delivered messages per second per member
 * over the sending window and the drain (until the last delivery), send → visible p50/p99, and the server's CPU seconds and RSS over the window plus
 * the drain (from its Prometheus /metrics: process CPU of the server process itself).
 *
 * All members run in this process (2 cores: the clients and the server share them), the server in
 * its own.
 *
 * A third side, the **floor**, is the least any design of Charter's shape does with automerge-repo
 * alone, no Charter code: the synced document holds only ciphertext (so the server sees no
 * plaintext), each message is a plaintext Automerge change on the sender's own copy of the channel,
 * encrypted (XChaCha20-Poly1305, @noble/ciphers) and signed (Ed25519, native WebCrypto) into one
 * bucket of the synced document; each reader verifies, decrypts and applies it to its own plaintext
 * copy. No seals, rules, keys per epoch, hash chains or delivery tracking: Charter cannot cost less
 * than this, so a target this side misses is below the floor on this machine.
 *
 *   npm run bench -- chat [--quick] [--members 20] [--seconds 30] [--rate 1]
 */
import * as A from '@automerge/automerge';
import { Repo, type DocHandle } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { randomBytes } from 'node:crypto';
import { Charter, isCharterError, type Channel } from '../src/lib/index.js';
import { startSyncServerProcess } from '../test/support/sync-server-process.js';

export const CHAT_PARAMS = {
	full: { members: 20, seconds: 30, rate: 1 },
	quick: { members: 5, seconds: 5, rate: 1 },
	/** After the sending window, wait at most this long for every delivery. */
	drainMs: 30_000
};

export interface ChatParams {
	members: number;
	seconds: number;
	/** Messages per member per second. */
	rate: number;
}

export interface ChatResult {
	sent: number;
	deliveries: number;
	expected: number;
	deliveredPerSecond: number;
	p50: number;
	p99: number;
	drainMs: number;
	serverCpuS: number;
	serverRssMb: number;
	/** Messages the server received and sent over the window and drain. */
	serverMessagesIn: number;
	serverMessagesOut: number;
	/** CPU seconds of this process (every member's client) over the window and the drain. */
	clientCpuS: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Shuts repos down, whatever state their sockets are in: shutdown asserts, synchronously, on one
 * already closed, and the stock adapter's disconnect removes its error listener before closing, so a
 * socket still connecting (a reconnect under load) would crash the process with an unheard 'error'.
 */
export async function shutDown(repos: Repo[]): Promise<void> {
	for (const r of repos) {
		for (const adapter of r.networkSubsystem.adapters)
			(adapter as { socket?: { on?: (e: string, f: () => void) => void } }).socket?.on?.(
				'error',
				() => undefined
			);
		await Promise.resolve()
			.then(() => r.shutdown())
			.catch(() => undefined);
	}
}

/**
 * Opens `url` in each of `repos` once the server holds it: a find that reaches the server before the
 * creator's first sync is answered "unavailable" (it happens under load).
 */
async function findEverywhere<T>(creator: DocHandle<T>, repos: Repo[]): Promise<DocHandle<T>[]> {
	const [owner] = repos;
	await until(() => {
		const peer = owner?.peers[0];
		const storageId = peer && owner.getStorageIdOfPeer(peer);
		const theirs: readonly string[] = storageId
			? (creator.getSyncInfo(storageId)?.lastHeads ?? [])
			: [];
		return theirs.length > 0 && creator.heads().every((h) => theirs.includes(h));
	}, 'the server to hold the document');
	return Promise.all(repos.slice(1).map((r) => r.find<T>(creator.url)));
}

const until = async (check: () => boolean, what: string, timeoutMs = 120_000) => {
	const start = Date.now();
	while (!check()) {
		if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
		await sleep(10);
	}
};

const percentile = (sorted: number[], p: number) =>
	sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;

/** The server process's own CPU seconds and RSS, from its Prometheus endpoint. */
async function serverUsage(
	url: string
): Promise<{ cpuS: number; rssMb: number; messagesIn: number; messagesOut: number }> {
	const text = await (await fetch(`${url}/metrics`)).text();
	const value = (name: string) => {
		const m = new RegExp(`^${name} ([0-9.e+-]+)`, 'm').exec(text);
		if (!m) throw new Error(`no ${name} in /metrics`);
		return Number(m[1]);
	};
	return {
		cpuS: value('charter_sync_process_cpu_seconds_total'),
		rssMb: value('charter_sync_process_resident_memory_bytes') / 1024 / 1024,
		messagesIn: value('charter_sync_messages_in_total'),
		messagesOut: value('charter_sync_messages_out_total')
	};
}

/**
 * Drives the sending window and the drain for either side. `send(member, i)` writes message i of a
 * member; `observed()` is the deliveries so far.
 */
async function drive(
	params: ChatParams,
	serverUrl: string,
	send: (member: number, i: number) => Promise<void>,
	observed: () => number,
	latencies: number[]
): Promise<ChatResult> {
	const { members, seconds, rate } = params;
	const perMember = Math.max(1, Math.round(seconds * rate));
	const gapMs = 1000 / rate;
	const before = await serverUsage(serverUrl);
	const cpuBefore = process.cpuUsage();
	const start = performance.now();
	let sent = 0;
	await Promise.all(
		Array.from({ length: members }, async (_, member) => {
			await sleep((member / members) * gapMs); // each member at its own phase
			for (let i = 0; i < perMember; i++) {
				const due = start + (member / members) * gapMs + i * gapMs;
				const wait = due - performance.now();
				if (wait > 0) await sleep(wait);
				await send(member, i);
				sent++;
			}
		})
	);
	const windowMs = performance.now() - start;
	const expected = sent * (members - 1);
	const drainStart = performance.now();
	while (observed() < expected && performance.now() - drainStart < CHAT_PARAMS.drainMs)
		await sleep(20);
	const drainMs = performance.now() - drainStart;
	const cpu = process.cpuUsage(cpuBefore);
	const after = await serverUsage(serverUrl);
	latencies.sort((a, b) => a - b);
	return {
		sent,
		deliveries: observed(),
		expected,
		// over the window and the drain: a delivery that comes late still took the time until it came
		deliveredPerSecond: observed() / (members - 1) / ((windowMs + drainMs) / 1000),
		p50: percentile(latencies, 50),
		p99: percentile(latencies, 99),
		drainMs,
		serverCpuS: after.cpuS - before.cpuS,
		serverRssMb: after.rssMb,
		serverMessagesIn: after.messagesIn - before.messagesIn,
		serverMessagesOut: after.messagesOut - before.messagesOut,
		clientCpuS: (cpu.user + cpu.system) / 1e6
	};
}

/** Called around the sending window and drain (bench/profile.ts starts and stops a CPU profile). */
export interface MeasureHooks {
	beforeMeasure?: () => Promise<void>;
	afterMeasure?: () => Promise<void>;
}

export async function chatCharter(
	params: ChatParams,
	hooks: MeasureHooks = {}
): Promise<ChatResult> {
	const server = await startSyncServerProcess();
	const clients: Charter[] = [];
	try {
		for (let i = 0; i < params.members; i++) {
			const client = await Charter.open({
				inMemory: true,
				syncServers: [server.wsUrl],
				deviceName: `member ${i}`
			});
			await client.createIdentity();
			clients.push(client);
		}
		const owner = clients[0]!;
		const space = await owner.createSpace({ name: 'chat bench' });
		await space.addMembers(await Promise.all(clients.slice(1).map((c) => c.memberCard())));
		const spaces = [
			space,
			...(await Promise.all(clients.slice(1).map((c) => c.openSpace(space.id))))
		];
		await until(
			() => spaces.every((s) => s.isMember && s.channels[0]),
			'every member to open the channel'
		);
		const channels = spaces.map((s) => s.channels[0]!) as Channel[];
		// warm-up: everyone says hello and reads everyone else's, so keys and cards are in place
		await Promise.all(
			channels.map(async (c) => {
				for (const deadline = Date.now() + 120_000; ; await sleep(50))
					try {
						return await c.send('hello');
					} catch (error) {
						// the channel's key reaches a new member a moment after the membership
						if (!isCharterError(error) || error.code !== 'unknown-epoch' || Date.now() > deadline)
							throw error;
					}
			})
		);
		await until(
			() => channels.every((c) => c.messages.length === params.members),
			'the warm-up round',
			180_000
		);
		let deliveries = 0;
		const latencies: number[] = [];
		for (const [i, channel] of channels.entries()) {
			const me = clients[i]!.identity!.userId;
			const seen = new Set(channel.messages.map((m) => m.id));
			channel.subscribe((messages) => {
				const now = Date.now();
				for (const m of messages) {
					if (seen.has(m.id)) continue;
					seen.add(m.id);
					if (m.author === me) continue;
					deliveries++;
					latencies.push(now - m.createdAt);
				}
			});
		}
		await hooks.beforeMeasure?.();
		const result = await drive(
			params,
			server.url,
			async (member, i) => {
				await channels[member]!.send(`chat ${member}.${i}`);
			},
			() => deliveries,
			latencies
		);
		await hooks.afterMeasure?.();
		return result;
	} finally {
		for (const c of clients) await c.close().catch(() => undefined);
		await server.stop();
	}
}

/** The synced document of the floor side: ciphertext in buckets, as Charter's envelopes (64). */
interface FloorEnvelope {
	data: Record<string, Record<string, Uint8Array>>;
}
const FLOOR_BUCKETS = 64;

export async function chatFloor(params: ChatParams, hooks: MeasureHooks = {}): Promise<ChatResult> {
	const server = await startSyncServerProcess({ args: ['--allow-unsealed'] });
	const repos: Repo[] = [];
	const subtle = globalThis.crypto.subtle;
	try {
		const key = randomBytes(32);
		const pairs = await Promise.all(
			Array.from(
				{ length: params.members },
				() =>
					subtle.generateKey({ name: 'Ed25519' }, false, [
						'sign',
						'verify'
					]) as Promise<CryptoKeyPair>
			)
		);
		for (let i = 0; i < params.members; i++)
			repos.push(new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] }));
		const created = repos[0]!.create<FloorEnvelope>({
			data: Object.fromEntries(
				Array.from({ length: FLOOR_BUCKETS }, (_, b) => [b.toString(16).padStart(2, '0'), {}])
			)
		});
		const handles: DocHandle<FloorEnvelope>[] = [
			created,
			...(await findEverywhere(created, repos))
		];
		// every member's own plaintext copy of the channel, never synced
		let plain = handles.map(() => A.from<PlainChat>({ messages: {} }));
		const root = A.getLastLocalChange(plain[0]!)!;
		plain = plain.map(() => A.applyChanges(A.init<PlainChat>(), [root])[0]);
		let counter = 0;
		/** entry = member (1) ‖ nonce (24) ‖ ciphertext ‖ Ed25519 signature (64) over all before it */
		const write = async (member: number, text: string) => {
			plain[member] = A.change(plain[member]!, (d) => {
				d.messages[text] = { author: member, text: new A.ImmutableString(text), at: Date.now() };
			});
			const change = A.getLastLocalChange(plain[member]!)!;
			const nonce = randomBytes(24);
			const body = new Uint8Array([
				member,
				...nonce,
				...xchacha20poly1305(key, nonce).encrypt(change)
			]);
			const sig = new Uint8Array(await subtle.sign('Ed25519', pairs[member]!.privateKey, body));
			const entry = new Uint8Array(body.length + 64);
			entry.set(body);
			entry.set(sig, body.length);
			const bucket = (counter++ % FLOOR_BUCKETS).toString(16).padStart(2, '0');
			handles[member]!.change((d) => {
				d.data[bucket]![`${member}.${counter}`] = entry;
			});
		};
		let deliveries = 0;
		const latencies: number[] = [];
		let measuring = false;
		let warm = 0;
		for (const [i, handle] of handles.entries()) {
			let queue = Promise.resolve();
			handle.on('change', ({ patches, doc }) => {
				for (const p of patches) {
					if (p.action !== 'put' || p.path.length !== 3 || p.path[0] !== 'data') continue;
					const entry = doc.data[String(p.path[1])]?.[String(p.path[2])];
					if (!(entry instanceof Uint8Array) || entry[0] === i) continue;
					queue = queue.then(async () => {
						const body = entry.subarray(0, entry.length - 64);
						const author = pairs[entry[0]!]!.publicKey;
						if (
							!(await subtle.verify(
								'Ed25519',
								author,
								entry.subarray(body.length) as BufferSource,
								body as BufferSource
							))
						)
							throw new Error('bad signature');
						const change = xchacha20poly1305(key, body.subarray(1, 25)).decrypt(body.subarray(25));
						const now = Date.now();
						[plain[i]] = A.applyChanges(plain[i]!, [change], {
							patchCallback: (applied, { after }) => {
								for (const q of applied) {
									if (q.action !== 'put' || q.path.length !== 2 || q.path[0] !== 'messages')
										continue;
									const m = after.messages?.[String(q.path[1])];
									if (measuring && m) {
										deliveries++;
										latencies.push(now - m.at);
									} else warm++;
								}
							}
						});
					});
				}
			});
		}
		// warm-up, as for the others
		await Promise.all(handles.map((_, i) => write(i, `hello-${i}`)));
		await until(() => warm >= params.members * (params.members - 1), 'the warm-up round');
		measuring = true;
		await hooks.beforeMeasure?.();
		const result = await drive(
			params,
			server.url,
			(member, i) => write(member, `chat ${member}.${i}`),
			() => deliveries,
			latencies
		);
		await hooks.afterMeasure?.();
		return result;
	} finally {
		await shutDown(repos);
		await server.stop();
	}
}

type PlainChat = {
	messages: Record<string, { author: number; text: A.ImmutableString; at: number }>;
};

export async function chatPlain(params: ChatParams, hooks: MeasureHooks = {}): Promise<ChatResult> {
	// plain changes carry no publication seals: the same server binary, as a generic relay
	const server = await startSyncServerProcess({ args: ['--allow-unsealed'] });
	const repos: Repo[] = [];
	try {
		for (let i = 0; i < params.members; i++)
			repos.push(new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] }));
		const created = repos[0]!.create<PlainChat>({ messages: {} });
		const handles: DocHandle<PlainChat>[] = [created, ...(await findEverywhere(created, repos))];
		// warm-up, as for Charter
		for (const [i, h] of handles.entries())
			h.change((d) => {
				d.messages[`hello-${i}`] = {
					author: i,
					text: new A.ImmutableString('hello'),
					at: Date.now()
				};
			});
		await until(
			() => handles.every((h) => Object.keys(h.doc().messages).length === params.members),
			'the warm-up round'
		);
		let deliveries = 0;
		const latencies: number[] = [];
		for (const [i, handle] of handles.entries())
			handle.on('change', ({ patches, doc }) => {
				const now = Date.now();
				for (const p of patches) {
					if (p.action !== 'put' || p.path.length !== 2 || p.path[0] !== 'messages') continue;
					const m = doc.messages[String(p.path[1])];
					if (!m || m.author === i) continue;
					deliveries++;
					latencies.push(now - m.at);
				}
			});
		await hooks.beforeMeasure?.();
		const result = await drive(
			params,
			server.url,
			async (member, i) => {
				handles[member]!.change((d) => {
					d.messages[`${member}.${i}`] = {
						author: member,
						text: new A.ImmutableString(`chat ${member}.${i}`),
						at: Date.now()
					};
				});
			},
			() => deliveries,
			latencies
		);
		await hooks.afterMeasure?.();
		return result;
	} finally {
		await shutDown(repos);
		await server.stop();
	}
}
