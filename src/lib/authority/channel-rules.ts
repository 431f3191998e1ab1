/**
 * The rule table of channel documents. Everything needs VIEW_CHANNEL; messages are created with
 * SEND_MESSAGES and `author` = the signer; only the author edits; the author or MANAGE_MESSAGES
 * deletes (a deletion clears the text). A message may name the message it replies to, and whom it
 * mentions, on creation; mentioning a role, @everyone or @here needs MENTION_EVERYONE.
 * A member with ADD_REACTIONS adds reactions of their own; they remove their own, MANAGE_MESSAGES
 * removes anyone's. A message may be posted in the thread of another (`thread`, see threads.ts).
 */
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
import { asString, parseReactionKey, type ChannelDoc } from './schema.js';
import {
	MAX_MENTION_KEY,
	MAX_MENTIONS,
	MAX_MESSAGE_ID,
	MAX_MESSAGE_LENGTH,
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

const textValue: Check = (ctx) => {
	const value = ctx.op.value;
	return typeof value === 'string' && value.length <= MAX_MESSAGE_LENGTH
		? VALID
		: invalid(`text must be a string of at most ${MAX_MESSAGE_LENGTH}`);
};

export const CHANNEL_RULES: readonly Rule<ChannelDoc>[] = [
	{
		pattern: 'buckets/:bucket',
		description: 'SEND_MESSAGES opens a message bucket',
		check: all(view, send, (ctx) =>
			ctx.op.kind === 'make' ? VALID : invalid('buckets are only created')
		)
	},
	{
		pattern: 'buckets/:bucket/:message',
		description: 'SEND_MESSAGES creates a message; it is never removed (`deleted` marks it)',
		check: all(view, (ctx) =>
			ctx.op.kind === 'make'
				? send(ctx)
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
