/**
 * Story: Ada's book club gets a topic for #general, pinned messages and coloured roles.
 * - Ada (the owner, MANAGE_CHANNELS) sets #general's topic; everyone reads it. Ben cannot: his app
 *   refuses, and a topic he writes past the app is refused by every peer; a topic past MAX_TOPIC is
 *   refused at the API and by the rule.
 * - Ada (MANAGE_MESSAGES) pins Ben's message; everyone sees it pinned; Ben cannot pin or unpin,
 *   through the app or past it; once the message is deleted its pin no longer shows.
 * - Ada colours a role and gives it to Ben: his name takes its colour on every peer. Cy cannot
 *   colour a role; a colour that is not `#rrggbb` is refused at the API (typed) and by the rule.
 * - Ada and Cy (a moderator) pin and unpin concurrently: every peer, and a fresh device fed every
 *   entry in any order, shows the same pins. A channel holds at most MAX_PINS as each pinner saw it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as A from '@automerge/automerge';
import { MAX_PINS, MAX_TOPIC, type Channel, type Space } from '../../src/lib/index.js';
import { forge } from '../support/hostile.js';
import {
	deliver,
	freshDevice,
	orderBy,
	shutdown,
	syncAll,
	userOf,
	type Persona,
	bookClub
} from '../support/personas.js';

type ChannelDocShape = {
	buckets: Record<string, Record<string, Record<string, unknown>>>;
	[key: string]: unknown;
};
type SpaceDocShape = {
	channels: Record<string, Record<string, unknown>>;
	roles: Record<string, Record<string, unknown>>;
};

const bucketOf = (channel: Channel, id: string) =>
	Object.entries(
		(channel as unknown as { replica: { doc: ChannelDocShape } }).replica.doc.buckets
	).find(([, b]) => b[id])![0];

/** What a member sees of a channel's pins: the pinned messages' texts, most recent pin first. */
const pinsOf = (channel: Channel) => channel.pins.map((p) => p.message.text);

const reasons = (of: { rejections: { reason: string }[] }) =>
	of.rejections.map((r) => r.reason).sort();

describe('channel topic', () => {
	it('✓ MANAGE_CHANNELS sets the topic; a member without it is refused on every peer', async () => {
		const { cast, people, space, general, on } = await bookClub();
		try {
			const id = space.channels[0]!.id;
			await space.updateChannel(id, { topic: '  Chapter 3 of Middlemarch, Thursdays  ' });
			await syncAll(people, space.id);
			// ✓ every peer reads it, trimmed
			for (const p of people) expect(general(p).topic).toBe('Chapter 3 of Middlemarch, Thursdays');

			// ✓ Ben's app refuses, naming the permission; a topic past the limit is refused at the API
			await expect(on(cast.ben).updateChannel(id, { topic: 'mine' })).rejects.toMatchObject({
				code: 'not-authorized',
				message: expect.stringMatching(/MANAGE_CHANNELS/)
			});
			await expect(
				space.updateChannel(id, { topic: 'x'.repeat(MAX_TOPIC + 1) })
			).rejects.toMatchObject({ code: 'invalid-argument' });
			// past the apps: Ben's own topic, and Ada's past the limit, under their genuine keys
			await forge<SpaceDocShape>(cast.ben.client, on(cast.ben), {}, (d) => {
				d.channels[id]!.topic = new A.ImmutableString('Ben was here');
			});
			await forge<SpaceDocShape>(cast.ada.client, space, {}, (d) => {
				d.channels[id]!.topic = new A.ImmutableString('x'.repeat(MAX_TOPIC + 1));
			});
			await syncAll(people, space.id);
			for (const p of people) {
				// ✓ both refused by every peer; the topic stands
				expect(reasons(on(p))).toEqual(
					['needs MANAGE_CHANNELS', `a topic is a string of at most ${MAX_TOPIC}`].sort()
				);
				expect(general(p).topic).toBe('Chapter 3 of Middlemarch, Thursdays');
			}
			// ✓ '' takes the topic away
			await space.updateChannel(id, { topic: '' });
			await syncAll(people, space.id);
			for (const p of people) expect(general(p).topic).toBe('');
		} finally {
			await shutdown(people);
		}
	});
});

