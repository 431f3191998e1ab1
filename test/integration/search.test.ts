/**
 * Story: in Ada's book club, Ben looks for old messages.
 * - He finds them by their words (any case, accents or not, a word he has only begun), and narrows
 *   with `from:`, `in:`, `has:link` and dates; a name or channel that is not there gives no results
 *   and says why.
 * - What he finds follows the channel: an edited message is found by its new words only, a deleted
 *   one is not found, a new one is found — and each new message costs the index one entry, not a
 *   re-index of its channel.
 * - He never finds what he cannot read: a private channel, or one taken out of his sight.
 * - Ada's laptop, a second device of hers, builds its own index from what it received.
 * - The index stays on his device: through a real sync server, no captured frame, no byte on the
 *   server's disk and no envelope in his wire repo holds a word of it, and building it adds no
 *   document to the wire repo.
 */
import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from '@automerge/automerge';
import { Charter, EVERYONE, type Space } from '../../src/lib/index.js';
import { SNIPPET_LENGTH, SpaceSearch } from '../../src/lib/client/search.js';
import { base64url } from '../../src/lib/util/bytes.js';
import { bytesWrittenBy } from '../../src/lib/sync/envelope.js';
import {
	deliver,
	freshDevice,
	personas,
	shutdown,
	syncAll,
	userOf,
	type Persona
} from '../support/personas.js';
import { startSyncServerProcess } from '../support/sync-server-process.js';
import { recordFrames } from '../support/frame-recorder.js';
import { eventually } from '../support/wait.js';
import { filesUnder } from '../support/stored.js';

/** Ada's book club with Ben and Cy: #general, and #staff for Ada alone. */
async function club() {
	const cast = await personas('ada', 'ben', 'cy');
	const people = Object.values(cast);
	const space = await cast.ada.client.createSpace({ name: 'Book club' });
	for (const p of people.slice(1)) await space.addMember(await p.client.memberCard());
	const staff = await space.createChannel({ name: 'staff' });
	await space.setChannelPermissions(staff.id, { role: EVERYONE }, { deny: ['VIEW_CHANNEL'] });
	await space.setNickname('Ada');
	await syncAll(people, space.id);
	await cast.ben.client.space(space.id)!.setNickname('Benjamin');
	await cast.cy.client.space(space.id)!.setNickname('Cy');
	await syncAll(people, space.id);
	const on = (p: Persona) => p.client.space(space.id)!;
	const general = (p: Persona) => on(p).channels.find((c) => c.name === 'general')!;
	/** What a search shows: a short message's snippet is all of it. */
	const texts = (seen: Space, query: string) => seen.search(query).results.map((r) => r.snippet);
	return { cast, people, space, staff, on, general, texts };
}

