/**
 * Which epoch is current for a document of a space: a pure function of the space document and the
 * authority state, which a junk entry cannot win.
 *
 * `epochs[<document>]` is an Automerge register: a later naming replaces an earlier one, and
 * concurrent namings are all kept (as conflicts). Of the concurrent ones, the current epoch is the one
 * named by the highest-ranked author (rank in the given state; a device no longer live counts as no
 * one), then Automerge's own order (greatest counter, then actor). A later naming must itself pass
 * the `epochs/:document` rule, which lets a member replace only a naming by someone of equal or
 * lower rank, unless the protocol calls for a rotation (see space-rules.ts).
 */
import * as A from '@automerge/automerge';
import type { UserId } from '../identity/ids.js';
import { ID_BYTES } from '../identity/ids.js';
import { base58 } from '../util/bytes.js';
import { asString, type SpaceDoc } from './schema.js';
import type { SpaceState } from './state.js';

export interface EpochNaming {
	/** base58 epoch id. */
	epoch: string;
	/** The member whose device named it (undefined: no live device of any member). */
	namer: UserId | undefined;
	rank: number;
}

/** A well-formed epoch id: base58 of 16 bytes. */
export function isEpochName(value: unknown): value is string {
	if (typeof value !== 'string' || value.length > 32) return false;
	try {
		return base58.decode(value).length === ID_BYTES;
	} catch {
		return false;
	}
}

/** The current naming of `documentKey`'s epoch, or undefined if none is named. */
export function currentEpochNaming(
	doc: Partial<SpaceDoc> | undefined,
	documentKey: string,
	state: SpaceState | undefined
): EpochNaming | undefined {
	const epochs = doc?.epochs;
	if (!epochs || epochs[documentKey] === undefined) return undefined;
	// every value the register holds at this document's heads, with the op that wrote it
	let values: [string, unknown][] | undefined;
	try {
		const all = A.getBackend(doc as A.Doc<SpaceDoc>).getAll(
			A.getObjectId(epochs)!,
			documentKey,
			A.getHeads(doc as A.Doc<SpaceDoc>)
		) as [string, unknown, string][];
		values = all.map(([, value, opId]) => [opId, value]);
	} catch {
		values = undefined; // a plain object (a draft): only its value
	}
	if (!values) {
		const epoch = asString(epochs[documentKey]);
		return epoch === undefined ? undefined : { epoch, namer: undefined, rank: -1 };
	}
	let best: (EpochNaming & { counter: number; actor: string }) | undefined;
	for (const [opId, value] of values) {
		const epoch = asString(value);
		if (epoch === undefined) continue;
		const at = opId.indexOf('@');
		const counter = Number(opId.slice(0, at));
		const actor = opId.slice(at + 1);
		const namer = state?.userOfActor(actor);
		const rank = namer && state ? state.rank(namer) : -1;
		const better =
			!best ||
			rank > best.rank ||
			(rank === best.rank &&
				(counter > best.counter || (counter === best.counter && actor > best.actor)));
		if (better) best = { epoch, namer, rank, counter, actor };
	}
	return best && { epoch: best.epoch, namer: best.namer, rank: best.rank };
}
