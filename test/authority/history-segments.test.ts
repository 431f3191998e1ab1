/**
 * Story: Ada's book club hides #general's history from newcomers (@everyone is denied
 * READ_MESSAGE_HISTORY there). Ada and Ben talk about the plot; Cy joins; Ben welcomes him.
 * - Cy reads Ben's welcome and what is said after it — the channel's plaintext started a new
 *   history segment at his join, so nothing written after it depends on what he may not read — and
 *   none of what was said before. The older entries wait at his device as hidden (keys he never
 *   gets), never counted as refused or bad.
 * - Ada and Ben read everything, in one list, in order; a fresh device of either reads the same.
 * - Dee, whose invite gives her a role that may read the history, joins later and reads every
 *   segment. Cy's search and unread count are of what he reads.
 * - An edit of a message from before the cut stays with that message (Cy cannot apply it); an edit,
 *   a reaction or a pin of a message after it reaches Cy.
 * - Ben, banned after welcoming Cy, keeps the welcome at Cy's as at Ada's: the ban's cut-off names
 *   heads of the older segment Cy never holds, and is found from the part he holds.
 * - Whatever order a fresh device of Ada's receives the entries in, it reads the same.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Charter, EVERYONE, type Space } from '../../src/lib/index.js';
import { joinFrom } from '../support/joining.js';
import {
	deliver,
	freshDevice,
	inEveryDeliveryOrder,
	personas,
	picture,
	shutdown,
	syncAll,
	userOf,
	type Persona
} from '../support/personas.js';

let cast: Persona[] = [];
afterEach(async () => {
	await shutdown(cast);
	cast = [];
});

const BEFORE = ['Ada: chapter nine has the twist', 'Ben: no spoilers please'];

/** Ada (phrase kept) and Ben chat in #general, whose history is hidden; Cy is added and synced. */
async function setup() {
	const adaClient = await Charter.open({ inMemory: true, deviceName: 'ada' });
	const { phrase } = await adaClient.createIdentity();
	const ada: Persona = { name: 'ada', client: adaClient };
	const { ben, cy, dee } = await personas('ben', 'cy', 'dee');
	cast.push(ada, ben, cy, dee);
	const space = await ada.client.createSpace({ name: 'Book club' });
	await space.addMember(await ben.client.memberCard());
	const general = space.channels[0]!;
	await space.setChannelPermissions(
		general.id,
		{ role: EVERYONE },
		{ deny: ['READ_MESSAGE_HISTORY'] }
	);
	await syncAll([ada, ben], space.id);
	const on = (p: Persona): Space => p.client.space(space.id)!;
	const channelOf = (p: Persona) => on(p).channels[0]!;
	const texts = (p: Persona) => channelOf(p).messages.map((m) => m.text);
	await channelOf(ada).send(BEFORE[0]!);
	await syncAll([ada, ben], space.id);
	await channelOf(ben).send(BEFORE[1]!);
	await syncAll([ada, ben], space.id);
	await space.addMember(await cy.client.memberCard());
	await syncAll([ada, ben, cy], space.id);
	return { ada, ben, cy, dee, space, general, phrase, on, channelOf, texts };
}

