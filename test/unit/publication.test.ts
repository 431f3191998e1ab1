/**
 * Sealed publication of envelope changes: a peer cannot equivocate on another writer's Automerge
 * changes (same actor and seq, other bytes), which would otherwise partition the envelope for good.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import * as A from '@automerge/automerge';
import { Repo } from '@automerge/automerge-repo';
import { MessageChannelNetworkAdapter } from '@automerge/automerge-repo-network-messagechannel';
import {
	BUCKET_OBJECTS,
	bytesWrittenBy,
	DecodedValues,
	ENTRIES_OBJECT,
	ENVELOPE_ROOT,
	envelopeDocumentId,
	type EnvelopeDoc
} from '../../src/lib/sync/envelope.js';
import { Wire } from '../../src/lib/sync/wire.js';
import {
	decodeBytesSetChange,
	encodeBytesSetChange,
	type BytesSetChange
} from '../../src/lib/sync/change-encoder.js';
import { checkPublishedChanges, Publisher, SEAL_PREFIX } from '../../src/lib/sync/publication.js';
import { VerifyingNetworkAdapter } from '../../src/lib/sync/verifying-adapter.js';
import { base64url, hex, randomBytes } from '../../src/lib/util/bytes.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
	for (const c of cleanups.splice(0)) await c();
});

const until = async (check: () => boolean, ms = 5000) => {
	const start = Date.now();
	while (!check()) {
		if (Date.now() - start > ms) throw new Error('timed out');
		await new Promise((r) => setTimeout(r, 20));
	}
};

async function writerRepo() {
	const repo = new Repo({ network: [] });
	const publisher = await Publisher.create();
	cleanups.push(() => repo.shutdown().catch(() => undefined));
	return { repo, wire: new Wire(repo, publisher), publisher };
}

/** Changes of `doc` after the shared start (the root and the buckets change), oldest first. */
const published = (doc: A.Doc<EnvelopeDoc>) => A.getAllChanges(doc).slice(2);

/**
 * A well-formed change under the genuine change's actor and seq that is not the one its publisher
 * wrote: the same fields with `edit` applied, in Charter's canonical encoding.
 */
function forgeAs(genuine: Uint8Array, edit: Partial<BytesSetChange>): Uint8Array {
	const { hash: _hash, bytes: _bytes, ...fields } = decodeBytesSetChange(genuine)!;
	return encodeBytesSetChange({ ...fields, ...edit }).bytes;
}

/** The same change as format v1 would have written it: values as base64url strings. */
function asStrings(genuine: Uint8Array): Uint8Array {
	const { hash: _hash, bytes: _bytes, ops, ...fields } = decodeBytesSetChange(genuine)!;
	return A.encodeChange({
		...fields,
		ops: ops.map((op) => ({
			action: 'set',
			obj: fields.obj,
			key: op.key,
			value: base64url.encode(op.value),
			pred: []
		}))
	} as unknown as Parameters<typeof A.encodeChange>[0]);
}

/**
 * A publisher written out from the protocol (docs/protocol.md §4.1) with node:crypto, as a peer that
 * is not Charter would: it can seal what it likes, including a successor that vouches for a change of
 * its own actor that no publication may be.
 */
function handMadePublisher() {
	const { publicKey, privateKey } = generateKeyPairSync('ed25519');
	const key = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
	const sha256 = (...parts: Uint8Array[]) =>
		createHash('sha256').update(Buffer.concat(parts)).digest();
	const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
	const u64 = (n: number) => Buffer.concat([u32(Math.floor(n / 2 ** 32)), u32(n >>> 0)]);
	const actor = sha256(Buffer.from('charter/v1/publisher-actor\0'), key)
		.subarray(0, 16)
		.toString('hex');
	const seal = (change: Omit<BytesSetChange, 'message'>) => {
		const obj = Buffer.from(change.obj);
		const parts: Uint8Array[] = [
			Buffer.from('charter/v3/publication\0'),
			u32(obj.length),
			obj,
			Buffer.from(change.actor, 'hex'),
			u32(change.seq),
			u64(change.startOp),
			u64(change.time),
			u32(change.deps.length),
			...[...change.deps].sort().map((d) => Buffer.from(d, 'hex')),
			u32(change.ops.length)
		];
		for (const op of change.ops) {
			const k = Buffer.from(op.key);
			parts.push(u32(k.length), k, u32(op.value.length), op.value);
		}
		const signature = sign(null, sha256(...parts), privateKey);
		return SEAL_PREFIX + Buffer.concat([key, signature]).toString('base64url');
	};
	return {
		actor,
		/** A message that parses as this publisher's seal but signs nothing. */
		anySeal: SEAL_PREFIX + Buffer.concat([key, Buffer.alloc(64)]).toString('base64url'),
		/** A sealed publication of `ops` into `obj`, the next change after `doc`'s heads. */
		publish(doc: A.Doc<unknown>, seq: number, obj: string, ops: BytesSetChange['ops']) {
			const fields = {
				actor,
				seq,
				startOp: A.stats(doc).numOps + 1,
				time: 0,
				deps: A.getHeads(doc),
				obj,
				ops
			};
			return encodeBytesSetChange({ ...fields, message: seal(fields) }).bytes;
		}
	};
}