describe('pinned messages', () => {
	it("✓ MANAGE_MESSAGES pins Ben's message; Ben cannot pin or unpin; a deleted message's pin goes", async () => {
		const { cast, people, space, general, on } = await bookClub();
		try {
			const question = await general(cast.ben).send('Who has the Penguin edition?');
			const answer = await general(cast.cy).send('I do');
			await syncAll(people, space.id);
			await general(cast.ada).pin(question.id);
			// ✓ pinning twice changes nothing
			await general(cast.ada).pin(question.id);
			await syncAll(people, space.id);
			for (const p of people) {
				expect(pinsOf(general(p))).toEqual(['Who has the Penguin edition?']);
				expect(general(p).isPinned(question.id)).toBe(true);
			}

			// ✓ Ben's app refuses to pin or unpin, naming the permission
			await expect(general(cast.ben).pin(answer.id)).rejects.toMatchObject({
				code: 'not-authorized',
				message: expect.stringMatching(/MANAGE_MESSAGES/)
			});
			await expect(general(cast.ben).unpin(question.id)).rejects.toMatchObject({
				code: 'not-authorized'
			});
			// he writes both past the app, under his own keys; Ada pins a message nobody wrote
			const channel = general(cast.ben);
			const pinKey = (id: string) => `pin:${bucketOf(channel, id)}:${id}`;
			await forge<ChannelDocShape>(cast.ben.client, on(cast.ben), { channel }, (d) => {
				d[pinKey(answer.id)] = Date.now();
			});
			await forge<ChannelDocShape>(cast.ben.client, on(cast.ben), { channel }, (d) => {
				delete d[pinKey(question.id)];
			});
			await forge<ChannelDocShape>(cast.ada.client, space, { channel: general(cast.ada) }, (d) => {
				d[`pin:${bucketOf(channel, answer.id)}:nobody.1`] = Date.now();
			});
			await syncAll(people, space.id);
			for (const p of people) {
				// ✓ every peer refuses all three; the pins stand
				expect(reasons(general(p))).toEqual(
					[
						'needs MANAGE_MESSAGES',
						'needs MANAGE_MESSAGES',
						'a pin names a message it has seen'
					].sort()
				);
				expect(pinsOf(general(p))).toEqual(['Who has the Penguin edition?']);
			}

			// ✓ Ada pins Cy's too (most recent first); Ben deletes his message: its pin no longer shows
			await general(cast.ada).pin(answer.id);
			await general(cast.ben).delete(question.id);
			await syncAll(people, space.id);
			for (const p of people) expect(pinsOf(general(p))).toEqual(['I do']);
			// ✓ a deleted message cannot be pinned (the API; the rule would refuse it too)
			await expect(general(cast.ada).pin(question.id)).rejects.toMatchObject({
				code: 'invalid-argument'
			});
			await general(cast.ada).unpin(answer.id);
			await syncAll(people, space.id);
			for (const p of people) expect(pinsOf(general(p))).toEqual([]);
		} finally {
			await shutdown(people);
		}
	});

	it(`✓ a channel pins at most MAX_PINS (${MAX_PINS}) as each pinner saw it`, async () => {
		const { cast, people, space, general } = await bookClub();
		try {
			const ada = general(cast.ada);
			const sent = [];
			for (let i = 0; i <= MAX_PINS; i++) sent.push(await ada.send(`note ${i}`));
			for (const m of sent.slice(0, MAX_PINS)) await ada.pin(m.id);
			const last = sent[MAX_PINS]!;
			// ✓ the app refuses the one more, typed
			await expect(ada.pin(last.id)).rejects.toMatchObject({ code: 'invalid-argument' });
			// ✓ past the app, every peer refuses it
			await forge<ChannelDocShape>(cast.ada.client, space, { channel: ada }, (d) => {
				d[`pin:${bucketOf(ada, last.id)}:${last.id}`] = Date.now();
			});
			await syncAll(people, space.id);
			for (const p of people) {
				expect(reasons(general(p))).toEqual([`a channel pins at most ${MAX_PINS}`]);
				expect(general(p).pins).toHaveLength(MAX_PINS);
				expect(general(p).isPinned(last.id)).toBe(false);
			}
			// ✓ unpin one, and there is room again
			await ada.unpin(sent[0]!.id);
			await ada.pin(last.id);
			await syncAll(people, space.id);
			for (const p of people) {
				expect(general(p).pins).toHaveLength(MAX_PINS);
				expect(general(p).pins[0]!.message.id).toBe(last.id);
			}
			// ✓ a pinned message deleted: its pin shows nowhere, and a new pin takes its place
			await ada.delete(sent[1]!.id);
			await syncAll(people, space.id);
			expect(ada.pins).toHaveLength(MAX_PINS - 1);
			await ada.pin(sent[0]!.id);
			await syncAll(people, space.id);
			for (const p of people) {
				expect(general(p).rejections.map((r) => r.reason)).toEqual([
					`a channel pins at most ${MAX_PINS}`
				]);
				expect(general(p).pins).toHaveLength(MAX_PINS);
				expect(general(p).pins[0]!.message.id).toBe(sent[0]!.id);
			}
		} finally {
			await shutdown(people);
		}
	}, 60_000);
});