describe('search', () => {
	it('✓ finds messages by their words: any case, with or without accents, the last word begun; results name channel, message, author and time', async () => {
		const { cast, people, space, on, general, texts } = await club();
		try {
			const sent = await general(cast.ada).send(
				'Next week we read Le Petit Prince at the Café Lumière'
			);
			await general(cast.cy).send('I will bring the croissants');
			await syncAll(people, space.id);
			const ben = on(cast.ben);
			// ✓ words in any case, accents or not
			expect(texts(ben, 'cafe lumiere')).toEqual([sent.text]);
			expect(texts(ben, 'PETIT prince')).toEqual([sent.text]);
			// ✓ the last word may be typed only in part (search as you type)
			expect(texts(ben, 'crois')).toEqual(['I will bring the croissants']);
			// ✓ one typo in a longer word is forgiven
			expect(texts(ben, 'croisants')).toEqual(['I will bring the croissants']);
			// ✓ every word must match
			expect(texts(ben, 'croissants prince')).toEqual([]);
			// ✓ a result says where and what it is
			const [hit] = ben.search('prince').results;
			expect(hit).toMatchObject({
				spaceId: space.id,
				channelId: general(cast.ben).id,
				messageId: sent.id,
				author: userOf(cast.ada),
				createdAt: sent.createdAt
			});
			expect(hit!.snippet).toContain('Petit Prince');
			const marked = hit!.highlights.map((h) => hit!.snippet.slice(h.start, h.end));
			expect(marked).toEqual(['Prince']);
			// ✓ a long message shows the part around its match, the word marked where it is
			const long = `${'the story goes on and on. '.repeat(60)}Then the fox appears. ${'More pages follow here. '.repeat(60)}`;
			await general(cast.ada).send(long);
			await syncAll(people, space.id);
			const [fox] = ben.search('fox').results;
			expect(fox!.snippet.length).toBeLessThanOrEqual(SNIPPET_LENGTH + 2);
			expect(fox!.snippet).toMatch(/^….*Then the fox appears.*…$/);
			expect(fox!.highlights.map((h) => fox!.snippet.slice(h.start, h.end))).toEqual(['fox']);
			// ✓ the client-wide search finds it too
			expect(cast.ben.client.search('lumiere').results.map((r) => r.messageId)).toEqual([sent.id]);
		} finally {
			await shutdown(people);
		}
	});

	it('✓ from:, in:, has:link and dates narrow the search; an unknown name or channel gives no results and the reason, never an exception', async () => {
		const { cast, people, space, on, general, texts } = await club();
		try {
			const books = await on(cast.ada).createChannel({ name: 'books' });
			await syncAll(people, space.id);
			await general(cast.ada).send('the meeting moves to Thursday');
			await general(cast.cy).send('Thursday works, see https://example.org/map for the place');
			await on(cast.cy).channel(books.id)!.send('a Thursday book: The Left Hand of Darkness');
			await syncAll(people, space.id);
			const ben = on(cast.ben);
			expect(ben.search('thursday').total).toBe(3);
			// ✓ from: by nickname (any case, with @), display name's start or user id
			expect(texts(ben, 'thursday from:ada')).toEqual(['the meeting moves to Thursday']);
			expect(ben.search('thursday from:@CY').total).toBe(2);
			expect(ben.search(`thursday from:${userOf(cast.cy)}`).total).toBe(2);
			// ✓ in: by channel name, with or without #
			expect(ben.search('thursday in:#books').results.map((r) => r.channelId)).toEqual([books.id]);
			// ✓ has:link
			expect(texts(ben, 'thursday has:link')).toEqual([
				'Thursday works, see https://example.org/map for the place'
			]);
			// ✓ operators alone list the newest first
			const cys = ben.search('from:cy');
			expect(cys.results.map((r) => r.channelId)).toEqual([books.id, general(cast.ben).id]);
			// ✓ dates, in this device's time zone
			const today = new Date();
			const day = (plus: number) => {
				const d = new Date(today.getFullYear(), today.getMonth(), today.getDate() + plus);
				return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
			};
			expect(ben.search(`thursday during:${day(0)}`).total).toBe(3);
			expect(ben.search(`thursday after:${day(-1)}`).total).toBe(3);
			expect(ben.search(`thursday before:${day(0)}`).total).toBe(0);
			expect(ben.search(`thursday before:${day(1)} after:${day(-1)}`).total).toBe(3);
			// ✓ bad input: no results and the reason
			expect(ben.search('thursday from:zelda')).toEqual({
				results: [],
				total: 0,
				problems: [
					{ operator: 'from', value: 'zelda', reason: 'no member called “zelda” in this space' }
				]
			});
			expect(ben.search('in:nowhere').problems[0]).toMatchObject({
				operator: 'in',
				value: 'nowhere'
			});
			expect(ben.search('before:2026-02-30').problems[0]).toMatchObject({
				operator: 'before',
				reason: 'before: takes a date as YYYY-MM-DD'
			});
			expect(ben.search('after:yesterday').problems[0]?.operator).toBe('after');
			expect(ben.search('has:image').problems[0]?.reason).toBe('has: takes “link”');
			expect(ben.search('from:').problems[0]?.reason).toBe('from: needs a value');
			expect(ben.search(`after:${day(0)} before:${day(0)}`).problems[0]?.operator).toBe('after');
			expect(ben.search('x'.repeat(501)).problems[0]?.operator).toBe('query');
			// ✓ a word that merely looks like an operator is a word
			expect(ben.search('https://example.org/map').total).toBe(1);
			// ✓ an empty query finds nothing, and says nothing is wrong
			expect(ben.search('   ')).toEqual({ results: [], total: 0, problems: [] });
			// ✓ across spaces, a name no space knows is reported
			expect(cast.ben.client.search('from:zelda').problems[0]?.operator).toBe('from');
			// ✓ misuse of the API is a typed error
			for (const bad of [
				() => ben.search(42 as unknown as string),
				() => ben.search('x', { limit: 0 }),
				() => ben.search('x', { limit: 1.5 })
			])
				expect(bad).toThrow(expect.objectContaining({ code: 'invalid-argument' }));
		} finally {
			await shutdown(people);
		}
	});

	it('✓ follows the channel: an edited message is found by its new words only, a deleted one not at all, and a new message costs the index one entry', async () => {
		const { cast, people, space, on, general } = await club();
		try {
			for (let i = 0; i < 20; i++) await general(cast.ada).send(`chapter ${i} notes`);
			const m = await general(cast.ada).send('bring pancakes on Sunday');
			await syncAll(people, space.id);
			const ben = on(cast.ben);
			const index = new SpaceSearch(ben);
			try {
				expect(index.search('pancakes').results.map((r) => r.messageId)).toEqual([m.id]);
				expect(index.size).toBe(21);
				const indexed = index.stats.indexed;
				// ✓ a new message: one entry more, not the channel again
				await general(cast.cy).send('Sunday is fine');
				await syncAll(people, space.id);
				expect(index.search('fine').total).toBe(1);
				expect(index.stats.indexed - indexed).toBe(1);
				// ✓ edited: found by the new text only (one entry replaced)
				await general(cast.ada).edit(m.id, 'bring waffles on Sunday');
				await syncAll(people, space.id);
				expect(general(cast.ben).messages.find((x) => x.id === m.id)?.text).toBe(
					'bring waffles on Sunday'
				);
				expect(index.search('pancakes').total).toBe(0);
				expect(index.search('waffles').results.map((r) => r.messageId)).toEqual([m.id]);
				expect(index.stats.indexed - indexed).toBe(2);
				// ✓ deleted: not found, and out of the index
				await general(cast.ada).delete(m.id);
				await syncAll(people, space.id);
				expect(general(cast.ben).messages.some((x) => x.id === m.id)).toBe(false);
				expect(index.search('waffles').total).toBe(0);
				expect(index.search('sunday').total).toBe(1);
				expect(index.size).toBe(21);
				// ✓ the same through space.search, built fresh from what Ben's device shows now
				expect(ben.search('waffles').total).toBe(0);
				expect(ben.search('pancakes').total).toBe(0);
				expect(ben.search('notes').total).toBe(20);
			} finally {
				index.close();
			}
		} finally {
			await shutdown(people);
		}
	});

	it('✓ never finds what the user cannot read: a private channel, or a channel taken out of their sight', async () => {
		const { cast, people, space, staff, on, general } = await club();
		try {
			await on(cast.ada).channel(staff.id)!.send('the lighthouse budget is secret');
			const open = await on(cast.ada).createChannel({ name: 'planning' });
			await syncAll(people, space.id);
			await on(cast.ada).channel(open.id)!.send('lighthouse trip planning');
			await general(cast.ada).send('hello everyone');
			await syncAll(people, space.id);
			const ben = on(cast.ben);
			// ✓ Ada finds both; Ben only the one in a channel he can see
			expect(on(cast.ada).search('lighthouse').total).toBe(2);
			expect(ben.search('lighthouse').results.map((r) => r.channelId)).toEqual([open.id]);
			expect(ben.search('in:staff').problems[0]?.operator).toBe('in');
			expect(ben.search('budget').total).toBe(0);
			// Ada takes #planning out of @everyone's sight: what Ben read there is not searched any more
			await space.setChannelPermissions(open.id, { role: EVERYONE }, { deny: ['VIEW_CHANNEL'] });
			await syncAll(people, space.id);
			await eventually(() => !ben.channels.some((c) => c.id === open.id), 'Ben to lose #planning');
			expect(ben.search('lighthouse').total).toBe(0);
			expect(ben.search('hello').total).toBe(1);
			expect(cast.ben.client.search('lighthouse').total).toBe(0);
			expect(on(cast.ada).search('lighthouse').total).toBe(2);
		} finally {
			await shutdown(people);
		}
	});
});

