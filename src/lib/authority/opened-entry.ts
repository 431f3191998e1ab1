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

/**
 * `entries` ordered so that each comes after the entries of the batch its changes depend on (by
 * change hash), in the order given as far as that allows. A validator meets them in one pass
 * whatever order they arrived in: entries sent newest first cost no pass per entry.
 */
export function inDependencyOrder(entries: readonly OpenedEntry[]): OpenedEntry[] {
	const writer = new Map<string, number>();
	entries.forEach((e, i) => {
		for (const d of e.decoded) writer.set(d.hash!, i);
	});
	const waitsOn = entries.map(() => 0);
	const unblocks: number[][] = entries.map(() => []);
	entries.forEach((e, i) => {
		const before = new Set<number>();
		for (const dep of externalDeps(e)) {
			const j = writer.get(dep);
			if (j !== undefined && j !== i) before.add(j);
		}
		waitsOn[i] = before.size;
		for (const j of before) unblocks[j]!.push(i);
	});
	const out: OpenedEntry[] = [];
	const placed = entries.map(() => false);
	// in the order given; an entry passed over because it waited is placed as soon as it can be
	for (let at = 0; at < entries.length; at++) {
		if (placed[at] || waitsOn[at] !== 0) continue;
		const stack = [at];
		while (stack.length) {
			const k = stack.pop()!;
			placed[k] = true;
			out.push(entries[k]!);
			for (const n of unblocks[k]!) if (--waitsOn[n]! === 0 && n < at) stack.push(n);
		}
	}
	// (a cycle cannot be made of change hashes; anything left keeps its place at the end)
	entries.forEach((e, i) => {
		if (!placed[i]) out.push(e);
	});
	return out;
}
