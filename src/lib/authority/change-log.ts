/**
 * Automerge's (actor, seq) discipline, decided instead of thrown.
 *
 * Automerge names a change by (actor, seq) and refuses — by throwing, for the whole batch — a second
 * change with a pair it already holds ("duplicate seq"), a change whose seq skips one of its actor's,
 * and an op superseding (`pred`) an op it does not hold. Actors are bound to signers (actors.ts), so
 * only a device itself can break the discipline under its own actors: with two genuine entries
 * carrying different changes with the same (actor, seq) it *equivocates*. Left to Automerge, both
 * would be accepted by the rules and the document would refuse every later batch that held them.
 *
 * This log records every change of every entry whose actor is bound to its signer, valid or not, and
 * decides, as a pure function of what it holds:
 *
 * - An equivocated slot (several changes with one (actor, seq)) keeps at most one change: the one
 *   *witnessed* — in the causal past of a change by another device (the first 12 bytes of an actor
 *   name its device) — with the smallest hash; if none is witnessed, none stands. So a member who
 *   sends two versions at once loses both; one who sends a second version of a change others already
 *   built on loses only the second; nothing honest is lost unless others built on both versions,
 *   which takes a second device or accomplice and a partition.
 * - A change with seq s > 1 waits for its actor's change s − 1 to be valid (and is invalid once that
 *   slot holds only invalid changes): applied in seq order, Automerge never sees a gap.
 * - Every `pred` must name an op of a valid change (or one of the same entry): waits while unknown,
 *   invalid once that change is invalid.
 *
 * Decisions can change when entries arrive (a late witness); a validator that already applied a
 * change this log no longer lets stand asks for a rebuild from the entries.
 */
import type * as A from '@automerge/automerge';

/** Hex digits of an actor that name its device (12 bytes: see actors.ts). */
const DEVICE_HEX = 24;

interface Recorded {
	actor: string;
	seq: number;
	startOp: number;
	ops: number;
}

export type Standing = 'valid' | 'waiting' | 'invalid';

export class ChangeLog {
	#slots = new Map<string, Set<string>>();
	#changes = new Map<string, Recorded>();
	#children = new Map<string, string[]>();
	/** Per actor, its changes' op ranges, by start. */
	#ranges = new Map<string, { start: number; end: number; hash: string }[]>();
	#longest = new Map<string, number>();
	#standing = new Map<string, boolean>();
	#contested = new Set<string>();

