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
import { deliver, entriesOf } from '../test/support/personas.js';
import { appendEntries, envelopeDocumentId, openEnvelope } from '../src/lib/sync/envelope.js';
import { entryHash, entryKey } from '../src/lib/encryption/entry.js';
import { channelIdBytes, spaceIdBytes } from '../src/lib/identity/ids.js';

export const AUTHORITY_PARAMS = { sizes: [1_000, 10_000], incoming: 200, members: 1_000 };

async function fillChannel(space: Space, count: number) {
	const channel = space.channels[0]!;
	for (let i = 0; i < count; i += 100) {
		const batch: Promise<unknown>[] = [];
		for (let j = i; j < Math.min(count, i + 100); j++) batch.push(channel.send(`message ${j}`));
		await Promise.all(batch);
	}
}

/** µs per incoming change for Charter (verify, decrypt, authorise, apply) and plain Automerge (apply). */
export async function validationCost(
	size: number,
	incoming = AUTHORITY_PARAMS.incoming,
	/** Called around the measured loop (a profiler, in `bench/profile.ts`). */
	hooks?: { beforeMeasure?(): Promise<void>; afterMeasure?(): Promise<void> }
) {
	const alice = await Charter.open({ inMemory: true });
	const bob = await Charter.open({ inMemory: true });
	await alice.createIdentity();
	await bob.createIdentity();
	const space = await alice.createSpace({ name: 'bench' });
	await space.addMember(await bob.memberCard());
	await fillChannel(space, size);
	const a = { name: 'alice', client: alice };
	const b = { name: 'bob', client: bob };
	await deliver(a, b, space.id);
	const channel = space.channels[0]!;
	const channelDoc = channelIdBytes(channel.id);
	const before = new Set(
		(await entriesOf(alice, space.id, channelDoc)).map((e) => entryKey(entryHash(e)))
	);
	for (let i = 0; i < incoming; i++) await channel.send(`late ${i}`);
	const fresh = (await entriesOf(alice, space.id, channelDoc)).filter(
		(e) => !before.has(entryKey(entryHash(e)))
	);
	const handle = await openEnvelope(
		bob.wire,
		envelopeDocumentId(spaceIdBytes(space.id), channelDoc)
	);
	const bobChannel = bob.space(space.id)!.channel(channel.id)!;
	await hooks?.beforeMeasure?.();
	const start = performance.now();
	for (const bytes of fresh) {
		await appendEntries(handle, [{ key: entryKey(entryHash(bytes)), bytes }]);
		await bobChannel.settled();
	}
	const charterUs = ((performance.now() - start) * 1000) / fresh.length;
	await hooks?.afterMeasure?.();
	if (bobChannel.messages.length !== size + incoming)
		throw new Error(`bob has ${bobChannel.messages.length} messages`);
	await alice.close();
	await bob.close();

	// plain Automerge: the same bucketed structure, one remote change applied at a time
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
	const plainUs = ((performance.now() - t0) * 1000) / changes.length;
	return { size, charterUs, plainUs };
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
