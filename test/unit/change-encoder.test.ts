import * as A from '@automerge/automerge';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBytesSetChange, encodeBytesSetChange } from '../../src/lib/sync/change-encoder.js';
import {
	BUCKET_OBJECTS,
	ENTRIES_OBJECT,
	ENVELOPE_ROOT,
	type EnvelopeDoc
} from '../../src/lib/sync/envelope.js';

const actorArb = fc
	.uint8Array({ minLength: 16, maxLength: 16 })
	.map((b) => Buffer.from(b).toString('hex'))
	.filter((a) => !a.startsWith('00'.repeat(15))); // the actors of the root and the buckets
// lengths drawn from a small set so that equal neighbours (repeat runs) are common
const valueArb = fc.oneof(
	fc.constantFrom(0, 1, 63, 64, 200).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
	fc.uint8Array({ maxLength: 3000 })
);
const keyArb = fc.string({ minLength: 1, maxLength: 40 }).filter((k) => k !== '__proto__');
const opsArb = fc.uniqueArray(fc.tuple(keyArb, valueArb), {
	minLength: 1,
	maxLength: 12,
	selector: ([key]) => key
});

/** The bucket these tests write into (any bucket would do). */
const bucket = (d: EnvelopeDoc) => (d.entries as Record<string, Record<string, Uint8Array>>)['2a']!;

describe('the bytes-set change encoder', () => {
	it('✓ writes the very bytes Automerge writes for the same change, over random shapes', () => {
		fc.assert(
			fc.property(
				actorArb,
				fc.array(fc.tuple(actorArb, opsArb), { maxLength: 3 }),
				opsArb,
				fc.string({ maxLength: 100 }),
				(actor, earlier, ops, message) => {
					// a document with some history: other writers (concurrent heads) and earlier changes
					let doc = A.load<EnvelopeDoc>(ENVELOPE_ROOT);
					for (const [other, otherOps] of earlier) {
						const fork = A.change(A.clone(doc, { actor: other }), { time: 0 }, (d) => {
							for (const [k, v] of otherOps) bucket(d)[`e-${k}`] = v;
						});
						doc = A.merge(doc, fork);
					}
					const mine = A.clone(doc, { actor });
					const native = A.change(mine, { time: 0, message }, (d) => {
						for (const [k, v] of ops) bucket(d)[k] = v;
					});
					const change = A.getLastLocalChange(native)!;
					const meta = A.decodeChange(change);
					const ours = encodeBytesSetChange({
						actor,
						seq: meta.seq,
						startOp: meta.startOp,
						time: 0,
						deps: A.getHeads(doc),
						message,
						obj: BUCKET_OBJECTS[0x2a]!,
						ops: ops.map(([key, value]) => ({ key, value }))
					});
					expect(Buffer.from(ours.bytes).toString('hex')).toBe(Buffer.from(change).toString('hex'));
					expect(ours.hash).toBe(meta.hash);
					const read = decodeBytesSetChange(change)!;
					expect(read.hash).toBe(meta.hash);
					expect([read.actor, read.seq, read.startOp, read.message]).toEqual([
						actor,
						meta.seq,
						meta.startOp,
						message
					]);
					expect(read.deps).toEqual([...A.getHeads(doc)].sort());
					expect(read.ops.map((o) => [o.key, [...o.value]])).toEqual(
						ops.map(([k, v]) => [k, [...v]])
					);
				}
			),
			{ numRuns: 200 }
		);
	});

	it('✓ its changes apply, and survive a save/load round trip', () => {
		const doc = A.load<EnvelopeDoc>(ENVELOPE_ROOT);
		const { bytes, hash } = encodeBytesSetChange({
			actor: 'ab'.repeat(16),
			seq: 1,
			startOp: A.stats(doc).numOps + 1,
			time: 0,
			deps: A.getHeads(doc),
			message: 'seal',
			obj: ENTRIES_OBJECT,
			ops: [
				{ key: 'a', value: Uint8Array.of(1, 2, 3) },
				{ key: 'b', value: new Uint8Array(500) }
			]
		});
		const [next] = A.applyChanges(doc, [bytes]);
		expect(A.getHeads(next)).toEqual([hash]);
		expect(next.entries.a).toEqual(Uint8Array.of(1, 2, 3));
		const reloaded = A.load<EnvelopeDoc>(A.save(next));
		expect(A.getHeads(reloaded)).toEqual([hash]);
		expect(Buffer.from(A.getAllChanges(reloaded).at(-1)!)).toEqual(Buffer.from(bytes));
	});

	it('✓ reads back only its own canonical bytes: not strings, not other encodings, not junk', () => {
		const doc = A.load<EnvelopeDoc>(ENVELOPE_ROOT);
		const fields = {
			actor: 'ab'.repeat(16),
			seq: 1,
			startOp: A.stats(doc).numOps + 1,
			time: 0,
			deps: A.getHeads(doc),
			message: 'seal',
			obj: ENTRIES_OBJECT
		};
		const { bytes } = encodeBytesSetChange({
			...fields,
			ops: [{ key: 'k', value: Uint8Array.of(9) }]
		});
		expect(decodeBytesSetChange(bytes)?.ops[0]?.value).toEqual(Uint8Array.of(9));
		// the same op with a string value, as Automerge encodes it
		const stringChange = A.encodeChange({
			...fields,
			ops: [{ action: 'set', obj: ENTRIES_OBJECT, key: 'k', value: 'x', pred: [] }]
		} as unknown as Parameters<typeof A.encodeChange>[0]);
		expect(decodeBytesSetChange(stringChange)).toBeUndefined();
		// truncated, extended, flipped checksum, a root change
		expect(decodeBytesSetChange(bytes.subarray(0, bytes.length - 1))).toBeUndefined();
		expect(decodeBytesSetChange(Uint8Array.from([...bytes, 0]))).toBeUndefined();
		const flipped = Uint8Array.from(bytes);
		flipped[5]! ^= 1;
		expect(decodeBytesSetChange(flipped)).toBeUndefined();
		expect(decodeBytesSetChange(A.getAllChanges(doc)[0]!)).toBeUndefined();
		fc.assert(
			fc.property(fc.uint8Array({ maxLength: 300 }), (junk) => {
				expect(decodeBytesSetChange(junk)).toBeUndefined();
				expect(
					decodeBytesSetChange(Uint8Array.from([0x85, 0x6f, 0x4a, 0x83, ...junk]))
				).toBeUndefined();
			})
		);
	});

	it('✓ refuses what it cannot encode canonically', () => {
		const base = { actor: 'ab'.repeat(16), seq: 1, startOp: 3, time: 0, deps: [], message: '' };
		expect(() => encodeBytesSetChange({ ...base, obj: ENTRIES_OBJECT, ops: [] })).toThrow(
			RangeError
		);
		expect(() =>
			encodeBytesSetChange({
				...base,
				obj: `2@${'ab'.repeat(16)}`,
				ops: [{ key: 'k', value: new Uint8Array(1) }]
			})
		).toThrow(RangeError);
	});
});