describe('history segments: a newcomer without READ_MESSAGE_HISTORY reads what is said after they join', () => {
	it('✓ Cy reads Ben’s welcome and his own reply, nothing from before; Ada and Ben read it all in order; fresh devices the same', async () => {
		const { ada, ben, cy, space, phrase, on, channelOf, texts } = await setup();
		await channelOf(ben).send('Ben: welcome, Cy!');
		await syncAll([ada, ben, cy], space.id);
		await channelOf(cy).send('Cy: thanks, hello all');
		await syncAll([ada, ben, cy], space.id);
		await channelOf(ada).send('Ada: glad you are here');
		await syncAll([ada, ben, cy], space.id);
		const after = ['Ben: welcome, Cy!', 'Cy: thanks, hello all', 'Ada: glad you are here'];
		// ✓ Cy reads everything said after his join, and nothing before it
		expect(texts(cy)).toEqual(after);
		// ✓ Ada and Ben read the whole conversation, one list, in order
		expect(texts(ada)).toEqual([...BEFORE, ...after]);
		expect(texts(ben)).toEqual([...BEFORE, ...after]);
		// ✓ the hidden entries are not refusals: nothing of #general was dropped at Cy's device
		const stats = channelOf(cy).stats;
		expect(stats.rejected).toBe(0);
		expect(stats.dropped).toEqual({});
		expect(stats.pending).toBeGreaterThan(0); // Ada's and Ben's older entries: no key, hidden
		// ✓ Cy's unread count is of what he reads: Ada's message after his reply, nothing hidden
		const unread = cy.client.readState.channel(on(cy), channelOf(cy));
		expect(unread.unread).toBe(1);
		expect(unread.firstUnread).toBe(channelOf(cy).messages.at(-1)!.id);
		// ✓ Cy's search finds what he reads and nothing from before
		expect(
			on(cy)
				.search('welcome')
				.results.map((r) => r.snippet)
		).toHaveLength(1);
		expect(on(cy).search('twist').results).toEqual([]);
		expect(on(ada).search('twist').results).toHaveLength(1);
		// ✓ a fresh device of Ada's, given every entry, reads the same as Ada
		const reader = await freshDevice(phrase, 'ada-2');
		cast.push(reader);
		await deliver(ada, reader, space.id);
		expect(picture(on(reader))).toEqual(picture(on(ada)));
		expect(channelOf(reader).messages.map((m) => m.text)).toEqual([...BEFORE, ...after]);
		// ✓ and a fresh device writes into the segment Cy reads
		await channelOf(reader).send('Ada: from my tablet');
		await deliver(reader, cy, space.id);
		expect(texts(cy)).toEqual([...after, 'Ada: from my tablet']);
	});

	it('✓ Dee, allowed the history by her role, joins after the cut and reads every segment; Cy still reads only his', async () => {
		const { ada, ben, cy, dee, space, general, on, channelOf, texts } = await setup();
		await channelOf(ben).send('Ben: welcome, Cy!');
		await syncAll([ada, ben, cy], space.id);
		const regulars = await space.createRole({ name: 'regulars' });
		await space.setChannelPermissions(
			general.id,
			{ role: regulars.id },
			{ allow: ['READ_MESSAGE_HISTORY'] }
		);
		// (added with her role in one go: the addition and the role are concurrent to no one)
		// Dee joins with an invite that gives her @regulars: she comes in with the history
		const { link } = await space.createInvite({ roles: [regulars.id] });
		expect(await joinFrom(dee, ada, space, link)).toBe('joined');
		await syncAll([ada, ben, cy, dee], space.id);
		await channelOf(dee).send('Dee: hi, I read the backlog');
		await syncAll([ada, ben, cy, dee], space.id);
		// ✓ Dee reads both segments, in one list
		expect(texts(dee)).toEqual([...BEFORE, 'Ben: welcome, Cy!', 'Dee: hi, I read the backlog']);
		// ✓ Cy reads what Dee wrote, in the segment he holds
		expect(texts(cy)).toEqual(['Ben: welcome, Cy!', 'Dee: hi, I read the backlog']);
		expect(texts(ada)).toEqual(texts(dee));
		expect(on(dee).can('READ_MESSAGE_HISTORY', general.id)).toBe(true);
	});

	it('✓ an edit of a message from before the cut stays where it was said; an edit, a reaction and a pin of one after it reach Cy', async () => {
		const { ada, ben, cy, space, channelOf, texts } = await setup();
		const welcome = await channelOf(ben).send('Ben: welcome, Cy!');
		await syncAll([ada, ben, cy], space.id);
		const old = channelOf(ada).messages.find((m) => m.text === BEFORE[0])!;
		await channelOf(ada).edit(old.id, 'Ada: chapter nine (no spoilers)');
		await channelOf(ben).edit(welcome.id, 'Ben: welcome, Cy! 📚');
		await channelOf(ada).react(welcome.id, '👋');
		await channelOf(ada).pin(welcome.id);
		await syncAll([ada, ben, cy], space.id);
		// ✓ Ada and Ben see both edits
		expect(texts(ben)).toEqual([
			'Ada: chapter nine (no spoilers)',
			BEFORE[1],
			'Ben: welcome, Cy! 📚'
		]);
		// ✓ Cy sees the edit, the reaction and the pin of the welcome, and nothing of the older message
		expect(texts(cy)).toEqual(['Ben: welcome, Cy! 📚']);
		const seen = channelOf(cy).messages[0]!;
		expect(seen.reactions?.map((r) => r.emoji)).toEqual(['👋']);
		expect(channelOf(cy).pins.map((p) => p.message.id)).toEqual([welcome.id]);
		expect(channelOf(cy).stats.rejected).toBe(0);
	});

	it('✓ Ben, banned after his welcome, keeps the welcome at Cy’s too (inside the ban’s cut-off); what he writes after the ban is shown nowhere', async () => {
		const { ada, ben, cy, space, on, channelOf, texts } = await setup();
		await channelOf(ben).send('Ben: welcome, Cy!');
		await deliver(ben, ada, space.id); // Ada reads the welcome; Cy has not yet
		await space.ban(userOf(ben));
		// Ben, not having heard of the ban, writes again
		await channelOf(ben).send('Ben: spoiler: the butler');
		await syncAll([ada, ben, cy], space.id);
		// ✓ the welcome is inside the ban's cut-off, which names heads Cy never holds (the older
		// segment): found inside from what he holds, it is shown to him as to Ada
		expect(texts(ada)).toEqual([...BEFORE, 'Ben: welcome, Cy!']);
		expect(texts(cy)).toEqual(['Ben: welcome, Cy!']);
		expect(on(cy).bans.map((b) => b.user)).toEqual([userOf(ben)]);
		expect(channelOf(cy).stats.rejected).toBe(0);
	});

	it('✓ a fresh device of Ada’s reads the same in every delivery order, the cut included', async () => {
		const { ada, ben, cy, space, phrase, channelOf, texts } = await setup();
		await channelOf(ben).send('Ben: welcome, Cy!');
		await syncAll([ada, ben, cy], space.id);
		await channelOf(cy).send('Cy: hello');
		await syncAll([ada, ben, cy], space.id);
		const expected = texts(ada);
		expect(expected).toEqual([...BEFORE, 'Ben: welcome, Cy!', 'Cy: hello']);
		await inEveryDeliveryOrder([ada, ben, cy], phrase, space.id, (general) => {
			expect(general.messages.map((m) => m.text)).toEqual(expected);
		});
	});
});
