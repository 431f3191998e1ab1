/**
 * Authority benchmarks:
 *  - validation cost per incoming change on a channel of 1,000 vs 10,000 messages (it must not grow
 *    with the document), side by side with its floor — what the same message costs a reader with
 *    Automerge and the crypto libraries alone (`floorUs`) — and plain Automerge applying one change;
 *  - key rotation after a ban in a space of 1,000 members (target < 1 s).
 *
 * `npm run bench` measures each validation in a fresh process (`validationCostApart`): one process
 * measuring several in a row got slower with each (1,280, then 2,393, then 2,210 µs for the same
 * channel shape, its floors with it), which the 1k → 10k growth would have read as the history's.
 */
import * as A from '@automerge/automerge';
import { Charter, type Space } from '../src/lib/index.js';
import { cryptoProvider } from '../src/lib/crypto/primitives.js';
import { issueDeviceCertificate, issueUserCard } from '../src/lib/identity/certificates.js';
import { newX25519Secret } from '../src/lib/crypto/primitives.js';
import { randomBytes } from '../src/lib/util/bytes.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { envelopeDocumentId } from '../src/lib/sync/envelope.js';
import { checkPublishedChanges } from '../src/lib/sync/publication.js';
import { channelIdBytes, spaceIdBytes } from '../src/lib/identity/ids.js';
import { startSyncServerProcess } from '../test/support/sync-server-process.js';
import { jsonFromFreshProcess } from './fresh-process.js';

const until = async (check: () => boolean, what: string, timeoutMs = 600_000) => {
	const start = Date.now();
	while (!check()) {
		if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 50));
	}
};

export const AUTHORITY_PARAMS = { sizes: [1_000, 10_000], incoming: 200, members: 1_000 };

async function fillChannel(space: Space, count: number) {
	const channel = space.channels[0]!;
	for (let i = 0; i < count; i += 100) {
		const batch: Promise<unknown>[] = [];
		for (let j = i; j < Math.min(count, i + 100); j++) batch.push(channel.send(`message ${j}`));
		await Promise.all(batch);
	}
}

/**
 * µs per incoming change, as a reader meets it: Bob has read the channel's history through a sync
 * server; the server goes away, Alice writes `incoming` more, and Alice's envelope changes — the very
 * bytes a sync message would carry — reach Bob one at a time and are timed stage by stage: the seal
 * check (what his verifying adapter does to every incoming change), the envelope apply (what any
 * automerge-repo peer does), and his replica reading the entry (entry signature, decryption, rules,
 * the plaintext apply). Beside it, the floor of the same message (`floorUs`).
 */
export async function validationCost(
	size: number,
	incoming = AUTHORITY_PARAMS.incoming,
	/** Called around the measured loop (a profiler, in `bench/profile.ts`). */
	hooks?: { beforeMeasure?(): Promise<void>; afterMeasure?(): Promise<void> },
	/** Alice compacts the channel first: the late messages go to an envelope of a few fragments. */
	{ compacted = false }: { compacted?: boolean } = {}
) {
	const server = await startSyncServerProcess();
	const alice = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	const bob = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	let stopped = false;
	try {
		await alice.createIdentity();
		await bob.createIdentity();
		const space = await alice.createSpace({ name: 'bench' });
		await space.addMember(await bob.memberCard());
		const bobSpace = await bob.openSpace(space.id);
		await fillChannel(space, size);
		const channel = space.channels[0]!;
		await until(
			() => bobSpace.channel(channel.id)?.messages.length === size,
			`Bob to read ${size} messages`
		);
		const ids = [spaceIdBytes(space.id), channelIdBytes(channel.id)] as const;
		if (compacted) {
			const { generation } = await channel.compact();
			const fragments = await alice.wire.open(envelopeDocumentId(...ids, generation));
			await until(() => bobSpace.channel(channel.id)?.generation === generation, 'Bob to follow');
			const followed = await bob.wire.open(envelopeDocumentId(...ids, generation));
			await until(
				() => A.equals(A.getHeads(followed.doc()), A.getHeads(fragments.doc())),
				'Bob to hold the fragments'
			);
			await bobSpace.channel(channel.id)!.settled();
		}
		await server.stop(); // from here on nothing arrives but what the loop below hands over
		stopped = true;
		for (let i = 0; i < incoming; i++) await channel.send(`late ${i}`);
		const envelope = envelopeDocumentId(...ids, channel.generation);
		const aliceHandle = await alice.wire.open(envelope);
		const handle = await bob.wire.open(envelope);
		const changes = A.getChanges(handle.doc(), aliceHandle.doc());
		if (changes.length !== incoming) throw new Error(`${changes.length} changes to hand over`);
		const bobChannel = bobSpace.channel(channel.id)!;
		await hooks?.beforeMeasure?.();
		let sealUs = 0;
		let envelopeUs = 0;
		let replicaUs = 0;
		for (const change of changes) {
			const t0 = performance.now();
			const { accepted, refused } = await checkPublishedChanges([change], {
				remember: bob.wire.decoded
			});
			if (refused) throw new Error('a genuine publication was refused');
			const t1 = performance.now();
			handle.update((d) => A.applyChanges(d, accepted)[0]);
			const t2 = performance.now();
			await bobChannel.settled();
			const t3 = performance.now();
			sealUs += (t1 - t0) * 1000;
			envelopeUs += (t2 - t1) * 1000;
			replicaUs += (t3 - t2) * 1000;
		}
		await hooks?.afterMeasure?.();
		if (bobChannel.messages.length !== size + incoming)
			throw new Error(`bob has ${bobChannel.messages.length} messages`);
		const n = changes.length;
		return {
			size,
			charterUs: (sealUs + envelopeUs + replicaUs) / n,
			sealUs: sealUs / n,
			envelopeUs: envelopeUs / n,
			replicaUs: replicaUs / n,
			floor: floorUs(size, incoming, compacted)
		};
	} finally {
		await alice.close();
		await bob.close();
		if (!stopped) await server.stop();
	}
}

