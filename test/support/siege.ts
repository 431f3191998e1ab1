/**
 * Tools for besieging a space without a network (test/adversarial/no-brick.property.test.ts):
 *
 * - a `Relay` hands entries to one peer the way a sync peer would: as sealed publications of its
 *   own, passed through the same publication check the verifying network adapter runs, then
 *   applied to the peer's envelope document — never through the recipient's own publisher, so a
 *   peer whose envelope was vandalised still receives what others send;
 * - `Outsider` is a raw Automerge client with no Charter code: it publishes junk under a
 *   publishing key of its own, and writes unsealed changes (alone, or vouched for by a sealed one);
 * - `sealAs` seals any change batch (or any body) with a member's genuine device key, under any
 *   epoch key and writer session the caller picks — equivocating pairs, back-dated contexts,
 *   forged actors: whatever a hostile member's own device can sign.
 */
import * as A from '@automerge/automerge';
import type { DocHandle } from '@automerge/automerge-repo';
import type { Charter, SpaceId } from '../../src/lib/index.js';
import { sealEntry } from '../../src/lib/encryption/entry.js';
import type { Identity } from '../../src/lib/identity/identity.js';
import type { SecretStore } from '../../src/lib/identity/secret-store.js';
import { KeyRing } from '../../src/lib/encryption/keyring.js';
import { encodeChangeBatch } from '../../src/lib/sync/body.js';
import {
	ENTRIES_OBJECT,
	ENVELOPE_ROOT,
	envelopeDocumentId,
	valuesSetBy,
	type EnvelopeDoc
} from '../../src/lib/sync/envelope.js';
import {
	checkPublishedChanges,
	publisherActor,
	Publisher,
	SEAL_PREFIX
} from '../../src/lib/sync/publication.js';
import { entryHash, entryKey } from '../../src/lib/encryption/entry.js';
import { DOMAIN } from '../../src/lib/crypto/domains.js';
import { cryptoProvider, hash, KEY_BYTES } from '../../src/lib/crypto/primitives.js';
import { spaceIdBytes } from '../../src/lib/identity/ids.js';
import {
	base64url,
	concatBytes,
	hex,
	randomBytes,
	u32be,
	u64be,
	utf8
} from '../../src/lib/util/bytes.js';

type Change = Uint8Array;

/** An envelope document of the wire repo, held in memory by a relay or an outsider. */
class LooseEnvelope {
	doc: A.Doc<EnvelopeDoc>;
	constructor(
		readonly documentId: string,
		actor?: string
	) {
		this.doc = A.load<EnvelopeDoc>(ENVELOPE_ROOT, actor ? { actor } : undefined);
	}
	/** What Publisher.publish needs of a DocHandle. */
	get handle(): DocHandle<EnvelopeDoc> {
		return {
			documentId: this.documentId,
			isReady: () => true,
			doc: () => this.doc,
			update: (fn: (d: A.Doc<EnvelopeDoc>) => A.Doc<EnvelopeDoc>) => {
				this.doc = fn(this.doc);
			}
		} as unknown as DocHandle<EnvelopeDoc>;
	}
}

/** Applies Automerge changes to a client's envelope as its verifying network adapter would. */
export async function receiveChanges(
	client: Charter,
	space: SpaceId,
	document: Uint8Array,
	changes: Change[]
): Promise<{ refused: number; failed: boolean }> {
	const handle = await client.wire.open(envelopeDocumentId(spaceIdBytes(space), document));
	const { accepted, refused } = await checkPublishedChanges(changes, {
		remember: client.wire.decoded
	});
	const doc = handle.doc();
	const fresh = accepted.filter((c) => {
		const h = A.decodeChange(c).hash!;
		return !A.hasHeads(doc, [h]);
	});
	if (fresh.length === 0) return { refused, failed: false };
	try {
		handle.update((d) => A.applyChanges(d, fresh)[0]);
	} catch {
		// Automerge refused the batch (a seq gap panics it): the peer keeps its document as it was —
		// what the repo does with a sync message it cannot apply. Whether the owner can still write
		// afterwards is what the property checks.
		return { refused, failed: true };
	}
	return { refused, failed: false };
}

/**
 * One peer's link to one recipient: it republishes entries as its own sealed changes, in the order
 * given, `batch` entries per change, on top of its own copy of each envelope.
 */
