/** A sealed entry after verification and decryption: what validators decide on. */
import type * as A from '@automerge/automerge';
import type { EntryHeader } from '../encryption/entry.js';

export interface OpenedEntry {
	/** Hex SHA-256 of the sealed entry. */
	id: string;
	header: EntryHeader;
	changes: Uint8Array[];
	decoded: A.DecodedChange[];
	/** For channel entries: the space-document heads the writer had seen (hex change hashes). */
	context: string[];
	/**
	 * The history segment the entry was written in (base58 id, sealed in its body; absent: the
	 * document's first). It names the plaintext the writer built on, never what is valid.
	 */
	segment?: string;
}

/** The hashes of changes outside the entry that its changes depend on. */
export function externalDeps(entry: OpenedEntry): string[] {
	const own = new Set(entry.decoded.map((d) => d.hash));
	const deps = new Set<string>();
	for (const d of entry.decoded) for (const dep of d.deps) if (!own.has(dep)) deps.add(dep);
	return [...deps].sort();
}