type FloorChannel = { buckets: Record<string, Record<string, unknown>> };
type FloorEnvelope = { entries: Record<string, Record<string, Uint8Array>> };
/** Buckets of the floor's envelope, as Charter's (sync/envelope.ts); of its plaintext, as a session's. */
const FLOOR_ENVELOPE_BUCKETS = 64;
const FLOOR_MESSAGES_PER_BUCKET = 128;
/** A compacted floor envelope holds the history in pieces of this size, as Charter's fragments. */
const FRAGMENT_BYTES = 1 << 20;

/**
 * The **floor** of one incoming message, with no Charter code: what any design of Charter's shape
 * does for it with Automerge and the crypto libraries alone. The sync server holds only ciphertext,
 * so the message arrives as an Automerge change of a bucketed envelope that holds every entry (one
 * change per message, as written), applied to the envelope document as any automerge-repo peer does;
 * its entry (nonce ‖ XChaCha20-Poly1305 ciphertext of the plaintext change ‖ Ed25519 signature) is
 * read out, its signature checked (node:crypto, synchronous — the fastest verify Node has), it is
 * decrypted, and its plaintext change applied to the reader's channel document (bucketed, one
 * change per message). No seals, rules, epochs or chains. The `apply` stage alone is plain Automerge
 * applying one change, the table's plain column. `leastUs` is the same floor with the plaintext
 * change applied to Automerge's backend only (no JS document kept up to date): the least any reader
 * of this shape pays, whatever it does with the document afterwards. `compacted`: the envelope holds
 * the history's entries packed into 1 MiB pieces (as a compacted channel's fragments), not one
 * change each.
 */
