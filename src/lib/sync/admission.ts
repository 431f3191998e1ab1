/**
 * Storage eligibility for sync servers, decided from envelope headers and signatures alone — no keys,
 * no bodies. A new envelope document is admitted when the changes that would create it carry a
 * sealed entry (or a genesis) that
 *   - names an allowed space (by space id, or by the owner key its genesis proves), and
 *   - is signed by the device (or owner) key in its header, and
 *   - binds to this very document: documentId = envelopeDocumentId(space id, document id) — or,
 *     for a compacted fragment, envelopeDocumentId(space id, document id, history generation).
 * The binding means a document id cannot be claimed for a space without a matching hash, so a
 * relay can refuse foreign spaces. (Anyone can still sign junk *for* an allowed space id: quotas
 * and creation caps bound that — see docs/self-hosting.md.)
 */
import { parseEntry, verifyEntrySignature } from '../encryption/entry.js';
import { isFragment, parseFragment, verifyFragmentSignature } from '../encryption/fragment.js';
import { GENESIS_MAGIC, verifyGenesis } from '../authority/genesis.js';
import { spaceId, spaceIdBytes, userId, type SpaceId, type UserId } from '../identity/ids.js';
import { bytesEqual } from '../util/bytes.js';
import { bytesWrittenBy, envelopeDocumentId } from './envelope.js';
import { readSyncItem } from './publication.js';

export interface AdmissionPolicy {
	/** Allowed space ids (`space_…`). */
	spaces?: Iterable<SpaceId | string>;
	/** Allowed owners (`user_…`): any space whose genesis they signed. */
	owners?: Iterable<UserId | string>;
}

export interface AdmissionDecision {
	admitted: boolean;
	space?: SpaceId;
	reason: string;
}

/**
 * Decides on the Automerge changes a sync message would add to a document the server does not
 * hold yet. `changes` are raw change bytes (e.g. from `Automerge.decodeSyncMessage(data).changes`).
 */
export async function admitEnvelope(
	documentId: string,
	changes: Uint8Array[],
	policy: AdmissionPolicy
): Promise<AdmissionDecision> {
	const spaces = new Set([...(policy.spaces ?? [])].map(String));
	const owners = new Set([...(policy.owners ?? [])].map(String));
	const decoded = bytesWrittenBy(expandChanges(changes));
	const genesisSpaces = new Map<string, UserId>();
	for (const bytes of decoded) {
		if (!bytesEqual(bytes.subarray(0, 3), GENESIS_MAGIC)) continue;
		try {
			const genesis = await verifyGenesis(bytes);
			genesisSpaces.set(genesis.space, userId(genesis.ownerKey));
		} catch {
			/* not a genesis */
		}
	}
	for (const bytes of decoded) {
		if (!isFragment(bytes)) continue;
		let fragment;
		try {
			fragment = parseFragment(bytes);
		} catch {
			continue;
		}
		const { header } = fragment;
		const space = spaceId(header.space);
		if (envelopeDocumentId(header.space, header.document, header.generation) !== documentId)
			continue;
		const owner = genesisSpaces.get(space);
		if (!spaces.has(space) && !(owner && owners.has(owner))) continue;
		if (!(await verifyFragmentSignature(fragment))) continue;
		return { admitted: true, space, reason: 'allowed space (compacted history)' };
	}
	for (const bytes of decoded) {
		let entry;
		try {
			entry = parseEntry(bytes);
		} catch {
			continue;
		}
		const space = spaceId(entry.header.space);
		if (envelopeDocumentId(entry.header.space, entry.header.document) !== documentId) continue;
		const owner = genesisSpaces.get(space);
		if (!spaces.has(space) && !(owner && owners.has(owner))) continue;
		if (!(await verifyEntrySignature(entry))) continue;
		return { admitted: true, space, reason: 'allowed space' };
	}
	for (const [space, owner] of genesisSpaces) {
		const id = space as SpaceId;
		if (
			(spaces.has(id) || owners.has(owner)) &&
			envelopeDocumentId(spaceIdBytes(id), spaceIdBytes(id)) === documentId
		)
			return { admitted: true, space: id, reason: 'allowed genesis' };
	}
	return { admitted: false, reason: 'no entry of an allowed space binds to this document' };
}

/** Every change a sync message's items carry (single changes, concatenated ones, whole documents). */
function expandChanges(items: Uint8Array[]): Uint8Array[] {
	return items.flatMap((item) => readSyncItem(item)?.map((c) => c.raw) ?? []);
}
