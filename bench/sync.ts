/**
 * Sync benchmarks, each side by side with plain automerge-repo doing the same work over the same
 * kind of loopback sync server:
 *  - cold sync: a new device reads a channel of N messages (one entry / one change per message), as
 *    written and after a moderator compacted it;
 *  - send → visible: one message at a time from one client to another, p50 / p99 — back to back (each
 *    send right after the previous one arrived: automerge-repo's 100 ms sync throttle sets the pace,
 *    for both) and spaced like a conversation (a pause longer than the throttle before each send).
 *
 * Cold sync also has a **floor**: the least a design of Charter's shape does with automerge-repo and
 * Automerge alone, no Charter code — the server holds only ciphertext (one encrypted plaintext
 * change per message in a bucketed document, linked by SHA-256 into one chain with one Ed25519
 * signature; or, compacted, the saved plaintext document encrypted and signed in 1 MiB fragments)
 * and the reader checks, decrypts and applies or loads it. No seals, rules or epochs. A third
 * reader trusts no compactor: its fragments carry the saved document and every signed entry, and it
 * checks the chain, decrypts and decodes every change (the least any authorisation of each change
 * reads), loads the saved document and checks its heads are those changes' heads.
 */
import * as A from '@automerge/automerge';
import { Repo } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { Charter } from '../src/lib/index.js';
import { shutDown } from './chat.js';
import { startSyncServerProcess } from '../test/support/sync-server-process.js';

export const SYNC_PARAMS = { messages: 10_000, latencySamples: 500, spacedGapMs: 150 };

const until = async (check: () => boolean, timeoutMs = 300_000) => {
	const start = Date.now();
	while (!check()) {
		if (Date.now() - start > timeoutMs) throw new Error('timed out');
		await new Promise((r) => setTimeout(r, 5));
	}
};

/** Resolves once `check()` holds, asking again whenever `subscribe`'s event fires (no polling). */
const whenTrue = (
	check: () => boolean,
	subscribe: (wake: () => void) => () => void,
	timeoutMs = 30_000
) =>
	new Promise<void>((resolve, reject) => {
		if (check()) return resolve();
		const timer = setTimeout(() => {
			stop();
			reject(new Error('timed out'));
		}, timeoutMs);
		const stop = subscribe(() => {
			if (!check()) return;
			clearTimeout(timer);
			stop();
			resolve();
		});
	});

const percentile = (sorted: number[], p: number) =>
	sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export interface MeasureHooks {
	beforeMeasure?: () => Promise<void>;
	afterMeasure?: () => Promise<void>;
}

export async function coldSync(
	messages = SYNC_PARAMS.messages,
	hooks: MeasureHooks & { only?: 'written' | 'compacted' } = {}
) {
	// Charter through the server as deployed (refusing unsealed changes); plain automerge-repo through
	// the same server binary with --allow-unsealed, since its changes carry no publication seals
	const server = await startSyncServerProcess();
	const plainServer = await startSyncServerProcess({ args: ['--allow-unsealed'] });
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
		const readAll = async (profiled: boolean) => {
			const reader = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
			if (profiled) await hooks.beforeMeasure?.();
			const t0 = performance.now();
			await reader.restoreIdentity(phrase);
			// on the channel's own change signal, not a poll: reading `messages` every few ms would
			// rebuild the list of 10,000 each time and bill it to Charter
			await until(() => !!reader.spaces[0]?.channels[0]);
			const read = reader.spaces[0]!.channels[0]!;
			await new Promise<void>((resolve) => {
				const done = () => read.messages.length === messages && (off(), resolve());
				const off = read.onChange(() => void done());
				done();
			});
			const ms = performance.now() - t0;
			if (profiled) await hooks.afterMeasure?.();
			await reader.close();
			return ms;
		};
		const charterMs = await readAll(hooks.only === 'written');
		// the same channel after a moderator compacted it: a new device reads the fragments only
		const compaction = await channel.compact();
		await until(
			() => writer.syncStatus().some((p) => p.storageId && p.lagging.length === 0 && p.inSync > 0),
			120_000
		);
		await writer.close();
		const compactedMs = await readAll(hooks.only === 'compacted');
		if (hooks.only)
			return { messages, charterMs, compactedMs, fragments: compaction.fragments, plainMs: NaN };

		// plain automerge-repo: one change per message, then a new client
		const a = new Repo({ network: [new WebSocketClientAdapter(plainServer.wsUrl)] });
		const handle = a.create<{ messages: Record<string, { text: A.ImmutableString; at: number }> }>({
			messages: {}
		});
		for (let i = 0; i < messages; i++)
			handle.change((d) => {
				d.messages[`m${i}`] = { text: new A.ImmutableString(`message ${i}`), at: i };
			});
		await new Promise((r) => setTimeout(r, 2000));
		await a.shutdown().catch(() => undefined);
		const b = new Repo({ network: [new WebSocketClientAdapter(plainServer.wsUrl)] });
		const t1 = performance.now();
		const found = await b.find<{ messages: Record<string, unknown> }>(handle.url);
		await new Promise<void>((resolve) => {
			const done = () =>
				Object.keys(found.doc().messages).length === messages &&
				(found.off('change', done), resolve());
			found.on('change', done);
			done();
		});
		const plainMs = performance.now() - t1;
		await b.shutdown().catch(() => undefined);
		return { messages, charterMs, compactedMs, fragments: compaction.fragments, plainMs };
	} finally {
		await server.stop();
		await plainServer.stop();
	}
}