	/** Records changes (of entries bound to their signer, or of valid history). */
	record(changes: readonly A.DecodedChange[]): void {
		for (const c of changes) {
			if (!c.hash || this.#changes.has(c.hash)) continue;
			this.#changes.set(c.hash, {
				actor: c.actor,
				seq: c.seq,
				startOp: c.startOp,
				ops: c.ops.length
			});
			const key = slotKey(c.actor, c.seq);
			const slot = this.#slots.get(key) ?? new Set();
			slot.add(c.hash);
			this.#slots.set(key, slot);
			if (slot.size > 1) this.#contested.add(key);
			for (const dep of c.deps) {
				const list = this.#children.get(dep) ?? [];
				list.push(c.hash);
				this.#children.set(dep, list);
			}
			if (c.ops.length) {
				const ranges = this.#ranges.get(c.actor) ?? [];
				const range = { start: c.startOp, end: c.startOp + c.ops.length - 1, hash: c.hash };
				let at = ranges.length;
				while (at > 0 && ranges[at - 1]!.start > range.start) at--;
				ranges.splice(at, 0, range);
				this.#ranges.set(c.actor, ranges);
				this.#longest.set(c.actor, Math.max(this.#longest.get(c.actor) ?? 0, c.ops.length));
			}
			this.#standing.clear();
		}
	}

	/** Every change that shares its (actor, seq) with another (few: only equivocators make them). */
	*contested(): Iterable<string> {
		for (const key of this.#contested) yield* this.#slots.get(key)!;
	}

	/** The changes recorded with this (actor, seq). */
	slot(actor: string, seq: number): ReadonlySet<string> {
		return this.#slots.get(slotKey(actor, seq)) ?? EMPTY;
	}

	/** Whether the change may stand: it is alone in its slot, or the slot's witnessed survivor. */
	stands(hash: string): boolean {
		const c = this.#changes.get(hash);
		if (!c) return true;
		const slot = this.slot(c.actor, c.seq);
		if (slot.size < 2) return true;
		let cached = this.#standing.get(hash);
		if (cached === undefined) {
			const witnessed = [...slot].filter((h) => this.#witnessed(h)).sort();
			for (const h of slot) this.#standing.set(h, h === witnessed[0]);
			cached = this.#standing.get(hash)!;
		}
		return cached;
	}

	/** Is `hash` in the causal past of a change by another device? */
	#witnessed(hash: string): boolean {
		const device = this.#changes.get(hash)!.actor.slice(0, DEVICE_HEX);
		const seen = new Set<string>();
		const stack = [...(this.#children.get(hash) ?? [])];
		while (stack.length) {
			const h = stack.pop()!;
			if (seen.has(h)) continue;
			seen.add(h);
			if (this.#changes.get(h)?.actor.slice(0, DEVICE_HEX) !== device) return true;
			stack.push(...(this.#children.get(h) ?? []));
		}
		return false;
	}

	/**
	 * Whether a change keeps the discipline, given which changes are valid (`isValid`) or invalid
	 * (`isInvalid`) so far and the other changes of its own entry (`own`).
	 */
	standing(
		change: A.DecodedChange,
		own: ReadonlySet<string>,
		isValid: (hash: string) => boolean,
		isInvalid: (hash: string) => boolean
	): { standing: Standing; reason?: string } {
		if (!this.stands(change.hash!)) return { standing: 'invalid', reason: 'equivocation' };
		if (change.seq > 1) {
			const before = [...this.slot(change.actor, change.seq - 1)];
			if (!before.some((h) => own.has(h) || isValid(h))) {
				if (before.length && before.every((h) => isInvalid(h) || !this.stands(h)))
					return { standing: 'invalid', reason: 'the previous change of its actor is invalid' };
				return { standing: 'waiting', reason: 'missing-dependencies' };
			}
		}
		for (const op of change.ops)
			for (const pred of Array.isArray(op.pred) ? op.pred : []) {
				const owner = this.#opOwner(String(pred));
				if (owner && (own.has(owner) || isValid(owner))) continue;
				if (owner && isInvalid(owner))
					return { standing: 'invalid', reason: 'supersedes an op of an invalid change' };
				if (!owner && !/^\d+@[0-9a-f]+$/.test(String(pred)))
					return { standing: 'invalid', reason: 'malformed op id' };
				return { standing: 'waiting', reason: 'missing-dependencies' };
			}
		return { standing: 'valid' };
	}

	/** The recorded change holding op `counter@actor`, if any (the valid one, if several). */
	#opOwner(id: string): string | undefined {
		const at = id.indexOf('@');
		const counter = Number(id.slice(0, at));
		const actor = id.slice(at + 1);
		const ranges = this.#ranges.get(actor);
		if (!ranges || !Number.isSafeInteger(counter)) return undefined;
		const longest = this.#longest.get(actor) ?? 0;
		let lo = 0;
		let hi = ranges.length;
		while (lo < hi) {
			const mid = (lo + hi) >> 1;
			if (ranges[mid]!.start <= counter) lo = mid + 1;
			else hi = mid;
		}
		let found: string | undefined;
		for (let i = lo - 1; i >= 0 && ranges[i]!.start + longest > counter; i--)
			if (ranges[i]!.end >= counter && (!found || this.stands(ranges[i]!.hash)))
				found = ranges[i]!.hash;
		return found;
	}
}

const EMPTY: ReadonlySet<string> = new Set();
const slotKey = (actor: string, seq: number) => `${actor}:${seq}`;