describe('sealed publication of envelope changes', () => {
	it('✓ the attack is real: a forged (actor, seq) makes Automerge refuse the genuine change', async () => {
		const { wire } = await writerRepo();
		const handle = await wire.open(envelopeDocumentId(randomBytes(16), randomBytes(16)));
		await wire.append(handle, [{ key: 'a', bytes: randomBytes(20) }]);
		const [genuine] = published(handle.doc());
		const forged = forgeAs(genuine!, { message: 'junk' });
		const [victim] = A.applyChanges(A.load<EnvelopeDoc>(ENVELOPE_ROOT), [forged]);
		expect(() => A.applyChanges(victim, [genuine!])).toThrow(/duplicate seq/);
	});

	it('✓ sealed changes pass; unsealed, re-sealed, altered or re-encoded ones are refused', async () => {
		const { wire, publisher } = await writerRepo();
		const handle = await wire.open(envelopeDocumentId(randomBytes(16), randomBytes(16)));
		await wire.append(handle, [{ key: 'a', bytes: randomBytes(20) }]);
		await wire.append(handle, [{ key: 'b', bytes: randomBytes(20) }]);
		const changes = published(handle.doc());
		expect(changes).toHaveLength(2);
		const check = await checkPublishedChanges(changes);
		expect(check).toEqual({ accepted: changes, refused: 0 });
		// sync messages may carry several changes concatenated in one item, or a whole document
		const joined = new Uint8Array([...changes[0]!, ...changes[1]!]);
		expect(await checkPublishedChanges([joined])).toEqual({ accepted: [joined], refused: 0 });
		const whole = A.save(handle.doc());
		expect(await checkPublishedChanges([whole])).toEqual({ accepted: [whole], refused: 0 });
		expect(A.decodeChange(changes[0]!).actor).toBe(publisher.actor);

		const genuine = changes[0]!;
		const message = A.decodeChange(genuine).message!;
		const other = await Publisher.create();
		const forgeries = {
			'no seal': forgeAs(genuine, { message: '' }),
			'seal copied, other content': forgeAs(genuine, {
				ops: [{ key: 'a', value: randomBytes(20) }]
			}),
			'seal copied, the same entries as format v1 strings': asStrings(genuine),
			'seal copied, other time': forgeAs(genuine, { time: 1 }),
			'seal copied, other deps': forgeAs(genuine, { deps: [] }),
			'seal copied, the same entries in another bucket': forgeAs(genuine, {
				obj: BUCKET_OBJECTS.find((b) => b !== decodeBytesSetChange(genuine)!.obj)!
			}),
			'seal copied, the same entries straight into the entries map (format v2)': forgeAs(genuine, {
				obj: ENTRIES_OBJECT
			}),
			"another key's seal on this actor": forgeAs(genuine, {
				message: SEAL_PREFIX + message.slice(SEAL_PREFIX.length).replace(/^.{4}/, 'AAAA')
			}),
			'not a change at all': randomBytes(64)
		};
		for (const [name, forged] of Object.entries(forgeries)) {
			const result = await checkPublishedChanges([forged]);
			expect({ name, ...result }).toEqual({ name, accepted: [], refused: 1 });
		}
		expect(other.actor).not.toBe(publisher.actor);
	});

	it('✓ a whole document (a first sync) passes as one item, and one bad change in it is cut out as change by change', async () => {
		const { repo, wire } = await writerRepo();
		const id = envelopeDocumentId(randomBytes(16), randomBytes(16));
		const handle = await wire.open(id);
		const values = [randomBytes(40), randomBytes(40), randomBytes(40)];
		await wire.append(handle, [{ key: 'a', bytes: values[0]! }]);
		await wire.append(handle, [
			{ key: 'b', bytes: values[1]! },
			{ key: 'c', bytes: values[2]! }
		]);
		// a second publisher writes concurrently, into the same bucket keys as the first, sometimes
		const other = new Wire(repo, await Publisher.create());
		const again = await other.open(id);
		await other.append(again, [{ key: 'd', bytes: randomBytes(40) }]);
		const good = A.save(handle.doc());
		const remember = new DecodedValues();
		expect(await checkPublishedChanges([good], { remember })).toEqual({
			accepted: [good],
			refused: 0
		});
		const written = published(handle.doc());
		expect(written).toHaveLength(3);
		// ✓ what the changes set is remembered as one history at the document's heads
		const history = remember.takeHistory(handle.doc())!;
		expect(history.heads).toEqual(A.getHeads(handle.doc()));
		const hexes = (values: Uint8Array[]) => values.map((v) => hex.encode(v)).sort();
		expect(hexes(history.values)).toEqual(hexes(bytesWrittenBy(written)));
		expect(history.values).toHaveLength(4);

		// the first publisher's newest change, and its seal: copied onto changes of its actor that do
		// what no publication may, each passes the quick checks on the message and fails the count
		const newest = written.find((c) => A.decodeChange(c).seq === 2)!;
		const { message, actor, obj } = decodeBytesSetChange(newest)!;
		const bucket = Object.keys(handle.doc().entries).find(
			(k) => A.getObjectId((handle.doc().entries as Record<string, object>)[k]!) === obj
		)!;
		type Loose = Record<string, Record<string, unknown>> & { entries: Record<string, unknown> };
		const vandalisms: Record<string, (d: Loose) => void> = {
			'deletes an entry': (d) => void delete (d.entries[bucket] as Record<string, unknown>)['b'],
			'overwrites an entry': (d) =>
				void ((d.entries[bucket] as Record<string, unknown>)['b'] = randomBytes(4)),
			'sets a string into a bucket': (d) =>
				void ((d.entries[bucket] as Record<string, unknown>)['s'] = new A.ImmutableString('x')),
			'adds a text into a bucket': (d) =>
				void ((d.entries[bucket] as Record<string, unknown>)['t'] = 'x'),
			'adds a counter into a bucket': (d) =>
				void ((d.entries[bucket] as Record<string, unknown>)['c'] = new A.Counter(1)),
			'sets entries into two buckets': (d) => {
				(d.entries[bucket] as Record<string, unknown>)['p'] = randomBytes(4);
				(d.entries[Object.keys(d.entries).find((k) => k !== bucket)!] as Record<string, unknown>)[
					'q'
				] = randomBytes(4);
			},
			'adds a map into a bucket': (d) =>
				void ((d.entries[bucket] as Record<string, unknown>)['m'] = {}),
			'replaces the entries map': (d) =>
				void (d.entries = 'x' as unknown as Record<string, unknown>),
			'sets bytes at the root': (d) => void ((d as Record<string, unknown>)['x'] = randomBytes(4))
		};
		for (const [name, vandalise] of Object.entries(vandalisms)) {
			const vandalised = A.change(
				A.clone(handle.doc(), { actor }) as unknown as A.Doc<Loose>,
				{ message },
				vandalise
			);
			const bad = A.getLastLocalChange(vandalised)!;
			expect(A.decodeChange(bad).message).toBe(message);
			const whole = A.save(vandalised);
			const result = await checkPublishedChanges([whole]);
			const hashes = result.accepted.map((c) => A.decodeChange(c).hash);
			expect({ name, refused: result.refused, whole: result.accepted.includes(whole) }).toEqual({
				name,
				refused: 1,
				whole: false
			});
			expect(hashes).toHaveLength(A.getAllChanges(vandalised).length - 1);
			expect(hashes).not.toContain(A.decodeChange(bad).hash);
		}

		// the same vandalisms vouched for: each under a peer's own actor, followed by a change of hers
		// that is sealed and signed and depends on it; the signature holds, the count does not
		const vouchedFor = Object.entries(vandalisms).map(([name, vandalise]) => ({
			name,
			vandalise,
			unsealed: false
		}));
		vouchedFor.push({
			name: 'a publication with no seal',
			vandalise: (d) => void ((d.entries[bucket] as Record<string, unknown>)['u'] = randomBytes(4)),
			unsealed: true
		});
		for (const { name, vandalise, unsealed } of vouchedFor) {
			const mallory = handMadePublisher();
			const vandalised = A.change(
				A.clone(handle.doc(), { actor: mallory.actor }) as unknown as A.Doc<Loose>,
				{ message: unsealed ? 'hello' : mallory.anySeal },
				vandalise
			);
			const bad = A.getLastLocalChange(vandalised)!;
			const vouching = mallory.publish(vandalised, 2, obj, [{ key: 'v', value: randomBytes(8) }]);
			const [both] = A.applyChanges(vandalised, [vouching]);
			expect(A.getHeads(both)).toEqual([A.decodeChange(vouching).hash]);
			const whole = A.save(both);
			const result = await checkPublishedChanges([whole]);
			const hashes = result.accepted.map((c) => A.decodeChange(c).hash);
			expect({ name, whole: result.accepted.includes(whole), refused: result.refused }).toEqual({
				name,
				whole: false,
				refused: 1
			});
			expect(hashes).not.toContain(A.decodeChange(bad).hash);
		}
		// while publications sealed by hand, the older one vouched for by the newer, pass whole
		const honest = handMadePublisher();
		const first = honest.publish(handle.doc(), 1, obj, [{ key: 'h1', value: randomBytes(8) }]);
		const [one] = A.applyChanges(A.clone(handle.doc()), [first]);
		const [two] = A.applyChanges(one, [
			honest.publish(one, 2, obj, [{ key: 'h2', value: randomBytes(8) }])
		]);
		const whole = A.save(two);
		expect(await checkPublishedChanges([whole])).toEqual({ accepted: [whole], refused: 0 });

		// a well-formed change of that actor with the copied seal: the count holds, the signature not
		const forged = forgeAs(newest, {
			seq: 3,
			deps: A.getHeads(handle.doc()),
			startOp: A.stats(handle.doc()).numOps + 1,
			ops: [{ key: 'z', value: randomBytes(40) }]
		});
		const [withForgery] = A.applyChanges(A.clone(handle.doc()), [forged]);
		const result = await checkPublishedChanges([A.save(withForgery)]);
		expect(result.refused).toBe(1);
		expect(result.accepted.map((c) => A.decodeChange(c).hash)).not.toContain(
			A.decodeChange(forged).hash
		);
	});

	it('✓ a hostile peer cannot plant a forged change: the victim refuses it, counts it, and still gets every genuine entry', async () => {
		const { repo: writer, wire: writerWire } = await writerRepo();
		const id = envelopeDocumentId(randomBytes(16), randomBytes(16));
		const written = await writerWire.open(id);
		const entries = [randomBytes(30), randomBytes(30), randomBytes(30)];
		for (const [i, bytes] of entries.entries())
			await writerWire.append(written, [{ key: `k${i}`, bytes }]);
		const genuine = published(written.doc());

		// the hostile peer holds a forgery of the writer's first change, carrying junk
		const hostileChannel = new MessageChannel();
		const hostile = new Repo({ network: [new MessageChannelNetworkAdapter(hostileChannel.port2)] });
		const planted = hostile.import<EnvelopeDoc>(ENVELOPE_ROOT, { docId: id });
		const junk = randomBytes(30);
		planted.update(
			(d) => A.applyChanges(d, [forgeAs(genuine[0]!, { ops: [{ key: 'k0', value: junk }] })])[0]
		);

		let refused = 0;
		const counter = { refused: (n: number) => void (refused += n) };
		const writerChannel = new MessageChannel();
		const victim = new Repo({
			network: [
				new VerifyingNetworkAdapter(
					new MessageChannelNetworkAdapter(hostileChannel.port1),
					counter
				),
				new VerifyingNetworkAdapter(new MessageChannelNetworkAdapter(writerChannel.port1), counter)
			]
		});
		const victimWire = new Wire(victim, await Publisher.create());
		cleanups.push(async () => {
			await victim.shutdown().catch(() => undefined);
			await hostile.shutdown().catch(() => undefined);
			for (const port of [hostileChannel.port1, hostileChannel.port2, writerChannel.port1])
				port.close();
		});
		const held = await victimWire.open(id);
		await until(() => refused > 0);
		await hostile.shutdown().catch(() => undefined);
		// the writer comes online only now: the forgery had every chance to arrive first
		writer.networkSubsystem.addNetworkAdapter(
			new MessageChannelNetworkAdapter(writerChannel.port2)
		);
		const read = () => bytesWrittenBy(A.getAllChanges(held.doc())).map((b) => hex.encode(b));
		await until(() => read().length === 3);
		for (const bytes of entries) expect(read()).toContain(hex.encode(bytes));
		expect(read()).not.toContain(hex.encode(junk));
		expect(refused).toBeGreaterThan(0);
	});
});