describe('pins made concurrently', () => {
	it('✓ property: concurrent pins and unpins by two moderators converge on every peer, in every delivery order', async () => {
		const { cast, people, space, general, phrase } = await bookClub();
		const fresh: Persona[] = [];
		try {
			const mod = await space.createRole({ name: 'Mod', permissions: ['MANAGE_MESSAGES'] });
			await space.assignRole(userOf(cast.cy), mod.id);
			const one = await general(cast.ada).send('one');
			const two = await general(cast.ben).send('two');
			const three = await general(cast.ben).send('three');
			const four = await general(cast.cy).send('four');
			await syncAll(people, space.id);
			await general(cast.ada).pin(one.id);
			await general(cast.ada).pin(two.id);
			await syncAll(people, space.id);
			// offline from each other: Ada unpins "one", pins "three" and "four"; Cy unpins "two" and
			// pins "four" too
			await general(cast.ada).unpin(one.id);
			await general(cast.ada).pin(three.id);
			await general(cast.ada).pin(four.id);
			await general(cast.cy).unpin(two.id);
			await general(cast.cy).pin(four.id);
			await syncAll(people, space.id);
			const picture = (channel: Channel) => pinsOf(channel).sort();
			// ✓ every peer: "three" and "four" (pinned twice, shown once)
			for (const p of people) {
				expect(picture(general(p))).toEqual(['four', 'three']);
				expect(general(p).rejections).toEqual([]);
			}
			await fc.assert(
				fc.asyncProperty(
					fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
					fc.integer({ min: 1, max: 3 }),
					fc.constantFrom(...people.map((_, i) => i)),
					async (keys, batch, firstFrom) => {
						const reader = await freshDevice(phrase);
						fresh.push(reader);
						const shuffle = orderBy(keys);
						const from = [...people.slice(firstFrom), ...people.slice(0, firstFrom)];
						for (const p of from) await deliver(p, reader, space.id, { shuffle, batch });
						const seen = reader.client.space(space.id)!.channels[0]!;
						// ✓ the same pins as every peer's, whatever the order
						expect(picture(seen)).toEqual(['four', 'three']);
						expect(seen.rejections).toEqual([]);
						await reader.client.close();
						fresh.pop();
					}
				),
				{ numRuns: 6 }
			);
		} finally {
			await shutdown([...people, ...fresh]);
		}
	}, 120_000);
});

describe('the pin cap and concurrent pins', () => {
	it('✓ property: two pins made concurrently at MAX_PINS − 1 both stand, on every peer, in every delivery order', async () => {
		const { cast, people, space, general, phrase } = await bookClub();
		const fresh: Persona[] = [];
		try {
			const mod = await space.createRole({ name: 'Mod', permissions: ['MANAGE_MESSAGES'] });
			await space.assignRole(userOf(cast.cy), mod.id);
			const ada = general(cast.ada);
			const sent = [];
			for (let i = 0; i <= MAX_PINS; i++) sent.push(await ada.send(`note ${i}`));
			for (const m of sent.slice(0, MAX_PINS - 1)) await ada.pin(m.id);
			await syncAll(people, space.id);
			// offline from each other, each sees MAX_PINS − 1 pinned and pins one more
			await ada.pin(sent[MAX_PINS - 1]!.id);
			await general(cast.cy).pin(sent[MAX_PINS]!.id);
			await syncAll(people, space.id);
			// judged where each pinner saw the channel: neither broke the cap, both stand everywhere
			// (the channel shows its MAX_PINS most recent)
			const picture = (channel: Channel) => channel.pins.map((p) => p.message.id);
			const expected = picture(general(cast.ada));
			expect(expected).toHaveLength(MAX_PINS);
			for (const p of people) {
				expect(general(p).rejections).toEqual([]);
				expect(picture(general(p))).toEqual(expected);
			}
			await fc.assert(
				fc.asyncProperty(
					fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
					fc.integer({ min: 1, max: 8 }),
					fc.constantFrom(...people.map((_, i) => i)),
					async (keys, batch, firstFrom) => {
						const reader = await freshDevice(phrase);
						fresh.push(reader);
						const shuffle = orderBy(keys);
						const from = [...people.slice(firstFrom), ...people.slice(0, firstFrom)];
						for (const p of from) await deliver(p, reader, space.id, { shuffle, batch });
						const seen = reader.client.space(space.id)!.channels[0]!;
						// ✓ nothing refused, the same pins, whatever the order
						expect(seen.rejections).toEqual([]);
						expect(picture(seen)).toEqual(expected);
						await reader.client.close();
						fresh.pop();
					}
				),
				{ numRuns: 4 }
			);
		} finally {
			await shutdown([...people, ...fresh]);
		}
	}, 180_000);
});

