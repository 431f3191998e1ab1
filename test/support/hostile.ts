/**
 * A hostile member: holds real keys (a member's device), but writes with no client-side checks —
 * any change, sealed under any key it holds, straight into the envelope. Honest peers must refuse
 * whatever the rules do not allow.
 */
import * as A from '@automerge/automerge';
import type { Charter, Space, Channel } from '../../src/lib/index.js';
import { Identity } from '../../src/lib/identity/identity.js';
import type { SecretStore } from '../../src/lib/identity/secret-store.js';
import { KeyRing } from '../../src/lib/encryption/keyring.js';
import { entryKey, sealEntry } from '../../src/lib/encryption/entry.js';
import { actorFor } from '../../src/lib/authority/actors.js';
import { encodeChangeBatch } from '../../src/lib/sync/body.js';
import type { Wire } from '../../src/lib/sync/wire.js';
import { channelIdBytes } from '../../src/lib/identity/ids.js';
import { base58, randomBytes } from '../../src/lib/util/bytes.js';

/** The wire a client's space or channel writes through (what appends reach that client's peers). */
export function wireOf(of: Space | Channel): Wire {
	return (of as unknown as { context: { wire: Wire } }).context.wire;
}

export async function forge<T>(
	client: Charter,
	space: Space,
	target: {
		channel?: Channel;
		actor?: string;
		context?: string[];
		epoch?: Uint8Array;
		into?: Space;
		keysFrom?: Charter;
		/** The writer session (default: a fresh one): reuse one to write under the same actor. */
		session?: Uint8Array;
		/** The document the change is made on (default: what the client holds now). */
		from?: A.Doc<T>;
		/** Rewrites the change before it is sealed (a hand-crafted change under the same actor). */
		craft?: (change: A.DecodedChange) => Partial<A.DecodedChange>;
	},
	fn: A.ChangeFn<T>
): Promise<Uint8Array> {
	const secrets = (client as unknown as { stores: { secrets: SecretStore } }).stores.secrets;
	const identity = (await Identity.load(secrets))!;
	const keySource = target.keysFrom
		? (target.keysFrom as unknown as { stores: { secrets: SecretStore } }).stores.secrets
		: secrets;
	const keys = await KeyRing.load(keySource, space.idBytes);
	const document = target.channel ? channelIdBytes(target.channel.id) : space.idBytes;
	const session = target.session ?? randomBytes(8);
	const actor = target.actor ?? actorFor(identity.deviceKey, session);
	const current = (
		target.channel
			? (target.channel as unknown as { replica: { doc: A.Doc<T> } }).replica.doc
			: space.document
	) as A.Doc<T>;
	const doc = A.change(A.clone(target.from ?? current, { actor }), fn);
	let change = A.getLastLocalChange(doc)!;
	if (target.craft) {
		const { hash: _hash, ...fields } = A.decodeChange(change);
		change = A.encodeChange({ ...fields, ...target.craft(A.decodeChange(change)) } as never);
	}
	const epochName = space.document.epochs?.[base58.encode(document)];
	// the current epoch, or (a removed or revoked device) any older one it still holds
	let epoch = target.epoch ?? base58.decode(String(epochName));
	let key = keys.get(document, epoch);
	if (!key && !target.epoch)
		[epoch, key] = [keys.allFor(document)[0]?.epoch ?? epoch, keys.allFor(document)[0]?.key];
	if (!key) throw new Error('hostile member holds no key for that epoch');
	const sealed = await sealEntry({
		space: space.idBytes,
		document,
		epoch,
		epochKey: key,
		author: identity.deviceKey,
		session,
		seq: 1,
		prev: new Uint8Array(32),
		body: encodeChangeBatch({
			context: target.context ?? (target.channel ? A.getHeads(space.document) : []),
			changes: [change]
		}),
		sign: (m) => identity.signAsDevice(m)
	});
	const destination = target.into ?? space;
	const into = target.channel ?? destination;
	await wireOf(into).append(into.envelope, [{ key: entryKey(sealed.hash), bytes: sealed.bytes }]);
	return sealed.bytes;
}

/** The identity (with its secrets) a client holds: for tests that act as that client's device. */
export async function identityOf(client: Charter): Promise<Identity> {
	const secrets = (client as unknown as { stores: { secrets: SecretStore } }).stores.secrets;
	return (await Identity.load(secrets))!;
}