function floorUs(size: number, incoming: number, compacted = false) {
	const key = randomBytes(32);
	const { privateKey, publicKey } = generateKeyPairSync('ed25519');
	const bucketOf = (i: number) => (i % FLOOR_ENVELOPE_BUCKETS).toString(16).padStart(2, '0');
	let plain = A.from<FloorChannel>({ buckets: {} });
	let envelope = A.from<FloorEnvelope>({
		entries: Object.fromEntries(
			Array.from({ length: FLOOR_ENVELOPE_BUCKETS }, (_, b) => [bucketOf(b), {}])
		)
	});
	/** One message written: its plaintext change, sealed into an entry, set into the envelope. */
	const write = (prefix: string, i: number, text: string) => {
		plain = A.change(plain, (d) => {
			const bucket = `${prefix}.${Math.floor(i / FLOOR_MESSAGES_PER_BUCKET)}`;
			d.buckets[bucket] ??= {};
			d.buckets[bucket]![`${prefix}.${i}`] = {
				author: new A.ImmutableString('u'),
				text: new A.ImmutableString(text),
				createdAt: i
			};
		});
		const nonce = randomBytes(24);
		const ciphertext = xchacha20poly1305(key, nonce).encrypt(A.getLastLocalChange(plain)!);
		const body = new Uint8Array(24 + ciphertext.length);
		body.set(nonce);
		body.set(ciphertext, 24);
		const entry = new Uint8Array(body.length + 64);
		entry.set(body);
		entry.set(sign(null, body, privateKey), body.length);
		envelope = A.change(envelope, (d) => {
			d.entries[bucketOf(i)]![`${prefix}.${i}`] = entry;
		});
		return A.getLastLocalChange(envelope)!;
	};
	for (let i = 0; i < size; i++) write('w', i, `message ${i}`);
	if (compacted) {
		// the history's entries, concatenated, in fragments of FRAGMENT_BYTES in a new envelope
		const history = Object.values(envelope.entries).flatMap((b) => Object.values(b));
		const packed = new Uint8Array(history.reduce((n, e) => n + e.length, 0));
		history.reduce((at, e) => (packed.set(e, at), at + e.length), 0);
		envelope = A.from<FloorEnvelope>({
			entries: Object.fromEntries(
				Array.from({ length: FLOOR_ENVELOPE_BUCKETS }, (_, b) => [bucketOf(b), {}])
			)
		});
		for (let at = 0; at < packed.length; at += FRAGMENT_BYTES)
			envelope = A.change(envelope, (d) => {
				d.entries['00']![`fragment.${at}`] = packed.slice(at, at + FRAGMENT_BYTES);
			});
	}
	let readerPlain = A.clone(plain);
	/** A copy held as Automerge's backend alone: no JS document kept up to date. */
	const readerBackend = A.getBackend(A.clone(plain));
	let readerEnvelope = A.clone(envelope);
	const arriving = Array.from({ length: incoming }, (_, i) => write('v', i, `late ${i}`));
	const stages = { envelope: 0, verify: 0, decrypt: 0, apply: 0 };
	const plaintexts: Uint8Array[] = [];
	arriving.forEach((change, i) => {
		const t0 = performance.now();
		[readerEnvelope] = A.applyChanges(readerEnvelope, [change]);
		const entry = readerEnvelope.entries[bucketOf(i)]![`v.${i}`]!;
		const t1 = performance.now();
		const body = entry.subarray(0, entry.length - 64);
		if (!verify(null, body, publicKey, entry.subarray(body.length))) throw new Error('signature');
		const t2 = performance.now();
		const plaintext = xchacha20poly1305(key, body.subarray(0, 24)).decrypt(body.subarray(24));
		const t3 = performance.now();
		[readerPlain] = A.applyChanges(readerPlain, [plaintext]);
		const t4 = performance.now();
		plaintexts.push(plaintext);
		stages.envelope += t1 - t0;
		stages.verify += t2 - t1;
		stages.decrypt += t3 - t2;
		stages.apply += t4 - t3;
	});
	if (Object.keys(readerPlain.buckets).length !== Object.keys(plain.buckets).length)
		throw new Error('the floor reader missed messages');
	// the least a plaintext apply can cost: the same changes, one at a time, to the backend only
	const t5 = performance.now();
	for (const change of plaintexts) readerBackend.applyChanges([change]);
	const backendApply = performance.now() - t5;
	if (readerBackend.getHeads().join() !== A.getHeads(readerPlain).join())
		throw new Error('the backend-only reader missed messages');
	const us = (ms: number) => (ms * 1000) / incoming;
	return {
		envelopeUs: us(stages.envelope),
		verifyUs: us(stages.verify),
		decryptUs: us(stages.decrypt),
		applyUs: us(stages.apply),
		backendApplyUs: us(backendApply),
		totalUs: us(stages.envelope + stages.verify + stages.decrypt + stages.apply),
		/** The floor had the reader kept no JS document of the channel (reads through the backend). */
		leastUs: us(stages.envelope + stages.verify + stages.decrypt + backendApply)
	};
}

async function quickCard() {
	const provider = await cryptoProvider();
	const identitySeed = randomBytes(32);
	const userKey = await provider.ed25519PublicKey(identitySeed);
	const deviceKey = await provider.ed25519PublicKey(randomBytes(32));
	const sign = (m: Uint8Array) => provider.sign(identitySeed, m);
	const cert = await issueDeviceCertificate(
		userKey,
		sign,
		deviceKey,
		provider.x25519PublicKey(newX25519Secret()),
		'bench'
	);
	return issueUserCard(userKey, sign, provider.x25519PublicKey(newX25519Secret()), 0, [cert]);
}

/** Milliseconds for a ban (new epochs for the space and its channel, sealed to every remaining member). */
export async function rotationCost(members = AUTHORITY_PARAMS.members) {
	const owner = await Charter.open({ inMemory: true });
	await owner.createIdentity();
	const space = await owner.createSpace({ name: 'big' });
	const cards = await Promise.all(Array.from({ length: members - 1 }, () => quickCard()));
	for (let i = 0; i < cards.length; i += 250)
		await space.addMembers(cards.slice(i, i + 250).map((c) => c.bytes));
	if (space.members.length !== members)
		throw new Error(`space has ${space.members.length} members`);
	const start = performance.now();
	await space.ban(cards[0]!.user);
	const ms = performance.now() - start;
	await owner.close();
	return { members, ms, lockboxes: 2 * (members - 1) };
}

export type ValidationCost = Awaited<ReturnType<typeof validationCost>>;

/** `validationCost(size, …, { compacted })` in a fresh process of its own, its result read back. */
export async function validationCostApart(
	size: number,
	{ compacted = false }: { compacted?: boolean } = {}
): Promise<ValidationCost> {
	return jsonFromFreshProcess<ValidationCost>(
		fileURLToPath(import.meta.url),
		['measure', String(size), ...(compacted ? ['compacted'] : [])],
		{ what: `validation measurement (${size})` }
	);
}

if (process.argv[2] === 'measure' && import.meta.url === `file://${process.argv[1]}`) {
	const r = await validationCost(Number(process.argv[3]), undefined, undefined, {
		compacted: process.argv[4] === 'compacted'
	});
	process.stdout.write(`${JSON.stringify(r)}\n`);
	process.exit(0);
}