interface FloorEnvelope {
	entries: Record<string, Record<string, Uint8Array>>;
	signature?: Uint8Array;
}
type FloorChannel = { messages: Record<string, { text: A.ImmutableString; at: number }> };
/** Buckets of the floor's synced document, as Charter's envelopes; fragment size as Charter's. */
const FLOOR_BUCKETS = 64;
const FRAGMENT_BYTES = 1 << 20;

const bucketsOf = () =>
	Object.fromEntries(
		Array.from({ length: FLOOR_BUCKETS }, (_, b) => [b.toString(16).padStart(2, '0'), {}])
	);

/** A new client reads the whole floor envelope, counting entries as they arrive. */
async function readFloor(serverUrl: string, url: string, entries: number) {
	const repo = new Repo({ network: [new WebSocketClientAdapter(serverUrl)] });
	const handle = await repo.find<FloorEnvelope>(url as never);
	let seen = 0;
	const count = (doc: FloorEnvelope) =>
		Object.values(doc.entries).reduce((n, b) => n + Object.keys(b).length, 0);
	seen = count(handle.doc());
	await new Promise<void>((resolve) => {
		const done = () =>
			seen >= entries && handle.doc().signature && (handle.off('change', on), resolve());
		const on = ({ patches }: { patches: A.Patch[] }) => {
			for (const p of patches) if (p.action === 'put' && p.path.length === 3) seen++;
			done();
		};
		handle.on('change', on);
		done();
	});
	return { repo, doc: handle.doc() };
}

