/**
 * Authority benchmarks:
 *  - validation cost per incoming change on a channel of 1,000 vs 10,000 messages (it must not grow
 *    with the document), side by side with plain Automerge applying the same kind of change;
 *  - key rotation after a ban in a space of 1,000 members (target < 1 s).
 */
import * as A from '@automerge/automerge';
import { Charter, type Space } from '../src/lib/index.js';
import { cryptoProvider } from '../src/lib/crypto/primitives.js';
import { issueDeviceCertificate, issueUserCard } from '../src/lib/identity/certificates.js';
import { newX25519Secret } from '../src/lib/crypto/primitives.js';
import { randomBytes } from '../src/lib/util/bytes.js';
import { envelopeDocumentId } from '../src/lib/sync/envelope.js';
import { checkPublishedChanges } from '../src/lib/sync/publication.js';
import { channelIdBytes, spaceIdBytes } from '../src/lib/identity/ids.js';
import { startSyncServerProcess } from '../test/support/sync-server-process.js';

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
 * the plaintext apply). Beside it, plain Automerge applying the same kind of change.
 */
export async function validationCost(
	size: number,
	incoming = AUTHORITY_PARAMS.incoming,
	/** Called around the measured loop (a profiler, in `bench/profile.ts`). */
	hooks?: { beforeMeasure?(): Promise<void>; afterMeasure?(): Promise<void> }
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
		await server.stop(); // from here on nothing arrives but what the loop below hands over
		stopped = true;
		for (let i = 0; i < incoming; i++) await channel.send(`late ${i}`);
		const envelope = envelopeDocumentId(spaceIdBytes(space.id), channelIdBytes(channel.id));
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
			plainUs: plainApplyUs(size, incoming)
		};
	} finally {
		await alice.close();
		await bob.close();
		if (!stopped) await server.stop();
	}
}

/** µs per remote change for plain Automerge: the same bucketed structure, one change at a time. */
function plainApplyUs(size: number, incoming: number): number {
	let writer = A.from<{ buckets: Record<string, Record<string, unknown>> }>({ buckets: {} });
	for (let i = 0; i < size; i += 100)
		writer = A.change(writer, (d) => {
			for (let j = i; j < Math.min(size, i + 100); j++) {
				const bucket = `w.${Math.floor(j / 128)}`;
				d.buckets[bucket] ??= {};
				d.buckets[bucket]![`w.${j}`] = {
					author: new A.ImmutableString('u'),
					text: new A.ImmutableString(`message ${j}`),
					createdAt: j
				};
			}
		});
	let reader = A.clone(writer);
	const changes: A.Change[] = [];
	for (let i = 0; i < incoming; i++) {
		writer = A.change(writer, (d) => {
			const bucket = `v.${Math.floor(i / 128)}`;
			d.buckets[bucket] ??= {};
			d.buckets[bucket]![`v.${i}`] = {
				author: new A.ImmutableString('u'),
				text: new A.ImmutableString(`late ${i}`),
				createdAt: i
			};
		});
		changes.push(A.getLastLocalChange(writer)!);
	}
	const t0 = performance.now();
	for (const c of changes) [reader] = A.applyChanges(reader, [c]);
	return ((performance.now() - t0) * 1000) / changes.length;
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
