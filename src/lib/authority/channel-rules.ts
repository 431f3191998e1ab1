/**
 * The rule table of channel documents. Everything needs VIEW_CHANNEL; messages are created with
 * SEND_MESSAGES and `author` = the signer; only the author edits; the author or MANAGE_MESSAGES
 * deletes (a deletion clears the text). A message may name the message it replies to, and whom it
 * mentions, on creation; mentioning a role, @everyone or @here needs MENTION_EVERYONE.
 * A member with ADD_REACTIONS adds reactions of their own; they remove their own, MANAGE_MESSAGES
 * removes anyone's. MANAGE_MESSAGES pins a message the pinner has seen (not deleted), up to
 * MAX_PINS in the channel as the pinner saw it, and unpins any. A message may be posted in the thread of another (`thread`, threads.ts).
 */
import * as A from '@automerge/automerge';
import type { UserId } from '../identity/ids.js';
import { Permission } from './permissions.js';
import {
	all,
	any,
	requires,
	RuleSet,
	type Rule,
	type RuleCheck,
	type RuleContext
} from './rules.js';
import { asString, parsePinKey, parseReactionKey, type ChannelDoc } from './schema.js';
import {
	MAX_MENTION_KEY,
	MAX_MENTIONS,
	MAX_MESSAGE_ID,
	MAX_MESSAGE_LENGTH,
	MAX_PINS,
	MAX_REACTION
} from './limits.js';
import { VALID, invalid } from './verdict.js';
import { threadRoot } from './threads.js';

type Ctx = RuleContext<ChannelDoc>;
type Check = RuleCheck<ChannelDoc>;

const messagePath = (ctx: Ctx) => ['buckets', ctx.params.bucket!, ctx.params.message!];
const existingAuthor = (ctx: Ctx): UserId | undefined =>
	asString(ctx.before.buckets?.[ctx.params.bucket!]?.[ctx.params.message!]?.author) as
		UserId | undefined;
const isNew = (ctx: Ctx) => ctx.createdHere(messagePath(ctx));
const signerIsAuthor: Check = (ctx) =>
	existingAuthor(ctx) === ctx.signer ? VALID : invalid('only the author may');
const onCreation: Check = (ctx) =>
	isNew(ctx) ? VALID : invalid('set only when the message is created');
const view = requires<ChannelDoc>(Permission.VIEW_CHANNEL, 'VIEW_CHANNEL');
const send = requires<ChannelDoc>(Permission.SEND_MESSAGES, 'SEND_MESSAGES');
const moderate = requires<ChannelDoc>(Permission.MANAGE_MESSAGES, 'MANAGE_MESSAGES');

const react = requires<ChannelDoc>(Permission.ADD_REACTIONS, 'ADD_REACTIONS');

/** Why `emoji` is not a reaction (undefined: it is one): one short run with no space or control. */
export function reactionProblem(emoji: unknown): string | undefined {
	if (typeof emoji !== 'string' || emoji.length === 0) return 'a reaction is an emoji';
	if (emoji.length > MAX_REACTION) return `a reaction is at most ${MAX_REACTION} characters`;
	if (/[\s\p{Cc}]/u.test(emoji)) return 'a reaction holds no space or control character';
	return undefined;
}

/**
 * A key of a message's map that no other rule matched: a reaction (`reaction:<user>:<emoji>`), put
 * (a time) by that member with ADD_REACTIONS, deleted by them or by MANAGE_MESSAGES. Reading the key
 * is all it costs: no document read, so a run of reactions is applied at once.
 */
const reaction: Check = (ctx) => {
	const parsed = parseReactionKey(ctx.params.field!);
	if (!parsed) return invalid(`no rule allows writing a message's ${ctx.params.field}`);
	const problem = reactionProblem(parsed.emoji);
	if (problem) return invalid(problem);
	const own = parsed.user === ctx.signer;
	if (ctx.op.kind === 'delete') return own ? VALID : moderate(ctx);
	if (ctx.op.kind !== 'put') return invalid('a reaction is a time');
	if (!own) return invalid('a member adds only their own reactions');
	if (typeof ctx.op.value !== 'number' || !Number.isFinite(ctx.op.value))
		return invalid('a reaction is a time');
	return react(ctx);
};

const mentionEveryone = requires<ChannelDoc>(Permission.MENTION_EVERYONE, 'MENTION_EVERYONE');

/** Whether a key of a message's `mentions` is one: `user:<id>`, `role:<id>`, `everyone`, `here`. */
export function mentionKind(key: string): 'user' | 'role' | 'everyone' | undefined {
	if (key === 'everyone' || key === 'here') return 'everyone';
	const colon = key.indexOf(':');
	if (colon < 0 || colon === key.length - 1 || key.length > MAX_MENTION_KEY) return undefined;
	const kind = key.slice(0, colon);
	return kind === 'user' || kind === 'role' ? kind : undefined;
}