/** The floor of a cold sync of `messages`, as written and compacted (see the file's comment). */
export async function coldSyncFloor(messages = SYNC_PARAMS.messages) {
	const server = await startSyncServerProcess({ args: ['--allow-unsealed'] });
	const subtle = globalThis.crypto.subtle;
	try {
		const key = randomBytes(32);
		const pair = (await subtle.generateKey({ name: 'Ed25519' }, false, [
			'sign',
			'verify'
		])) as CryptoKeyPair;
		const writer = new Repo({ network: [new WebSocketClientAdapter(server.wsUrl)] });
		const written = writer.create<FloorEnvelope>({ entries: bucketsOf() });
		// entry i = SHA-256(entry i−1) ‖ nonce (24) ‖ XChaCha20-Poly1305(plaintext change i)
		let plain = A.from<FloorChannel>({ messages: {} });
		const root = A.getLastLocalChange(plain)!;
		let prev: Uint8Array = new Uint8Array(32);
		for (let i = 0; i < messages; i++) {
			plain = A.change(plain, (d) => {
				d.messages[`m${i}`] = { text: new A.ImmutableString(`message ${i}`), at: i };
			});
			const nonce = randomBytes(24);
			const ciphertext = xchacha20poly1305(key, nonce).encrypt(A.getLastLocalChange(plain)!);
			const entry = new Uint8Array(56 + ciphertext.length);
			entry.set(prev);
			entry.set(nonce, 32);
			entry.set(ciphertext, 56);
			prev = sha256(entry);
			written.change((d) => {
				d.entries[(i % FLOOR_BUCKETS).toString(16).padStart(2, '0')]![String(i).padStart(6, '0')] =
					entry;
			});
		}
		const lastHash = prev;
		const signature = new Uint8Array(
			await subtle.sign('Ed25519', pair.privateKey, lastHash as BufferSource)
		);
		written.change((d) => {
			d.signature = signature;
		});
		/** An envelope holding `payload` encrypted and signed in fragments, and `signature`. */
		const fragmented = async (payload: Uint8Array, signature: Uint8Array) => {
			const envelope = writer.create<FloorEnvelope>({ entries: bucketsOf() });
			for (let at = 0, n = 0; at < payload.length; at += FRAGMENT_BYTES, n++) {
				const nonce = randomBytes(24);
				const ciphertext = xchacha20poly1305(key, nonce).encrypt(
					payload.subarray(at, at + FRAGMENT_BYTES)
				);
				const body = new Uint8Array(24 + ciphertext.length);
				body.set(nonce);
				body.set(ciphertext, 24);
				const sig = new Uint8Array(await subtle.sign('Ed25519', pair.privateKey, body));
				const fragment = new Uint8Array(body.length + 64);
				fragment.set(body);
				fragment.set(sig, body.length);
				envelope.change((d) => {
					d.entries['00']![String(n).padStart(6, '0')] = fragment;
				});
			}
			envelope.change((d) => {
				d.signature = signature;
			});
			return { url: envelope.url, fragments: Math.ceil(payload.length / FRAGMENT_BYTES) };
		};
		// compacted: the saved plaintext document, encrypted and signed in fragments
		const saved = A.save(plain);
		const compacted = await fragmented(saved, new Uint8Array(64));
		// compacted, trusting no compactor: the saved document and, beside it, every signed entry
		// (u32 length ‖ bytes each, and the chain's signature), so the reader can tie every change
		// it loads to a signed entry
		const pieces = [
			saved,
			...Object.values(written.doc().entries)
				.flatMap((b) => Object.entries(b))
				.sort(([x], [y]) => (x < y ? -1 : 1))
				.map(([, e]) => e)
		];
		const payload = new Uint8Array(pieces.reduce((n, p) => n + 4 + p.length, 0));
		pieces.reduce((at, p) => {
			new DataView(payload.buffer).setUint32(at, p.length);
			payload.set(p, at + 4);
			return at + 4 + p.length;
		}, 0);
		const checked = await fragmented(payload, signature);
		await new Promise((r) => setTimeout(r, 2000)); // as plain's writer: let the server take it all
		await writer.shutdown().catch(() => undefined);

		const t0 = performance.now();
		const a = await readFloor(server.wsUrl, written.url, messages);
		const ordered = Object.values(a.doc.entries)
			.flatMap((b) => Object.entries(b))
			.sort(([x], [y]) => (x < y ? -1 : 1))
			.map(([, e]) => e);
		let link: Uint8Array = new Uint8Array(32);
		const changes: Uint8Array[] = [root];
		for (const entry of ordered) {
			if (!entry.subarray(0, 32).every((b, i) => b === link[i])) throw new Error('broken chain');
			link = sha256(entry);
			changes.push(xchacha20poly1305(key, entry.subarray(32, 56)).decrypt(entry.subarray(56)));
		}
		if (
			!(await subtle.verify(
				'Ed25519',
				pair.publicKey,
				a.doc.signature! as BufferSource,
				link as BufferSource
			))
		)
			throw new Error('bad signature');
		const [read] = A.applyChanges(A.init<FloorChannel>(), changes);
		if (Object.keys(read.messages).length !== messages) throw new Error('not all read');
		const writtenMs = performance.now() - t0;
		await a.repo.shutdown().catch(() => undefined);

		/** Every fragment of an envelope, each signature checked, decrypted and joined in order. */
		const opened = async (doc: FloorEnvelope) => {
			const parts: Uint8Array[] = [];
			for (const [, fragment] of Object.entries(doc.entries['00']!).sort(([x], [y]) =>
				x < y ? -1 : 1
			)) {
				const body = fragment.subarray(0, fragment.length - 64);
				if (
					!(await subtle.verify(
						'Ed25519',
						pair.publicKey,
						fragment.subarray(body.length) as BufferSource,
						body as BufferSource
					))
				)
					throw new Error('bad signature');
				parts.push(xchacha20poly1305(key, body.subarray(0, 24)).decrypt(body.subarray(24)));
			}
			const whole = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
			parts.reduce((at, p) => (whole.set(p, at), at + p.length), 0);
			return whole;
		};

		const t1 = performance.now();
		const b = await readFloor(server.wsUrl, compacted.url, compacted.fragments);
		const loaded = A.load<FloorChannel>(await opened(b.doc));
		if (Object.keys(loaded.messages).length !== messages) throw new Error('not all read');
		const compactedMs = performance.now() - t1;
		await b.repo.shutdown().catch(() => undefined);

		// trusting no compactor: every entry's chain link and the chain's signature checked, every
		// entry decrypted and its change decoded (the least any per-change authorisation reads), the
		// saved document loaded, and its heads checked to be the heads of those changes
		const t2 = performance.now();
		const c = await readFloor(server.wsUrl, checked.url, checked.fragments);
		const unpacked = await opened(c.doc);
		const view = new DataView(unpacked.buffer, unpacked.byteOffset, unpacked.byteLength);
		const items: Uint8Array[] = [];
		for (let at = 0; at < unpacked.length; at += 4 + view.getUint32(at))
			items.push(unpacked.subarray(at + 4, at + 4 + view.getUint32(at)));
		const [savedDoc, ...signedEntries] = items;
		let chain: Uint8Array = new Uint8Array(32);
		const hashes = new Set<string>();
		const deps = new Set<string>();
		for (const entry of signedEntries) {
			if (!entry.subarray(0, 32).every((x, i) => x === chain[i])) throw new Error('broken chain');
			chain = sha256(entry);
			const change = A.decodeChange(
				xchacha20poly1305(key, entry.subarray(32, 56)).decrypt(entry.subarray(56))
			);
			hashes.add(change.hash!);
			for (const d of change.deps) deps.add(d);
		}
		if (
			!(await subtle.verify(
				'Ed25519',
				pair.publicKey,
				c.doc.signature! as BufferSource,
				chain as BufferSource
			))
		)
			throw new Error('bad signature');
		const loadedChecked = A.load<FloorChannel>(savedDoc!);
		const heads = [...hashes].filter((h) => !deps.has(h)).sort();
		if (heads.join() !== [...A.getHeads(loadedChecked)].sort().join())
			throw new Error('the saved document is not the signed changes');
		if (Object.keys(loadedChecked.messages).length !== messages) throw new Error('not all read');
		const checkedMs = performance.now() - t2;
		await c.repo.shutdown().catch(() => undefined);
		return {
			writtenMs,
			compactedMs,
			fragments: compacted.fragments,
			checkedMs,
			checkedFragments: checked.fragments
		};
	} finally {
		await server.stop();
	}
}

