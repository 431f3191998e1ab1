/**
 * Sealed publication of envelope changes: a peer cannot equivocate on another writer's Automerge
 * changes (same actor and seq, other bytes), which would otherwise partition the envelope for good.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as A from '@automerge/automerge';
import { Repo } from '@automerge/automerge-repo';
import { MessageChannelNetworkAdapter } from '@automerge/automerge-repo-network-messagechannel';
import {
	BUCKET_OBJECTS,
	bytesWrittenBy,
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
