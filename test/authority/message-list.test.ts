/**
 * Story: Ben watches a busy channel live while Ada writes, edits and deletes across several buckets;
 * Cy opens the same channel afterwards in one go. The message list is built incrementally (only the
 * buckets a change touched are read again): whatever order and batches the entries came in, the
 * live list must be exactly the list built from scratch.
 */
import * as A from '@automerge/automerge';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../../src/lib/index.js';
import { channelIdBytes, spaceIdBytes } from '../../src/lib/identity/ids.js';
import { envelopeDocumentId } from '../../src/lib/sync/envelope.js';
import { forge } from '../support/hostile.js';
import { deliver, personas, shutdown, userOf, type Persona } from '../support/personas.js';

const cleanups: Persona[][] = [];
afterEach(async () => {
	for (const people of cleanups.splice(0)) await shutdown(people);
});

async function setup() {
	const cast = await personas('ada', 'ben', 'cy');
	const people = Object.values(cast);
	cleanups.push(people);
	const space = await cast.ada.client.createSpace({ name: 'Busy' });
	for (const p of [cast.ben, cast.cy]) await space.addMember(await p.client.memberCard());
	await deliver(cast.ada, cast.ben, space.id);
	const channel = (p: Persona) => p.client.space(space.id)!.channels[0]!;
	return { cast, space, channel };
}

/** What a list says, without delivery (which is the sender's own view). */
const shape = (messages: readonly Message[]) =>
	messages.map((m) => ({
		id: m.id,
		author: m.author,
		text: m.text,
		createdAt: m.createdAt,
		editedAt: m.editedAt
	}));

/** A deterministic shuffle (Fisher–Yates over a small LCG) of 0..n-1. */
const shuffled = (seed: number) => (n: number) => {
	const order = Array.from({ length: n }, (_, i) => i);
	let x = seed;
	for (let i = n - 1; i > 0; i--) {
		x = (x * 1103515245 + 12345) % 2 ** 31;
		const j = x % (i + 1);
		[order[i], order[j]] = [order[j]!, order[i]!];
	}
	return order;
};

