/**
 * Where an identity-rotation chain is published, so a phrase finds it: for every key K of the chain
 * (root, every rotated-away key, the current one), the envelope
 * `envelopeDocumentId(SHA-256(DOMAIN.rotationPointer ‖ K)[0..16], 0…0)` holds the chain record
 * (identity/rotation.ts) as a plaintext entry. A record is self-verifying (every link signed by the
 * key before it and by the key it certifies), so junk written there by strangers is ignored.
 *
 * - A restore from a **new** phrase reads the pointer of its key and finds the chain ending at it:
 *   the root gives the user id, and so the account and the spaces.
 * - A restore from an **old** phrase finds a chain in which its key is followed by another: that
 *   identity moved on, and the restore is refused with `identity-rotated`.
 *
 * Who knows a key (its user id, for the root) can find the chain and learn the keys it lists; the
 * keys are public anyway (on cards in every space of the user), and nothing secret is there.
 */
import { CharterError } from '../errors.js';
import { DOMAIN } from '../crypto/domains.js';
import { hash } from '../crypto/primitives.js';
import { entryKey } from '../encryption/entry.js';
import { ID_BYTES } from '../identity/ids.js';
import {
	encodeChainRecord,
	isChainRecord,
	verifyChainRecord,
	type ChainRecord,
	type RotationLink
} from '../identity/rotation.js';
import { bytesEqual } from '../util/bytes.js';
import * as A from '@automerge/automerge';
import type { DocHandle } from '@automerge/automerge-repo';
import { bytesWrittenBy, envelopeDocumentId, type EnvelopeDoc } from './envelope.js';
import { caughtUpWithStoringPeer } from './peer-status.js';
import type { Wire } from './wire.js';

/** The envelope where the chain a key belongs to is published. */
export function rotationPointerId(key: Uint8Array) {
	return envelopeDocumentId(
		hash(DOMAIN.rotationPointer, key).subarray(0, ID_BYTES),
		new Uint8Array(ID_BYTES)
	);
}

/** Publishes the chain at the pointer of every key it names. Resolves once each is in its envelope. */
export async function publishChain(
	wire: Wire,
	root: Uint8Array,
	links: readonly RotationLink[]
): Promise<DocHandle<EnvelopeDoc>[]> {
	const bytes = encodeChainRecord(root, links);
	const key = entryKey(hash(bytes));
	const handles: DocHandle<EnvelopeDoc>[] = [];
	for (const k of [root, ...links.map((l) => l.next)]) {
		const handle = await wire.open(rotationPointerId(k));
		await wire.append(handle, [{ key, bytes }]);
		handles.push(handle);
	}
	return handles;
}

/** What the pointer of one key says about it. */
export type PointerVerdict =
	/** No chain names this key: an identity that never rotated (or was never published). */
	| { kind: 'none' }
	/** The key is the current key of this chain: restore as the chain's root user. */
	| { kind: 'current'; chain: ChainRecord }
	/** The key was rotated away (by its user, or by a thief holding it). */
	| { kind: 'rotated'; chain: ChainRecord };

/** Judges the valid chain records of an envelope for `key`. A rotated-away key wins over the rest. */
export async function judgePointer(
	entries: readonly Uint8Array[],
	key: Uint8Array
): Promise<PointerVerdict> {
	let current: ChainRecord | undefined;
	for (const bytes of entries) {
		if (!isChainRecord(bytes)) continue;
		let chain: ChainRecord;
		try {
			chain = await verifyChainRecord(bytes);
		} catch {
			continue; // junk, or a chain that does not verify
		}
		const keys = [chain.root, ...chain.links.map((l) => l.next)];
		const at = keys.findIndex((k) => bytesEqual(k, key));
		if (at === -1) continue;
		if (at < keys.length - 1) return { kind: 'rotated', chain };
		// of two chains ending at one key (only its holder signs a link to it), the longer one
		if (!current || chain.links.length > current.links.length) current = chain;
	}
	return current ? { kind: 'current', chain: current } : { kind: 'none' };
}

/**
 * Reads the pointer of `key`: resolves as soon as it holds a chain naming the key, or once a storing
 * peer has given all it holds of it (then `none`), or — when no storing peer answers — at
 * `timeoutMs` (then `none` as well: a restore offline cannot tell a rotated phrase; see docs).
 */
export async function lookUpPointer(
	wire: Wire,
	key: Uint8Array,
	options: { timeoutMs: number; wait: boolean }
): Promise<PointerVerdict> {
	const handle = await wire.open(rotationPointerId(key));
	const deadline = Date.now() + options.timeoutMs;
	for (;;) {
		const verdict = await judgePointer(bytesWrittenBy(A.getAllChanges(handle.doc())), key);
		if (verdict.kind !== 'none' || !options.wait) return verdict;
		if (caughtUpWithStoringPeer(wire.repo, wire.remote, handle)) return verdict;
		if (Date.now() > deadline) return verdict;
		await new Promise<void>((resolve) => {
			const done = () => {
				clearTimeout(timer);
				handle.off('heads-changed', done);
				resolve();
			};
			const timer = setTimeout(done, 100);
			handle.on('heads-changed', done);
		});
	}
}

/** The error a restore from a rotated-away phrase ends in. */
export function rotatedAway(): CharterError {
	return new CharterError(
		'identity-rotated',
		'this recovery phrase was replaced by a newer one: restore with the newest phrase'
	);
}