describe('role colours', () => {
	const colourOf = (space: Space, user: string) =>
		space.members.find((m) => m.user === user)?.color;

	it("✓ MANAGE_ROLES colours a role; Ben's name takes his highest coloured role's colour on every peer", async () => {
		const { cast, people, space, on } = await bookClub();
		try {
			const ben = userOf(cast.ben);
			const readers = await space.createRole({ name: 'Readers', color: '#3BA55C' });
			const hosts = await space.createRole({ name: 'Hosts' });
			await space.assignRole(ben, readers.id);
			await space.assignRole(ben, hosts.id);
			await syncAll(people, space.id);
			for (const p of people) {
				// ✓ stored lowercase; Hosts (higher, uncoloured) leaves Readers' colour
				expect(on(p).roles.find((r) => r.id === readers.id)?.color).toBe('#3ba55c');
				expect(colourOf(on(p), ben)).toBe('#3ba55c');
				expect(colourOf(on(p), userOf(cast.cy))).toBeUndefined();
			}
			// ✓ the higher role coloured: it wins; its colour taken away: Readers' again
			await space.updateRole(hosts.id, { color: '#f0b232' });
			await syncAll(people, space.id);
			for (const p of people) expect(colourOf(on(p), ben)).toBe('#f0b232');
			await space.updateRole(hosts.id, { color: null });
			await syncAll(people, space.id);
			for (const p of people) expect(colourOf(on(p), ben)).toBe('#3ba55c');
		} finally {
			await shutdown(people);
		}
	});

	it('✓ without MANAGE_ROLES nobody colours; a colour that is not #rrggbb is refused at the API and by the rule', async () => {
		const { cast, people, space, on } = await bookClub();
		try {
			const readers = await space.createRole({ name: 'Readers', color: '#3ba55c' });
			await syncAll(people, space.id);
			// ✓ Cy's app refuses, naming the permission
			await expect(on(cast.cy).updateRole(readers.id, { color: '#ff0000' })).rejects.toMatchObject({
				code: 'not-authorized',
				message: expect.stringMatching(/MANAGE_ROLES/)
			});
			// ✓ the API refuses every other form, typed, before anything is written
			for (const bad of [
				'red',
				'#fff',
				'#12345g',
				'#3ba55c;background:url(x)',
				'rgb(1 2 3)',
				'var(--x)',
				'',
				42 as never
			])
				await expect(space.updateRole(readers.id, { color: bad })).rejects.toMatchObject({
					code: 'invalid-argument'
				});
			await expect(space.createRole({ name: 'Bad', color: 'red' })).rejects.toMatchObject({
				code: 'invalid-argument'
			});
			// past the apps: Cy's colour, Ada's CSS, and Ada's colour as a collaborative text
			await forge<SpaceDocShape>(cast.cy.client, on(cast.cy), {}, (d) => {
				d.roles[readers.id]!.color = new A.ImmutableString('#ff0000');
			});
			await forge<SpaceDocShape>(cast.ada.client, space, {}, (d) => {
				d.roles[readers.id]!.color = new A.ImmutableString('red;x:y');
			});
			await forge<SpaceDocShape>(cast.ada.client, space, {}, (d) => {
				d.roles[readers.id]!.color = '#00ff00';
			});
			await syncAll(people, space.id);
			for (const p of people) {
				// ✓ every peer refuses all three; the colour stands
				expect(reasons(on(p))).toEqual(
					[
						'needs MANAGE_ROLES',
						'a role colour is #rrggbb (lowercase hex)',
						'a role colour is #rrggbb (lowercase hex)'
					].sort()
				);
				expect(on(p).roles.find((r) => r.id === readers.id)?.color).toBe('#3ba55c');
			}
		} finally {
			await shutdown(people);
		}
	});
});
