/**
 * Story: in Ada's book club a question of Ada's starts a thread.
 * - Ben starts a thread on it, Cy replies: on every peer #general shows Ada's question once, with
 *   "2 replies" (Ben, then Cy), and not their messages; the thread shows both.
 * - Ada denies Cy SEND_MESSAGES in #general: his app refuses to post in the thread, and a thread
 *   message he writes past the app is refused by every peer.
 * - No thread of a thread: the app refuses to start one on a message in a thread, and every peer
 *   refuses one written past the app.
 * - Ada deletes her question: the thread stays readable under "original message deleted", and open.
 * - Past the app, Cy posts in the thread from a document that never had the question (so his entry
 *   does not depend on it), and names a message in the thread as a root the same way: the first is
 *   held until the question arrives, then shown, the second refused — on every peer, and on a fresh
 *   device of Ada's in every delivery order.
 */
import { describe, expect, it } from 'vitest';
import * as A from '@automerge/automerge';
import type { Channel, SpaceId } from '../../src/lib/index.js';
import { NO_THREAD_OF_A_THREAD } from '../../src/lib/authority/threads.js';
import { bucketOfMessage } from '../../src/lib/authority/schema.js';
import { forge } from '../support/hostile.js';
import {
	bookClub,
	inEveryDeliveryOrder,
	shutdown,
	syncAll,
	userOf,
	type Persona
} from '../support/personas.js';

type ChannelDocShape = { buckets: Record<string, Record<string, Record<string, unknown>>> };

const docOf = (channel: Channel) =>
	(channel as unknown as { replica: { doc: A.Doc<ChannelDocShape> } }).replica.doc;

/** What a member sees: the channel's list (text and thread count) and one thread's messages. */
const picture = (channel: Channel, root: string) => ({
	list: channel.messages.map((m) => `${m.text}${m.thread ? ` [${m.thread.count}]` : ''}`),
	thread: channel.thread(root).messages.map((m) => m.text)
});

/**
 * A thread message of `p`'s written past the app: a new message (id = its bucket's id) with a
 * `thread` field, made on `from` (default: the document `p` holds now).
 */
function forgeInThread(
	p: Persona,
	spaceId: SpaceId,
	message: { id: string; text: string; root: string },
	from?: A.Doc<ChannelDocShape>
) {
	const space = p.client.space(spaceId)!;
	const channel = space.channels[0]!;
	return forge<ChannelDocShape>(p.client, space, { channel, ...(from ? { from } : {}) }, (d) => {
		d.buckets[message.id] = {
			[message.id]: {
				author: new A.ImmutableString(userOf(p)),
				text: new A.ImmutableString(message.text),
				createdAt: Date.now(),
				thread: new A.ImmutableString(message.root)
			}
		};
	});
}