describe('the message list', () => {
	it('✓ built live, change by change and in shuffled batches, it equals the list built from scratch', async () => {
		const { cast, space, channel } = await setup();
		// Ben's list is rebuilt after every change he processes
		let builds = 0;
		channel(cast.ben).subscribe(() => builds++);
		// 300 messages span three of Ada's buckets (128 each); some edited, some deleted
		const sent: Message[] = [];
		for (let i = 0; i < 300; i++) sent.push(await channel(cast.ada).send(`message ${i}`));
		for (const i of [0, 127, 128, 200, 299])
			await channel(cast.ada).edit(sent[i]!.id, `edited ${i}`);
		for (const i of [1, 129, 250]) await channel(cast.ada).delete(sent[i]!.id);
		await deliver(cast.ada, cast.ben, space.id, { shuffle: shuffled(7), batch: 9 });
		// Ben answers, so two authors' buckets interleave by time
		for (let i = 0; i < 20; i++) await channel(cast.ben).send(`reply ${i}`);
		await deliver(cast.ben, cast.ada, space.id);
		await deliver(cast.ada, cast.cy, space.id);
		await deliver(cast.ben, cast.cy, space.id);

		const live = shape(channel(cast.ben).messages);
		// ✓ everything arrived, edits and deletions included
		expect(live).toHaveLength(300 - 3 + 20);
		expect(live.find((m) => m.id === sent[128]!.id)?.text).toBe('edited 128');
		expect(live.some((m) => m.id === sent[129]!.id)).toBe(false);
		// ✓ the live list was really built incrementally, many times
		expect(builds).toBeGreaterThan(30);
		// ✓ in display order
		const order = live.map((m) => [m.createdAt, m.id] as const);
		expect([...order].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1))).toEqual(order);
		// ✓ Cy, who read everything in one go, and Ada, who wrote most of it, see the same list
		expect(shape(channel(cast.cy).messages)).toEqual(live);
		expect(shape(channel(cast.ada).messages)).toEqual(live);
		expect(new Set(live.map((m) => m.author))).toEqual(
			new Set([userOf(cast.ada), userOf(cast.ben)])
		);
	});

	it('✓ a device that falls behind takes a burst of arrivals as one batch: one rebuild, not one per message', async () => {
		const { cast, space, channel } = await setup();
		for (let i = 0; i < 40; i++) await channel(cast.ada).send(`burst ${i}`);
		// Ada's 40 publications reach Ben's envelope one sync message after another, before his
		// replica gets a turn (as when his main thread is busy with a chat)
		const envelopeId = envelopeDocumentId(
			spaceIdBytes(space.id),
			channelIdBytes(channel(cast.ada).id)
		);
		const ada = await cast.ada.client.wire.open(envelopeId);
		const ben = await cast.ben.client.wire.open(envelopeId);
		const changes = A.getChanges(ben.doc(), ada.doc());
		expect(changes).toHaveLength(40);
		let builds = 0;
		channel(cast.ben).subscribe(() => builds++);
		builds = 0;
		for (const change of changes) ben.update((d) => A.applyChanges(d, [change])[0]);
		await cast.ben.client.space(space.id)!.settled();
		// ✓ all 40 are read…
		expect(channel(cast.ben).messages.filter((m) => m.text.startsWith('burst'))).toHaveLength(40);
		// ✓ …decided, applied and announced together (one by one, this would be 40 rebuilds)
		expect(builds).toBeGreaterThan(0);
		expect(builds).toBeLessThanOrEqual(3);
		expect(shape(channel(cast.ben).messages)).toEqual(shape(channel(cast.ada).messages));
	});

	it('✓ a message whose time does not order (NaN, written by a hostile member) still leaves the list when deleted', async () => {
		const { cast, space, channel } = await setup();
		for (let i = 0; i < 5; i++) await channel(cast.ada).send(`before ${i}`);
		await deliver(cast.ada, cast.ben, space.id);
		// Ben writes past his client: a message whose createdAt is NaN (a number, so the rules let it)
		type Doc = { buckets: Record<string, Record<string, unknown>> };
		await forge<Doc>(
			cast.ben.client,
			cast.ben.client.space(space.id)!,
			{ channel: channel(cast.ben) },
			(d) => {
				d.buckets['odd.0'] = {
					'odd.0': {
						author: new A.ImmutableString(userOf(cast.ben)),
						text: new A.ImmutableString('no time'),
						createdAt: Number.NaN
					}
				};
			}
		);
		await deliver(cast.ben, cast.ada, space.id);
		await deliver(cast.ben, cast.cy, space.id);
		await deliver(cast.ada, cast.cy, space.id);
		// ✓ Cy, a live reader, shows it
		expect(channel(cast.cy).messages.map((m) => m.text)).toContain('no time');
		// Ada, the owner, deletes it; more messages follow
		await channel(cast.ada).delete('odd.0');
		for (let i = 0; i < 3; i++) await channel(cast.ada).send(`after ${i}`);
		await deliver(cast.ada, cast.cy, space.id);
		// ✓ gone from Cy's live list, nothing else lost, and no message twice
		const texts = channel(cast.cy).messages.map((m) => m.text);
		expect(texts).not.toContain('no time');
		expect(texts.filter((t) => t.startsWith('before') || t.startsWith('after'))).toHaveLength(8);
		expect(new Set(channel(cast.cy).messages.map((m) => m.id)).size).toBe(texts.length);
	});

	it('✓ a member cannot replace someone else’s message by making a new one under its id, on any peer', async () => {
		const { cast, space, channel } = await setup();
		const original = await channel(cast.ada).send('the meeting is at six');
		await deliver(cast.ada, cast.ben, space.id);
		// Ben writes past his client: a new message map at Ada's message's key, as if his own
		type Doc = { buckets: Record<string, Record<string, unknown>> };
		const bucket = Object.keys(
			(channel(cast.ben) as unknown as { replica: { doc: Doc } }).replica.doc.buckets
		).find((b) => b.startsWith(original.id.split('.')[0]!))!;
		await forge<Doc>(
			cast.ben.client,
			cast.ben.client.space(space.id)!,
			{ channel: channel(cast.ben) },
			(d) => {
				d.buckets[bucket]![original.id] = {
					author: new A.ImmutableString(userOf(cast.ben)),
					text: new A.ImmutableString('the meeting is cancelled'),
					createdAt: Date.now()
				};
			}
		);
		await deliver(cast.ben, cast.ada, space.id);
		await deliver(cast.ben, cast.cy, space.id);
		await deliver(cast.ada, cast.cy, space.id);
		// ✓ on Ada and on Cy (who got Ben's change before or after the original), Ada's words stand
		for (const reader of [cast.ada, cast.cy]) {
			const shown = channel(reader).messages.find((m) => m.id === original.id);
			expect(shown?.author).toBe(userOf(cast.ada));
			expect(shown?.text).toBe('the meeting is at six');
			expect(channel(reader).messages.map((m) => m.text)).not.toContain('the meeting is cancelled');
			expect(channel(reader).stats.rejected).toBeGreaterThan(0);
		}
	});

	it('✓ ids squatted ahead of a writer are skipped: her next message gets a free one and is read everywhere', async () => {
		const { cast, space, channel } = await setup();
		const first = await channel(cast.ada).send('first');
		await deliver(cast.ada, cast.ben, space.id);
		const [session, n] = first.id.split('.') as [string, string];
		const next = `${session}.${Number(n) + 1}`;
		// Ben takes Ada's next id (and its bucket key) before she uses it
		type Doc = { buckets: Record<string, Record<string, unknown>> };
		const bucket = Object.keys(
			(channel(cast.ben) as unknown as { replica: { doc: Doc } }).replica.doc.buckets
		).find((b) => b.startsWith(session))!;
		await forge<Doc>(
			cast.ben.client,
			cast.ben.client.space(space.id)!,
			{ channel: channel(cast.ben) },
			(d) => {
				d.buckets[bucket]![next] = {
					author: new A.ImmutableString(userOf(cast.ben)),
					text: new A.ImmutableString('squatted'),
					createdAt: Date.now()
				};
			}
		);
		await deliver(cast.ben, cast.ada, space.id);
		const second = await channel(cast.ada).send('second');
		// ✓ Ada's message took another id; Ben's squat (made without seeing an Ada message there) stays his
		expect(second.id).not.toBe(next);
		await deliver(cast.ada, cast.cy, space.id);
		await deliver(cast.ben, cast.cy, space.id);
		for (const reader of [cast.ada, cast.cy]) {
			const texts = channel(reader).messages.map((m) => m.text);
			expect(texts).toEqual(expect.arrayContaining(['first', 'second', 'squatted']));
			expect(channel(reader).stats.rejected).toBe(0);
		}
	});
});