/**
 * The floor of send → visible (see the file's comment): the sender changes its own plaintext copy,
 * encrypts and signs the change into a bucket of the synced document; the reader verifies, decrypts
 * and applies it to its own copy, where the message becomes visible.
 */
async function sendToVisibleFloor(wsUrl: string, samples: number, gapMs: number) {
	// the fastest Ed25519 here: node:crypto, synchronous (no turn of the event loop per check)
	const key = randomBytes(32);
	const pair = generateKeyPairSync('ed25519');
	type Chat = {
		messages: Record<string, { author: string; text: A.ImmutableString; createdAt: number }>;
	};
	const a = new Repo({ network: [new WebSocketClientAdapter(wsUrl)] });
	const b = new Repo({ network: [new WebSocketClientAdapter(wsUrl)] });
	const sent = a.create<FloorEnvelope>({ entries: bucketsOf() });
	const received = await b.find<FloorEnvelope>(sent.url);
	let mine = A.from<Chat>({ messages: {} });
	let theirs = A.applyChanges(A.init<Chat>(), [A.getLastLocalChange(mine)!])[0];
	const changed = new Set<() => void>();
	// the reader opens each entry as it arrives, synchronously, in the change event itself
	received.on('change', ({ patches, doc }) => {
		for (const p of patches) {
			if (p.action !== 'put' || p.path.length !== 3) continue;
			const entry = doc.entries[String(p.path[1])]?.[String(p.path[2])];
			if (!(entry instanceof Uint8Array)) continue;
			const body = entry.subarray(0, entry.length - 64);
			if (!verify(null, body, pair.publicKey, entry.subarray(body.length)))
				throw new Error('bad signature');
			const change = xchacha20poly1305(key, body.subarray(0, 24)).decrypt(body.subarray(24));
			[theirs] = A.applyChanges(theirs, [change]);
			for (const wake of [...changed]) wake();
		}
	});
	const times: number[] = [];
	for (let i = 1; i <= samples; i++) {
		if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
		const t = performance.now();
		const visible = whenTrue(
			() => theirs.messages[`m${i}`] !== undefined,
			(wake) => {
				changed.add(wake);
				return () => void changed.delete(wake);
			}
		);
		mine = A.change(mine, (d) => {
			d.messages[`m${i}`] = {
				author: 'alice',
				text: new A.ImmutableString(`ping ${i}`),
				createdAt: Date.now()
			};
		});
		const nonce = randomBytes(24);
		const ciphertext = xchacha20poly1305(key, nonce).encrypt(A.getLastLocalChange(mine)!);
		const body = new Uint8Array(24 + ciphertext.length);
		body.set(nonce);
		body.set(ciphertext, 24);
		const sig = sign(null, body, pair.privateKey);
		const entry = new Uint8Array(body.length + 64);
		entry.set(body);
		entry.set(sig, body.length);
		sent.change((d) => {
			d.entries[(i % FLOOR_BUCKETS).toString(16).padStart(2, '0')]![String(i)] = entry;
		});
		await visible;
		times.push(performance.now() - t);
	}
	await shutDown([a, b]);
	return times;
}

