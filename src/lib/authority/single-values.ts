/**
 * Settings that are one value — a space's, channel's or role's name, a member's nickname — resolve
 * concurrent edits by the writer's clock: of the values written concurrently (none saw the other),
 * the one whose change carries the latest time wins; equal times → the smaller change hash. A write
 * that has seen the others simply replaces them (Automerge keeps no conflict then), so a value
 * written with a clock far in the future can always be superseded by anyone allowed to set it.
 *
 * Automerge's own pick among concurrent puts is by operation counter, which favours whichever writer
 * made more changes before — an older offline rename silently beat a newer one. This rule is a pure
 * function of the materialised document (so of the set of valid entries), and every peer resolves
 * the same way in every delivery order. Writers stamp these changes in milliseconds
 * (`SINGLE_VALUE_TIME`); Automerge's default stamp is whole seconds, which loses any tie to them.
 */
import * as A from '@automerge/automerge';

/** The clock a single-value setting is stamped with: milliseconds since the Unix epoch. */
export const SINGLE_VALUE_TIME = (): { time: number } => ({ time: Date.now() });

export interface SingleValue<V = unknown> {
	value: V;
	/** The writer's clock of the winning change (ms for Charter writers; s for Automerge's default). */
	time: number;
	/** The Automerge actor of the winning change (names the writing device and session). */
	actor: string;
	/** Values written concurrently that lost, newest first. */
	overruled: V[];
}

type Meta = { actor: string; startOp: number; maxOp: number; time: number; hash: string };
const metaCache = new WeakMap<object, Map<string, Meta[]>>();

function changesOf(doc: A.Doc<unknown>): Map<string, Meta[]> {
	let byActor = metaCache.get(doc as object);
	if (!byActor) {
		byActor = new Map();
		for (const m of A.getChangesMetaSince(doc, []))
			byActor.set(m.actor, [...(byActor.get(m.actor) ?? []), m]);
		metaCache.set(doc as object, byActor);
	}
	return byActor;
}

function changeOfOp(doc: A.Doc<unknown>, opId: string): Meta | undefined {
	const at = opId.indexOf('@');
	const counter = Number(opId.slice(0, at));
	return changesOf(doc)
		.get(opId.slice(at + 1))
		?.find((m) => m.startOp <= counter && counter <= m.maxOp);
}

/**
 * The value of `key` in the object at `path` of `doc`, resolved as above. `doc` must be an Automerge
 * document (not a plain copy); `undefined` when the key is absent.
 */
export function singleValue<V = unknown>(
	doc: A.Doc<unknown>,
	path: readonly string[],
	key: string,
	/** Also find the time of an uncontested value (costs one scan of the change metadata). */
	detail = false
): SingleValue<V> | undefined {
	let obj: unknown = doc;
	for (const p of path) obj = (obj as Record<string, unknown> | undefined)?.[p];
	if (!obj || typeof obj !== 'object') return undefined;
	let conflicts: Record<string, unknown> | undefined;
	try {
		conflicts = A.getConflicts(obj as A.Doc<unknown>, key) as Record<string, unknown> | undefined;
	} catch {
		return undefined; // not part of an Automerge document
	}
	if (!conflicts) return undefined;
	const entries = Object.entries(conflicts);
	if (entries.length === 1 && !detail) {
		const [opId, value] = entries[0]!;
		return { value: value as V, time: 0, actor: opId.slice(opId.indexOf('@') + 1), overruled: [] };
	}
	const candidates = entries.map(([opId, value]) => {
		const meta = changeOfOp(doc, opId);
		return {
			value: value as V,
			time: meta?.time ?? 0,
			hash: meta?.hash ?? '',
			actor: opId.slice(opId.indexOf('@') + 1)
		};
	});
	candidates.sort((a, b) => b.time - a.time || (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
	const [winner, ...rest] = candidates;
	if (!winner) return undefined;
	return {
		value: winner.value,
		time: winner.time,
		actor: winner.actor,
		overruled: rest.map((c) => c.value)
	};
}