describe('threads', () => {
	it('✓ Ben starts a thread on Ada’s question and Cy replies: every peer shows the root with "2 replies" and the thread with both', async () => {
		const { cast, people, space, first, general, on } = await bookClub('Who has read chapter 3?');
		try {
			const ben = await general(cast.ben).thread(first!.id).send('I have, twice');
			expect(ben.inThread).toBe(first!.id);
			await syncAll(people, space.id);
			await general(cast.cy).send('Halfway', { thread: first!.id });
			await syncAll(people, space.id);
			for (const p of people) {
				const channel = general(p);
				// ✓ the channel's list: the question once, with its thread's summary — not the replies
				expect(picture(channel, first!.id)).toEqual({
					list: ['Who has read chapter 3? [2]'],
					thread: ['I have, twice', 'Halfway']
				});
				expect(channel.messages[0]!.thread).toMatchObject({
					count: 2,
					posters: [userOf(cast.ben), userOf(cast.cy)],
					lastAt: channel.thread(first!.id).messages[1]!.createdAt
				});
				// ✓ the thread's root is the question
				expect(channel.thread(first!.id).root).toMatchObject({ text: 'Who has read chapter 3?' });
				expect(channel.rejections).toEqual([]);
				// ✓ a search result in the thread names it, so the app opens the thread
				expect(on(p).search('twice').results).toMatchObject([
					{ messageId: ben.id, thread: first!.id }
				]);
			}
		} finally {
			await shutdown(people);
		}
	});

	it('✓ without SEND_MESSAGES Cy cannot post in a thread: his app refuses, and every peer refuses what he writes past it', async () => {
		const { cast, people, space, first, general } = await bookClub('Who has read chapter 3?');
		try {
			await space.setChannelPermissions(
				space.channels[0]!.id,
				{ user: userOf(cast.cy) },
				{ deny: ['SEND_MESSAGES'] }
			);
			await syncAll(people, space.id);
			// ✓ the app refuses
			await expect(general(cast.cy).send('me!', { thread: first!.id })).rejects.toMatchObject({
				code: 'not-authorized'
			});
			await forgeInThread(cast.cy, space.id, { id: 'forged.0', text: 'me!', root: first!.id });
			await syncAll(people, space.id);
			for (const p of people) {
				// ✓ refused everywhere, the thread stays empty
				expect(general(p).rejections.map((r) => r.reason)).toEqual(['needs SEND_MESSAGES']);
				expect(general(p).thread(first!.id).messages).toEqual([]);
				expect(general(p).messages[0]!.thread).toBeUndefined();
			}
		} finally {
			await shutdown(people);
		}
	});

	it('✓ no thread of a thread: the app refuses, and every peer refuses one written past it', async () => {
		const { cast, people, space, first, general } = await bookClub('Who has read chapter 3?');
		try {
			const inThread = await general(cast.ben).send('I have', { thread: first!.id });
			await syncAll(people, space.id);
			// ✓ the app refuses, both ways of asking
			await expect(general(cast.cy).send('and?', { thread: inThread.id })).rejects.toMatchObject({
				code: 'invalid-argument'
			});
			expect(() => general(cast.cy).thread(inThread.id)).toThrow(/starts no thread/);
			await forgeInThread(cast.cy, space.id, { id: 'forged.0', text: 'and?', root: inThread.id });
			await syncAll(people, space.id);
			for (const p of people) {
				// ✓ refused everywhere
				expect(general(p).rejections.map((r) => r.reason)).toEqual([NO_THREAD_OF_A_THREAD]);
				expect(general(p).allMessages.map((m) => m.text)).toEqual([
					'Who has read chapter 3?',
					'I have'
				]);
			}
		} finally {
			await shutdown(people);
		}
	});

	it('✓ Ada deletes her question: the thread stays readable under the deleted original, and open', async () => {
		const { cast, people, space, first, general } = await bookClub('Who has read chapter 3?');
		try {
			await general(cast.ben).send('I have', { thread: first!.id });
			await syncAll(people, space.id);
			await general(cast.ada).delete(first!.id);
			await syncAll(people, space.id);
			await general(cast.cy).thread(first!.id).send('Still here');
			await syncAll(people, space.id);
			for (const p of people) {
				const thread = general(p).thread(first!.id);
				// ✓ "original message deleted", the thread's messages all there, none in the channel's list
				expect(thread.root).toBe('deleted');
				expect(thread.messages.map((m) => m.text)).toEqual(['I have', 'Still here']);
				expect(general(p).messages).toEqual([]);
			}
		} finally {
			await shutdown(people);
		}
	});
});

describe('threads and delivery order', () => {
	it('✓ property: a thread message that does not depend on its root is held until the root arrives, a thread of a thread refused — on every peer, in every delivery order', async () => {
		const { cast, people, space, general, phrase } = await bookClub('Hello all');
		try {
			// Cy's document as it was before Ada's question
			const before = docOf(general(cast.cy));
			const question = await general(cast.ada).send('Who has read chapter 3?');
			const inThread = await general(cast.ada).send('I start', { thread: question.id });
			await syncAll(people, space.id);
			// from the document that never had the question: one in its thread, one naming Ada's thread message
			await forgeInThread(
				cast.cy,
				space.id,
				{ id: 'forged.0', text: 'held, then shown', root: question.id },
				before
			);
			await forgeInThread(
				cast.cy,
				space.id,
				{ id: 'forged2.0', text: 'thread of a thread', root: inThread.id },
				before
			);
			// and one whose root never comes: held for ever, shown nowhere
			const never = 'feedfacefeedface.0';
			expect(bucketOfMessage(never)).toBe('feedfacefeedface.0');
			await forgeInThread(
				cast.cy,
				space.id,
				{ id: 'forged3.0', text: 'no root', root: never },
				before
			);
			await syncAll(people, space.id);
			const expected = {
				list: ['Hello all', 'Who has read chapter 3? [2]'],
				thread: ['I start', 'held, then shown']
			};
			for (const p of people) {
				// ✓ every peer: the first shown in the thread, the second refused, the third held
				expect(picture(general(p), question.id)).toEqual(expected);
				expect(general(p).rejections.map((r) => r.reason)).toEqual([NO_THREAD_OF_A_THREAD]);
				expect(general(p).allMessages.some((m) => m.text === 'no root')).toBe(false);
			}
			// ✓ a fresh device of Ada's, whatever the order it receives everyone's entries in
			await inEveryDeliveryOrder(people, phrase, space.id, (seen) => {
				expect(picture(seen, question.id)).toEqual(expected);
				expect(seen.rejections.map((r) => r.reason)).toEqual([NO_THREAD_OF_A_THREAD]);
			});
		} finally {
			await shutdown(people);
		}
	});
});
