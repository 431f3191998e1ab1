/**
 * The rule engine: a declarative table of path patterns → checks, used to authorise every change,
 * incoming or local. Each op of a change is matched against the table (first match wins; no match is
 * a refusal), so a document type is fully described by its table. Apps that embed Charter declare
 * their own document types the same way (see docs/embedding.md).
 *
 * Patterns are '/'-separated: a literal segment, `:name` (captured), `*` (any one segment) or a
 * final `**` (the rest).
 */
import type { ChannelId, UserId } from '../identity/ids.js';
import type { CardVerdicts } from './card-cache.js';
import type { ResolvedOp } from './paths.js';
import type { SpaceState } from './state.js';
import { invalid, VALID, type Verdict } from './verdict.js';

export interface RuleContext<Doc = unknown> {
	op: ResolvedOp;
	params: Record<string, string>;
	/** The user whose certified device signed the entry. */
	signer: UserId;
	/** Authority state at the change's causal point. */
	state: SpaceState;
	/** The channel, for channel documents. */
	channel?: ChannelId;
	/**
	 * Member cards verified for this decision (card-cache.ts): the cards the entries being decided
	 * carry. A card not among them counts as not verifying. Empty for channel and app documents,
	 * whose validators verify no cards.
	 */
	cards: CardVerdicts;
	/**
	 * The document before the change (valid changes only): everything accepted so far, so it depends
	 * on what has arrived. A rule that counts or looks up something another writer may have changed
	 * concurrently reads the document as the writer saw it instead, at `heads`.
	 */
	before: Doc;
	/**
	 * The document heads the entry was written on (the changes outside it that it depends on): its
	 * causal point. `A.getBackend(before).keys(obj, heads)` and `.get(obj, key, heads)` read the
	 * document there — a function of the entry alone, the same on every peer in any delivery order.
	 */
	heads: readonly string[];
	/** Every op of the same entry (e.g. to see the fields set together with a new object). */
	ops: readonly ResolvedOp[];
	/** True when the object at `path` is created by this same entry. */
	createdHere(path: readonly string[]): boolean;
	/**
	 * False when no change accepted so far made an object at `path` (so none in the entry's causal
	 * past did either): a cheap first answer that spares reading `before`, which makes a validator
	 * apply its pending run. Absent where nothing tracks it (then ask the document).
	 */
	madeBefore?(path: readonly string[]): boolean;
}

export type RuleCheck<Doc = unknown> = (ctx: RuleContext<Doc>) => Verdict;

export interface Rule<Doc = unknown> {
	pattern: string;
	/** Human-readable statement of the rule, shown in docs and refusals. */
	description: string;
	check: RuleCheck<Doc>;
}

export type RuleTable<Doc = unknown> = readonly Rule<Doc>[];

interface CompiledRule<Doc> extends Rule<Doc> {
	segments: string[];
}

export class RuleSet<Doc = unknown> {
	readonly #rules: CompiledRule<Doc>[];
	constructor(readonly table: RuleTable<Doc>) {
		this.#rules = table.map((rule) => ({
			...rule,
			segments: rule.pattern.split('/').filter(Boolean)
		}));
	}

	match(
		path: readonly string[]
	): { rule: CompiledRule<Doc>; params: Record<string, string> } | undefined {
		outer: for (const rule of this.#rules) {
			const params: Record<string, string> = {};
			const segs = rule.segments;
			for (let i = 0; i < segs.length; i++) {
				const seg = segs[i]!;
				if (seg === '**') return { rule, params };
				const part = path[i];
				if (part === undefined) continue outer;
				if (seg === '*') continue;
				if (seg.startsWith(':')) params[seg.slice(1)] = part;
				else if (seg !== part) continue outer;
			}
			if (segs.length !== path.length) continue;
			return { rule, params };
		}
		return undefined;
	}

	/**
	 * Checks every op; the first refusal is the verdict. `before` is called only if a rule reads the
	 * document (most do not: a validator can then apply a whole run of valid changes at once).
	 */
	authorize(
		ops: readonly ResolvedOp[],
		base: Omit<RuleContext<Doc>, 'op' | 'params' | 'ops' | 'createdHere' | 'before' | 'heads'> & {
			heads?: readonly string[];
		},
		before: () => Doc
	): Verdict {
		const created = ops.filter((o) => o.kind === 'make').map((o) => o.path.join('/'));
		const createdHere = (path: readonly string[]) => {
			const key = path.join('/');
			return created.some((c) => key === c || key.startsWith(`${c}/`));
		};
		for (const op of ops) {
			const found = this.match(op.path);
			if (!found) return invalid(`no rule allows writing ${op.path.join('/') || '(root)'}`);
			const ctx = {
				heads: [],
				...base,
				op,
				params: found.params,
				ops,
				createdHere
			} as RuleContext<Doc>;
			Object.defineProperty(ctx, 'before', { get: before, enumerable: true });
			const verdict = found.rule.check(ctx);
			if (!verdict.valid) return verdict;
		}
		return VALID;
	}
}

// ---- building blocks for rule tables --------------------------------------------------------------

export const allow =
	<Doc>(): RuleCheck<Doc> =>
	() =>
		VALID;
export const deny =
	<Doc>(reason: string): RuleCheck<Doc> =>
	() =>
		invalid(reason);

/** The signer must hold `permission` (in the rule's channel, if any). */
export const requires =
	<Doc>(permission: number, name: string): RuleCheck<Doc> =>
	(ctx) =>
		ctx.state.can(ctx.signer, permission, ctx.channel) ? VALID : invalid(`needs ${name}`);

export const all =
	<Doc>(...checks: RuleCheck<Doc>[]): RuleCheck<Doc> =>
	(ctx) => {
		for (const check of checks) {
			const v = check(ctx);
			if (!v.valid) return v;
		}
		return VALID;
	};

export const any =
	<Doc>(...checks: RuleCheck<Doc>[]): RuleCheck<Doc> =>
	(ctx) => {
		let last: Verdict = invalid('no alternative allowed it');
		for (const check of checks) {
			last = check(ctx);
			if (last.valid) return last;
		}
		return last;
	};

export const when =
	<Doc>(
		condition: (ctx: RuleContext<Doc>) => boolean,
		check: RuleCheck<Doc>,
		otherwise: RuleCheck<Doc>
	): RuleCheck<Doc> =>
	(ctx) =>
		condition(ctx) ? check(ctx) : otherwise(ctx);

/** The value this same entry puts at `path`, if any. */
export function valueAt(ctx: Pick<RuleContext, 'ops'>, path: readonly string[]): unknown {
	const target = path.join('/');
	let value: unknown;
	for (const o of ctx.ops) if (o.kind === 'put' && o.path.join('/') === target) value = o.value;
	return value;
}
