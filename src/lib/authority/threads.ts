/**
 * The thread rule of channel documents: a message may be posted in the thread of another message of
 * the same channel, its root (`buckets/<b>/<m>/thread` = the root's id, set on creation).
 *
 * - The root is found by its id (`bucketOfMessage`) in the document as the valid entries made it —
 *   or made by the same entry. A root not there yet holds the message (`notYetInDocument`): it is
 *   decided again when the root arrives, in this batch or a later one. An honest client names only a
 *   root it holds, so its entry depends on the root's and is never held; only a crafted one is.
 * - A root that is itself in a thread is refused: no thread of a thread.
 * - Messages are never removed from the document (deleting marks them `deleted`), so once a root is
 *   there it stays, and "held" turns into the same verdict on every peer whatever the delivery order.
 *   A thread under a deleted root stays readable, and open: the root's deletion is not the thread's.
 */
import type { RuleContext, RuleCheck } from './rules.js';
import { valueAt } from './rules.js';
import { asString, bucketOfMessage, type ChannelDoc } from './schema.js';
import { MAX_MESSAGE_ID } from './limits.js';
import { VALID, invalid, notYetInDocument } from './verdict.js';

/** Why a message waits: its thread's root is not (yet) in the document. */
export const ROOT_NOT_YET = 'the root of its thread not received yet';
/** Why a message is refused: its root is in a thread itself. */
export const NO_THREAD_OF_A_THREAD = 'a message in a thread starts no thread';

export const threadRoot: RuleCheck<ChannelDoc> = (ctx: RuleContext<ChannelDoc>) => {
	const root = ctx.op.kind === 'put' ? ctx.op.value : undefined;
	if (typeof root !== 'string' || root.length === 0 || root.length > MAX_MESSAGE_ID)
		return invalid(`thread is a message id of at most ${MAX_MESSAGE_ID} characters`);
	const bucket = bucketOfMessage(root);
	if (!bucket) return invalid('thread names no message of this channel');
	if (root === ctx.params.message) return invalid('a message is not its own thread');
	const path = ['buckets', bucket, root];
	const key = path.join('/');
	// made by this same entry (two sends of one tick): decided by what the entry sets
	if (ctx.ops.some((o) => o.kind === 'make' && o.path.join('/') === key))
		return valueAt(ctx, [...path, 'thread']) === undefined ? VALID : invalid(NO_THREAD_OF_A_THREAD);
	const found = ctx.before.buckets?.[bucket]?.[root];
	if (!found) return notYetInDocument(ROOT_NOT_YET);
	return asString(found.thread) === undefined ? VALID : invalid(NO_THREAD_OF_A_THREAD);
};