/** How many mentions each message of an entry gets, counted once per entry (not once per op). */
const mentionCounts = new WeakMap<readonly unknown[], Map<string, number>>();
function mentionsInEntry(ctx: Ctx): number {
	let counts = mentionCounts.get(ctx.ops);
	if (!counts) {
		counts = new Map();
		for (const o of ctx.ops)
			if (o.path.length === 5 && o.path[3] === 'mentions' && o.path[0] === 'buckets') {
				const message = `${o.path[1]}/${o.path[2]}`;
				counts.set(message, (counts.get(message) ?? 0) + 1);
			}
		mentionCounts.set(ctx.ops, counts);
	}
	return counts.get(`${ctx.params.bucket}/${ctx.params.message}`) ?? 0;
}

const mention: Check = (ctx) => {
	if (ctx.op.kind !== 'put' || ctx.op.value !== true) return invalid('a mention is set to true');
	const kind = mentionKind(ctx.params.target!);
	if (!kind) return invalid('a mention is user:<id>, role:<id>, everyone or here');
	if (mentionsInEntry(ctx) > MAX_MENTIONS)
		return invalid(`a message mentions at most ${MAX_MENTIONS}`);
	return kind === 'user' ? VALID : mentionEveryone(ctx);
};

/**
 * The root's pin keys at the entry's causal point, and whether the message a pin names was there
 * (and not deleted) — read through the backend at `ctx.heads`, so the answer is the same on every
 * peer whatever else has arrived (the current document would make a concurrent pin's fate depend
 * on delivery order).
 */
function seenAt(ctx: Ctx) {
	const backend = A.getBackend(ctx.before as A.Doc<ChannelDoc>);
	const heads = ctx.heads as A.Heads;
	return {
		pins: () => backend.keys('_root', heads).filter((k) => parsePinKey(k) !== undefined),
		message: (bucket: string, message: string): 'there' | 'deleted' | 'missing' => {
			const buckets = backend.getWithType('_root', 'buckets', heads);
			if (buckets?.[0] !== 'map') return 'missing';
			const b = backend.getWithType(buckets[1], bucket, heads);
			if (b?.[0] !== 'map') return 'missing';
			const m = backend.getWithType(b[1], message, heads);
			if (m?.[0] !== 'map') return 'missing';
			return backend.get(m[1], 'deleted', heads) === true ? 'deleted' : 'there';
		}
	};
}

/**
 * A message is made under an id nobody had taken where its writer saw the channel: a second map
 * made at a message's key replaces the first (Automerge keeps one winner), so without this a
 * member with SEND_MESSAGES could swap anyone's message — a thread root, a replied-to message —
 * for one of their own. Judged at the writer's causal point (`seenAt`), so every peer agrees in
 * any delivery order; what was accepted so far is asked first (`madeBefore`, then the current
 * document) only because a key never made cannot have been seen: the common case reads no
 * document, so a validator still applies a cold sync's valid changes in one run. Two writers who take the same id without
 * seeing each other are not replacing anything they saw; ids are random (128 bits).
 */
const untaken: Check = (ctx) => {
	const { bucket, message } = ctx.params as { bucket: string; message: string };
	if (ctx.madeBefore && !ctx.madeBefore(['buckets', bucket, message])) return VALID;
	const backend = A.getBackend(ctx.before as A.Doc<ChannelDoc>);
	const buckets = backend.getWithType('_root', 'buckets');
	const now = buckets?.[0] === 'map' ? backend.getWithType(buckets[1], bucket) : undefined;
	if (now?.[0] !== 'map' || backend.getWithType(now[1], message) === undefined) return VALID;
	let seen: 'there' | 'deleted' | 'missing';
	try {
		seen = seenAt(ctx).message(bucket, message);
	} catch {
		return invalid('a message is judged where its writer saw the channel');
	}
	return seen === 'missing' ? VALID : invalid('a message is never replaced: its id is taken');
};

/** How many pins the channel holds after an entry, as its writer saw it (counted once per entry). */
const pinCounts = new WeakMap<readonly unknown[], number>();
function pinsAfter(ctx: Ctx): number {
	let count = pinCounts.get(ctx.ops);
	if (count === undefined) {
		const pins = new Set(seenAt(ctx).pins());
		for (const o of ctx.ops)
			if (o.path.length === 1 && parsePinKey(o.path[0]!)) {
				if (o.kind === 'delete') pins.delete(o.path[0]!);
				else pins.add(o.path[0]!);
			}
		pinCounts.set(ctx.ops, (count = pins.size));
	}
	return count;
}

/**
 * A key of the document's root: a pin (`pin:<bucket>:<message>` → when it was pinned), put or
 * deleted by MANAGE_MESSAGES. A pin names a message its writer had (and that was not deleted
 * there), and leaves at most MAX_PINS pinned as its writer saw the channel. Any other root key
 * (`buckets` itself included) is refused.
 */
