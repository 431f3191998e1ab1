/**
 * A validator meets a batch of entries in dependency order (`inDependencyOrder`), whatever order
 * they arrived in: a first read decides thousands at once, and a peer that sends a chain newest
 * first must not make it take one pass per entry.
 */
import * as A from '@automerge/automerge';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inDependencyOrder, type OpenedEntry } from '../../src/lib/authority/opened-entry.js';

/** Two writers, each entry one change; Bo's every third change also depends on Al's latest. */
function conversation(n: number): OpenedEntry[] {
	let al = A.from<{ m: Record<string, string> }>({ m: {} }, { actor: 'aa'.repeat(16) });
	let bo = A.clone(al, { actor: 'bb'.repeat(16) });
	const entries: OpenedEntry[] = [];
	const take = (doc: typeof al, id: string) => {
		const change = A.getLastLocalChange(doc)!;
		entries.push({
			id,
			header: {} as never,
			changes: [change],
			decoded: [A.decodeChange(change)],
			context: []
		});
	};
	for (let i = 0; i < n; i++) {
		al = A.change(al, (d) => void (d.m[`al${i}`] = 'hi'));
		take(al, `al${i}`);
		if (i % 3 === 0) bo = A.merge(bo, al);
		bo = A.change(bo, (d) => void (d.m[`bo${i}`] = 'yo'));
		take(bo, `bo${i}`);
	}
	return entries.slice(2); // (the root change they share is not in the batch)
}

/** Whether every entry comes after the entries of the list its changes depend on. */
function inOrder(entries: OpenedEntry[]): boolean {
	const seen = new Set<string>();
	const inList = new Set(entries.flatMap((e) => e.decoded.map((d) => d.hash!)));
	for (const e of entries) {
		for (const d of e.decoded) if (d.deps.some((h) => inList.has(h) && !seen.has(h))) return false;
		for (const d of e.decoded) seen.add(d.hash!);
	}
	return true;
}

describe('inDependencyOrder', () => {
	it('✓ puts a batch sent newest first, or shuffled, in an order where nothing comes before what it builds on', () => {
		const entries = conversation(60);
		expect(inOrder([...entries].reverse())).toBe(false);
		const reordered = inDependencyOrder([...entries].reverse());
		expect(inOrder(reordered)).toBe(true);
		expect(new Set(reordered.map((e) => e.id))).toEqual(new Set(entries.map((e) => e.id)));
		fc.assert(
			fc.property(
				fc.array(fc.nat(), { minLength: entries.length, maxLength: entries.length }),
				(keys) => {
					const shuffled = entries
						.map((e, i) => ({ e, k: keys[i]! }))
						.sort((a, b) => a.k - b.k)
						.map(({ e }) => e);
					const out = inDependencyOrder(shuffled);
					return inOrder(out) && out.length === entries.length;
				}
			),
			{ numRuns: 50 }
		);
	});

	it('✓ keeps a batch that is in order as it is, and keeps an entry whose dependency is elsewhere', () => {
		const entries = conversation(20);
		expect(inDependencyOrder(entries).map((e) => e.id)).toEqual(entries.map((e) => e.id));
		const [, ...rest] = entries; // the first one's dependants now depend on something outside
		expect(
			inDependencyOrder(rest)
				.map((e) => e.id)
				.sort()
		).toEqual(rest.map((e) => e.id).sort());
	});
});