describe('search on a linked device', () => {
	it("✓ the user's other device builds its own index from what it received: it finds the same messages and follows an edit made on the first", async () => {
		const desk = await Charter.open({ inMemory: true, deviceName: 'desk' });
		const { phrase } = await desk.createIdentity();
		const ada: Persona = { name: 'ada', client: desk };
		const laptop = await freshDevice(phrase, 'laptop');
		try {
			const space = await desk.createSpace({ name: 'Notebook' });
			const note = await space.channels[0]!.send('buy saffron for the risotto');
			await deliver(ada, laptop, space.id);
			const there = laptop.client.space(space.id)!;
			// ✓ found on the laptop, by its own index (nothing of the desk's crossed over: it has none)
			expect(there.search('saffron').results.map((r) => r.messageId)).toEqual([note.id]);
			// ✓ an edit on the desk reaches the laptop's index
			await space.channels[0]!.edit(note.id, 'buy arborio for the risotto');
			await deliver(ada, laptop, space.id);
			expect(there.search('saffron').total).toBe(0);
			expect(there.search('arborio').results.map((r) => r.messageId)).toEqual([note.id]);
			// ✓ and the desk, which never searched before, finds it too
			expect(space.search('arborio').total).toBe(1);
		} finally {
			await shutdown([ada, laptop]);
		}
	});
});