const pin: Check = (ctx) => {
	const parsed = parsePinKey(ctx.params.key!);
	if (!parsed) return invalid(`no rule allows writing ${ctx.params.key}`);
	const allowed = moderate(ctx);
	if (!allowed.valid) return allowed;
	if (ctx.op.kind === 'delete') return VALID;
	if (ctx.op.kind !== 'put' || typeof ctx.op.value !== 'number' || !Number.isFinite(ctx.op.value))
		return invalid('a pin is a time');
	if (parsed.message.length > MAX_MESSAGE_ID || parsed.bucket.length > MAX_MESSAGE_ID)
		return invalid('a pin names a message id');
	let seen: 'there' | 'deleted' | 'missing';
	let count: number;
	try {
		seen = seenAt(ctx).message(parsed.bucket, parsed.message);
		count = pinsAfter(ctx);
	} catch {
		// heads this document does not hold: never for an entry whose dependencies were accepted
		return invalid('a pin is judged where its writer saw the channel');
	}
	if (seen !== 'there')
		return invalid(
			seen === 'deleted' ? 'a deleted message is not pinned' : 'a pin names a message it has seen'
		);
	return count <= MAX_PINS ? VALID : invalid(`a channel pins at most ${MAX_PINS}`);
};

const textValue: Check = (ctx) => {
	const value = ctx.op.value;
	return typeof value === 'string' && value.length <= MAX_MESSAGE_LENGTH
		? VALID
		: invalid(`text must be a string of at most ${MAX_MESSAGE_LENGTH}`);
};

export const CHANNEL_RULES: readonly Rule<ChannelDoc>[] = [
	{
		pattern: ':key',
		description: 'MANAGE_MESSAGES pins a message it has seen (at most MAX_PINS) and unpins any',
		check: all(view, pin)
	},
	{
		pattern: 'buckets/:bucket',
		description: 'SEND_MESSAGES opens a message bucket',
		check: all(view, send, (ctx) =>
			ctx.op.kind === 'make' ? VALID : invalid('buckets are only created')
		)
	},
	{
		pattern: 'buckets/:bucket/:message',
		description:
			'SEND_MESSAGES creates a message under an id its writer had not seen taken; it is never removed (`deleted` marks it) nor replaced',
		check: all(view, (ctx) =>
			ctx.op.kind === 'make'
				? all(send, untaken)(ctx)
				: ctx.op.kind === 'delete'
					? invalid('a message is deleted by marking it deleted') // threads and replies name it
					: invalid('a message is a map')
		)
	},
	{
		pattern: 'buckets/:bucket/:message/author',
		description: 'set on creation, to the signer',
		check: all(view, onCreation, (ctx) =>
			ctx.op.value === ctx.signer ? VALID : invalid('author must be the signer')
		)
	},
	{
		pattern: 'buckets/:bucket/:message/createdAt',
		description: 'set on creation',
		check: all(view, onCreation, (ctx) =>
			typeof ctx.op.value === 'number' ? VALID : invalid('createdAt is a number')
		)
	},
	{
		pattern: 'buckets/:bucket/:message/text',
		description: 'written on creation or edited by the author; MANAGE_MESSAGES may only clear it',
		check: all(
			view,
			textValue,
			any<ChannelDoc>(
				all(onCreation, send),
				all(signerIsAuthor, send),
				all(moderate, (ctx) =>
					ctx.op.value === '' ? VALID : invalid('moderators only clear text')
				)
			)
		)
	},
	{
		pattern: 'buckets/:bucket/:message/editedAt',
		description: 'the author marks an edit',
		check: all(view, signerIsAuthor)
	},
	{
		pattern: 'buckets/:bucket/:message/deleted',
		description: 'the author or MANAGE_MESSAGES deletes',
		check: all(view, any<ChannelDoc>(signerIsAuthor, moderate), (ctx) =>
			ctx.op.value === true ? VALID : invalid('deleted is only ever set to true')
		)
	},
	{
		pattern: 'buckets/:bucket/:message/replyTo',
		description: 'set on creation: the id of the message replied to',
		check: all(view, onCreation, send, (ctx) =>
			ctx.op.kind === 'put' &&
			typeof ctx.op.value === 'string' &&
			ctx.op.value.length > 0 &&
			ctx.op.value.length <= MAX_MESSAGE_ID
				? VALID
				: invalid(`replyTo is a message id of at most ${MAX_MESSAGE_ID} characters`)
		)
	},
	{
		pattern: 'buckets/:bucket/:message/thread',
		description: 'set on creation: the root of its thread, a message of this channel in no thread',
		check: all(view, onCreation, send, threadRoot)
	},
	{
		pattern: 'buckets/:bucket/:message/mentions',
		description: 'made on creation: whom the message mentions',
		check: all(view, onCreation, send, (ctx) =>
			ctx.op.kind === 'make' && ctx.op.container === 'map'
				? VALID
				: invalid('mentions is a map made with the message')
		)
	},
	{
		pattern: 'buckets/:bucket/:message/mentions/:target',
		description: 'set on creation; a role, @everyone or @here needs MENTION_EVERYONE',
		check: all(view, onCreation, send, mention)
	},
	{
		pattern: 'buckets/:bucket/:message/:field',
		description: "ADD_REACTIONS adds one's own reaction; the member or MANAGE_MESSAGES removes it",
		check: all(view, reaction)
	}
];

export const channelRules = new RuleSet<ChannelDoc>(CHANNEL_RULES);