export async function sendToVisible(samples = SYNC_PARAMS.latencySamples, gapMs = 0) {
	// Charter through the server as deployed (refusing unsealed changes); plain automerge-repo through
	// the same server binary with --allow-unsealed, since its changes carry no publication seals
	const server = await startSyncServerProcess();
	const plainServer = await startSyncServerProcess({ args: ['--allow-unsealed'] });
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
			if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
			const t = performance.now();
			const seen = whenTrue(
				() => bobChannel.messages.length === i + 1,
				(wake) => bobChannel.onChange(wake)
			);
			await space.channels[0]!.send(`ping ${i}`);
			await seen;
			charter.push(performance.now() - t);
		}
		await alice.close();
		await bob.close();

		const a = new Repo({ network: [new WebSocketClientAdapter(plainServer.wsUrl)] });
		const b = new Repo({ network: [new WebSocketClientAdapter(plainServer.wsUrl)] });
		// the same write as a Charter message: one entry in a map, with its author, text and time
		type Chat = {
			messages: Record<string, { author: string; text: A.ImmutableString; createdAt: number }>;
		};
		const handle = a.create<Chat>({ messages: {} });
		const seen = await b.find<Chat>(handle.url);
		const plain: number[] = [];
		for (let i = 1; i <= samples; i++) {
			if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
			const t = performance.now();
			const visible = whenTrue(
				() => seen.doc().messages[`m${i}`] !== undefined,
				(wake) => {
					seen.on('change', wake);
					return () => void seen.off('change', wake);
				}
			);
			handle.change((d) => {
				d.messages[`m${i}`] = {
					author: 'alice',
					text: new A.ImmutableString(`ping ${i}`),
					createdAt: Date.now()
				};
			});
			await visible;
			plain.push(performance.now() - t);
		}
		await a.shutdown().catch(() => undefined);
		await b.shutdown().catch(() => undefined);
		const floor = await sendToVisibleFloor(plainServer.wsUrl, samples, gapMs);
		charter.sort((x, y) => x - y);
		plain.sort((x, y) => x - y);
		floor.sort((x, y) => x - y);
		return {
			samples,
			gapMs,
			charterP50: percentile(charter, 50),
			charterP99: percentile(charter, 99),
			plainP50: percentile(plain, 50),
			plainP99: percentile(plain, 99),
			floorP50: percentile(floor, 50),
			floorP99: percentile(floor, 99)
		};
	} finally {
		await server.stop();
		await plainServer.stop();
	}
}
