/**
 * Whether two sets of Automerge heads (change hashes, in any order) name the same document state.
 * Heads are a set: Automerge returns them sorted, but heads kept from elsewhere (a peer, storage)
 * need not be.
 */
export function sameHeads(a: readonly string[], b: readonly string[]): boolean {
	if (a.length !== b.length) return false;
	const set = new Set(a);
	return b.every((h) => set.has(h));
}