export class Relay {
	#envelopes = new Map<string, LooseEnvelope>();
	private constructor(private readonly publisher: Publisher) {}

	static async create(): Promise<Relay> {
		return new Relay(await Publisher.create());
	}

	async publish(
		space: SpaceId,
		document: Uint8Array,
		entries: Uint8Array[],
		batch = entries.length
	) {
		const id = envelopeDocumentId(spaceIdBytes(space), document);
		let envelope = this.#envelopes.get(id);
		if (!envelope) this.#envelopes.set(id, (envelope = new LooseEnvelope(id)));
		const before = A.getHeads(envelope.doc);
		for (let i = 0; i < entries.length; i += Math.max(1, batch))
			await this.publisher.publish(
				envelope.handle,
				entries
					.slice(i, i + Math.max(1, batch))
					.map((bytes) => ({ key: entryKey(entryHash(bytes)), bytes }))
			);
		return A.getChanges(A.view(envelope.doc, before), envelope.doc);
	}

	/** Hands `entries` of one document to `client` and waits until its space has processed them. */
	async deliver(
		client: Charter,
		space: SpaceId,
		document: Uint8Array,
		entries: Uint8Array[],
		batch = entries.length
	): Promise<void> {
		const changes = await this.publish(space, document, entries, batch);
		for (const change of changes) await receiveChanges(client, space, document, [change]);
		await client.space(space)?.settled();
	}
}

/** What Publisher seals (publication.ts): every field that determines the change's hash. */
function sealDigest(change: {
	actor: string;
	seq: number;
	startOp: number;
	time: number;
	deps: string[];
	ops: { key: string; value: string }[];
}): Uint8Array {
	const parts: Uint8Array[] = [
		DOMAIN.publication,
		hex.decode(change.actor),
		u32be(change.seq),
		u64be(change.startOp),
		u64be(change.time),
		u32be(change.deps.length),
		...[...change.deps].sort().map((d) => hex.decode(d)),
		u32be(change.ops.length)
	];
	for (const op of change.ops) {
		const key = utf8.encode(op.key);
		const value = utf8.encode(op.value);
		parts.push(u32be(key.length), key, u32be(value.length), value);
	}
	return hash(concatBytes(...parts));
}

/**
 * A raw automerge-repo client that knows envelope ids and nothing else: no keys of the space, no
 * Charter code in its write path. All its changes sit on the shared envelope root, so they apply
 * at any peer.
 */
export class Outsider {
	private constructor(
		private readonly seed: Uint8Array,
		private readonly publicKey: Uint8Array,
		private readonly publisher: Publisher
	) {}

	static async create(): Promise<Outsider> {
		const seed = randomBytes(KEY_BYTES);
		const provider = await cryptoProvider();
		return new Outsider(seed, await provider.ed25519PublicKey(seed), await Publisher.create());
	}

	#envelopes = new Map<string, LooseEnvelope>();

	/** Arbitrary byte strings, published as validly sealed envelope changes (one chain per envelope). */
	async publishes(space: SpaceId, document: Uint8Array, values: Uint8Array[]): Promise<Change[]> {
		const id = envelopeDocumentId(spaceIdBytes(space), document);
		let envelope = this.#envelopes.get(id);
		if (!envelope) this.#envelopes.set(id, (envelope = new LooseEnvelope(id)));
		const before = A.getHeads(envelope.doc);
		await this.publisher.publish(
			envelope.handle,
			values.map((bytes, i) => ({ key: `junk${i}.${hex.encode(randomBytes(4))}`, bytes }))
		);
		return A.getChanges(A.view(envelope.doc, before), envelope.doc);
	}

	/**
	 * Two validly sealed changes of this outsider's actor whose op ids collide: seq 1 and seq 2 both
	 * start at the first free op counter after the root, and seq 2 does not depend on seq 1.
	 */
	async collidingOps(): Promise<Change[]> {
		const actor = publisherActor(this.publicKey);
		const root = A.load<EnvelopeDoc>(ENVELOPE_ROOT);
		const provider = await cryptoProvider();
		const out: Change[] = [];
		for (const seq of [1, 2]) {
			const unsealed = {
				actor,
				seq,
				startOp: A.stats(root).numOps + 1,
				time: 0,
				deps: A.getHeads(root),
				ops: [
					{
						action: 'set' as const,
						obj: ENTRIES_OBJECT,
						key: `c${seq}.${hex.encode(randomBytes(4))}`,
						value: base64url.encode(randomBytes(40)),
						pred: [] as string[]
					}
				]
			};
			const signature = await provider.sign(this.seed, sealDigest(unsealed));
			const message = SEAL_PREFIX + base64url.encode(concatBytes(this.publicKey, signature));
			out.push(
				A.encodeChange({ ...unsealed, message } as unknown as Parameters<typeof A.encodeChange>[0])
			);
		}
		return out;
	}

