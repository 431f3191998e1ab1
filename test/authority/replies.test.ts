/**
 * Story: in Ada's book club Ben replies to Ada's question.
 * - Ben's reply names Ada's message; every peer shows it as a reply to it, and looking the original
 *   up finds it — as edited, once Ada edits it, and as deleted, once she deletes it (the reply stays).
 * - Ben's app refuses a reply to a message that does not exist or was deleted.
 * - Past the app: a `replyTo` added to a message after it was sent, and one too long to be a message
 *   id, are refused by every peer.
 */
import { describe, expect, it } from 'vitest';
import * as A from '@automerge/automerge';
import { MAX_MESSAGE_ID } from '../../src/lib/authority/limits.js';
import type { Channel } from '../../src/lib/index.js';
import { forge } from '../support/hostile.js';
import { personas, shutdown, syncAll, userOf, type Persona } from '../support/personas.js';

type ChannelDocShape = { buckets: Record<string, Record<string, Record<string, unknown>>> };

async function bookClub() {
	const cast = await personas('ada', 'ben', 'cy');
	const people = Object.values(cast);
	const space = await cast.ada.client.createSpace({ name: 'Book club' });
	for (const p of [cast.ben, cast.cy]) await space.addMember(await p.client.memberCard());
	const question = await space.channels[0]!.send('Who has read chapter 3?');
	await syncAll(people, space.id);
	const general = (p: Persona): Channel => p.client.space(space.id)!.channels[0]!;
	return { cast, people, space, question, general };
}

const bucketOf = (channel: Channel, id: string) =>
	Object.entries(
		(channel as unknown as { replica: { doc: ChannelDocShape } }).replica.doc.buckets
	).find(([, b]) => b[id])![0];

describe('replies', () => {
	it('✓ a reply names its original; the original is found as edited, then as deleted, and the reply stays', async () => {
		const { cast, people, space, question, general } = await bookClub();
		try {
			const reply = await general(cast.ben).send('I have!', { replyTo: question.id });
			expect(reply.replyTo).toBe(question.id);
			await syncAll(people, space.id);
			for (const p of people) {
				const seen = general(p).messages.find((m) => m.id === reply.id)!;
				// ✓ every peer: a reply to Ada's question, which it finds
				expect(seen.replyTo).toBe(question.id);
				expect(general(p).lookup(question.id)).toMatchObject({
					text: 'Who has read chapter 3?',
					author: userOf(cast.ada)
				});
			}
			await general(cast.ada).edit(question.id, 'Who has read chapter 3 yet?');
			await syncAll(people, space.id);
			// ✓ the original as it is now
			for (const p of people)
				expect(general(p).lookup(question.id)).toMatchObject({
					text: 'Who has read chapter 3 yet?',
					editedAt: expect.any(Number)
				});
			await general(cast.ada).delete(question.id);
			await syncAll(people, space.id);
			for (const p of people) {
				// ✓ deleted: the reply stays, and says so
				expect(general(p).lookup(question.id)).toBe('deleted');
				expect(general(p).messages.map((m) => m.text)).toEqual(['I have!']);
				expect(general(p).messages[0]!.replyTo).toBe(question.id);
			}
			// ✓ an id this device never had is not a deleted message
			expect(general(cast.cy).lookup('nobody.0')).toBeUndefined();
			// ✓ the app refuses a reply to a deleted or unknown message
			await expect(general(cast.cy).send('me too', { replyTo: question.id })).rejects.toMatchObject(
				{ code: 'invalid-argument' }
			);
			await expect(general(cast.cy).send('me too', { replyTo: 'nobody.0' })).rejects.toMatchObject({
				code: 'invalid-argument'
			});
		} finally {
			await shutdown(people);
		}
	});

	it('✓ past the app: a replyTo added later, or one too long to be a message id, is refused by every peer', async () => {
		const { cast, people, space, question, general } = await bookClub();
		try {
			const cyId = userOf(cast.cy);
			const own = await general(cast.cy).send('my own words');
			await syncAll(people, space.id);
			const channel = general(cast.cy);
			const cySpace = cast.cy.client.space(space.id)!;
			// a replyTo added to his own message after it was sent
			await forge<ChannelDocShape>(cast.cy.client, cySpace, { channel }, (d) => {
				d.buckets[bucketOf(channel, own.id)]![own.id]!.replyTo = new A.ImmutableString(question.id);
			});
			// a new message whose replyTo is far too long
			await forge<ChannelDocShape>(cast.cy.client, cySpace, { channel }, (d) => {
				d.buckets['forged'] = {
					'forged.1': {
						author: new A.ImmutableString(cyId),
						text: new A.ImmutableString('long'),
						createdAt: Date.now(),
						replyTo: new A.ImmutableString('x'.repeat(MAX_MESSAGE_ID + 1))
					}
				};
			});
			await syncAll(people, space.id);
			for (const p of people) {
				// ✓ both refused everywhere; his message is no reply
				expect(
					general(p)
						.rejections.map((r) => r.reason)
						.sort()
				).toEqual(
					[
						'set only when the message is created',
						`replyTo is a message id of at most ${MAX_MESSAGE_ID} characters`
					].sort()
				);
				expect(general(p).messages.find((m) => m.id === own.id)!.replyTo).toBeUndefined();
				expect(general(p).messages.some((m) => m.text === 'long')).toBe(false);
			}
		} finally {
			await shutdown(people);
		}
	});
});