/** The needle as raw bytes and as it would read inside base64url text, at each alignment. */
function asFound(needle: Buffer): Buffer[] {
	const forms = [needle];
	for (let skip = 0; skip < 3; skip++) {
		const text = base64url.encode(needle.subarray(skip));
		const stable = text.slice(0, Math.floor((needle.length - skip) / 3) * 4);
		if (stable.length >= 8) forms.push(Buffer.from(stable));
	}
	return forms;
}

describe('the search index stays on the device', () => {
	it('✓ through a sync server: no frame, no byte on the server, no envelope entry in the wire repo holds its words, and building it adds no wire document', async () => {
		const WORD = 'quixotically';
		const server = await startSyncServerProcess();
		const recorder = await recordFrames(server.wsUrl);
		const adaDir = await mkdtemp(join(tmpdir(), 'charter-search-ada-'));
		const benDir = await mkdtemp(join(tmpdir(), 'charter-search-ben-'));
		const ada = await Charter.open({ dataDir: adaDir, syncServers: [recorder.url] });
		const ben = await Charter.open({ dataDir: benDir, syncServers: [recorder.url] });
		try {
			await ada.createIdentity();
			await ben.createIdentity();
			const space = await ada.createSpace({ name: 'Book club' });
			await space.addMember(await ben.memberCard());
			const sent = await space.channels[0]!.send(`Don Quixote, read ${WORD}`, {
				awaitStored: true,
				timeoutMs: 20_000
			});
			const benSpace = await ben.openSpace(space.id);
			await eventually(() => benSpace.channels[0]?.messages.length === 1, 'Ben to read Ada');
			const wireBefore = Object.keys(ben.wire.repo.handles).sort();
			// ✓ Ben's device finds it: the index holds the word
			expect(benSpace.search(WORD.slice(0, 8)).results.map((r) => r.messageId)).toEqual([sent.id]);
			expect(ben.search(WORD).total).toBe(1);
			// a second message while the index follows the channel: it goes out, and is found
			const second = await benSpace.channels[0]!.send(`${WORD} indeed`, {
				awaitStored: true,
				timeoutMs: 20_000
			});
			await eventually(() => benSpace.search('indeed').total === 1, 'the index to follow');
			expect(benSpace.search('indeed').results[0]?.messageId).toBe(second.id);
			// ✓ building and using the index added no document to the wire repo
			expect(Object.keys(ben.wire.repo.handles).sort()).toEqual(wireBefore);
			// ✓ every entry of every envelope document Ben's wire repo holds: sealed bytes only
			const entries = Object.values(ben.wire.repo.handles)
				.filter((h) => h.isReady())
				.flatMap((h) => bytesWrittenBy(A.getAllChanges(h.doc() as A.Doc<unknown>)))
				.map((bytes) => Buffer.from(bytes));
			expect(entries.length).toBeGreaterThan(3);
			await ada.close();
			await ben.close();
			await recorder.close();
			await server.stop();
			const serverBytes = Buffer.concat(
				await Promise.all((await filesUnder(server.dataDir)).map((f) => readFile(f)))
			);
			const frames = Buffer.concat(recorder.frames);
			// the captures really hold sealed entries, so the absence checks below can fail
			const sealed = Buffer.from([...Buffer.from('CHE'), 1]);
			expect(serverBytes.includes(sealed), 'sealed entries on the server').toBe(true);
			expect(frames.includes(sealed), 'sealed entries in the frames').toBe(true);
			expect(entries.some((e) => e.includes(sealed))).toBe(true);
			for (const form of asFound(Buffer.from(WORD, 'utf8'))) {
				expect(frames.includes(form), 'the word on the wire').toBe(false);
				expect(serverBytes.includes(form), "the word on the server's disk").toBe(false);
				for (const entry of entries)
					expect(entry.includes(form), 'the word in an envelope entry').toBe(false);
			}
		} finally {
			await ada.close().catch(() => undefined);
			await ben.close().catch(() => undefined);
			await recorder.close().catch(() => undefined);
			await server.stop().catch(() => undefined);
		}
	});
});