	/** An unsealed change replacing the entries map with a string: refused by the publication check. */
	unsealed(space: SpaceId, document: Uint8Array): Change[] {
		const doc = A.load<EnvelopeDoc>(ENVELOPE_ROOT);
		const vandalised = A.change(doc, (d) => {
			(d as unknown as { entries: string }).entries = 'x';
		});
		void space;
		void document;
		return [A.getLastLocalChange(vandalised)!];
	}

	/**
	 * The same vandalism under this outsider's publishing actor, followed by a validly sealed change
	 * of that actor that depends on it (a later change of an actor vouches for its earlier ones).
	 */
	async vouchedVandalism(): Promise<Change[]> {
		const actor = publisherActor(this.publicKey);
		const doc = A.change(A.load<EnvelopeDoc>(ENVELOPE_ROOT, { actor }), (d) => {
			(d as unknown as { entries: string }).entries = 'x';
		});
		const vandalism = A.getLastLocalChange(doc)!;
		const unsealed = {
			actor,
			seq: 2,
			startOp: A.stats(doc).numOps + 1,
			time: 0,
			deps: A.getHeads(doc),
			ops: [
				{
					action: 'set' as const,
					obj: ENTRIES_OBJECT,
					key: `v${hex.encode(randomBytes(4))}`,
					value: base64url.encode(randomBytes(40)),
					pred: [] as string[]
				}
			]
		};
		const provider = await cryptoProvider();
		const signature = await provider.sign(this.seed, sealDigest(unsealed));
		const message = SEAL_PREFIX + base64url.encode(concatBytes(this.publicKey, signature));
		const sealed = A.encodeChange({ ...unsealed, message } as unknown as Parameters<
			typeof A.encodeChange
		>[0]);
		return [vandalism, sealed];
	}
}

/** The identity and epoch keys a client's device holds (what a hostile member signs with). */
export async function devicesOf(client: Charter, space: SpaceId) {
	const secrets = (client as unknown as { stores: { secrets: SecretStore } }).stores.secrets;
	const { Identity } = await import('../../src/lib/identity/identity.js');
	return {
		identity: (await Identity.load(secrets))!,
		keys: await KeyRing.load(secrets, spaceIdBytes(space))
	};
}

/** Seals a body (a change batch, or anything at all) with a device's genuine key. */
export async function sealAs(
	author: Identity,
	input: {
		space: Uint8Array;
		document: Uint8Array;
		epoch: Uint8Array;
		epochKey: Uint8Array;
		session: Uint8Array;
		body: { context: string[]; changes: Change[] } | Uint8Array;
	}
): Promise<Uint8Array> {
	const sealed = await sealEntry({
		space: input.space,
		document: input.document,
		epoch: input.epoch,
		epochKey: input.epochKey,
		author: author.deviceKey,
		session: input.session,
		seq: 1,
		prev: new Uint8Array(32),
		body: input.body instanceof Uint8Array ? input.body : encodeChangeBatch(input.body),
		sign: (m) => author.signAsDevice(m)
	});
	return sealed.bytes;
}

/**
 * Every byte string ever set in a client's envelope of one document (what `entriesOf` reads), with
 * each change decoded once per `cache` — sieges read the same envelopes many times.
 */
export async function heldEntries(
	client: Charter,
	space: SpaceId,
	document: Uint8Array,
	cache: Map<string, Uint8Array[]>
): Promise<Uint8Array[]> {
	const handle = await client.wire.open(envelopeDocumentId(spaceIdBytes(space), document));
	const doc = handle.doc();
	const out: Uint8Array[] = [];
	for (const meta of A.getChangesMetaSince(doc, [])) {
		let values = cache.get(meta.hash);
		if (!values) {
			const decoded = A.inspectChange(doc, meta.hash);
			values = decoded ? valuesSetBy(decoded) : [];
			cache.set(meta.hash, values);
		}
		out.push(...values);
	}
	return out;
}
