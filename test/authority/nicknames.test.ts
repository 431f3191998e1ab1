/**
 * Story: in Ada's reading circle a nickname belongs to one member at a time.
 * - Ben is "Sam"; Cy cannot become "Sam" — not through the app, and not with a change he writes
 *   himself past the app: every peer refuses it.
 * - "sam", " SAM ", and "Zoë" typed with a combining diaeresis are the same nicknames.
 * - Ada swaps Ben's and Cy's nicknames in one change; giving both one nickname is refused.
 * - Ben and Cy pick "Sam" at the same time while offline: neither holds it, on every peer, in every
 *   delivery order, until one of them moves off it (picks another, or is cleared by the owner).
 * - A nickname given up — changed, or its member gone — can be taken again.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as A from '@automerge/automerge';
import { Charter, type Space } from '../../src/lib/index.js';
import { forge } from '../support/hostile.js';
import {
	deliver,
	entriesOf,
	freshDevice,
	orderBy,
	personas,
	picture,
	shutdown,
	syncAll,
	userOf,
	type Persona
} from '../support/personas.js';

type Doc = { members: Record<string, { nickname?: unknown }> };

/** A space of Ada's with Ben and Cy, everyone synced. */
async function circle() {
	const cast = await personas('ada', 'ben', 'cy');
	const people = Object.values(cast);
	const space = await cast.ada.client.createSpace({ name: 'Reading circle' });
	for (const p of people.slice(1)) await space.addMember(await p.client.memberCard());
	await syncAll(people, space.id);
	const on = (p: Persona) => p.client.space(space.id)!;
	const nicknameOf = (seen: Space, p: Persona) =>
		seen.members.find((m) => m.user === userOf(p))?.nickname;
	return { cast, people, space, on, nicknameOf };
}

describe('nicknames are unique in a space', () => {
	it("✓ a member cannot take another member's nickname: refused at the API before anything is written, and a forged change is refused by every peer", async () => {
		const { cast, people, space, on, nicknameOf } = await circle();
		try {
			await on(cast.ben).setNickname('Sam');
			await syncAll(people, space.id);
			const before = (await entriesOf(cast.cy.client, space.id, space.idBytes)).length;
			// ✓ Cy's app refuses, naming the reason, and writes nothing
			await expect(on(cast.cy).setNickname('Sam')).rejects.toMatchObject({
				code: 'invalid-argument',
				message: expect.stringMatching(/taken/)
			});
			// ✓ so does the owner's, giving it to Cy (MANAGE_NICKNAMES does not override it)
			await expect(space.setNickname('Sam', userOf(cast.cy))).rejects.toMatchObject({
				code: 'invalid-argument'
			});
			expect((await entriesOf(cast.cy.client, space.id, space.idBytes)).length).toBe(before);
			// Cy writes it himself, past the app, under his own genuine keys
			await forge<Doc>(cast.cy.client, on(cast.cy), {}, (d) => {
				d.members[userOf(cast.cy)]!.nickname = new A.ImmutableString('Sam');
			});
			// ... and as a collaborative text, whose edits no rule could read
			await forge<Doc>(cast.cy.client, on(cast.cy), {}, (d) => {
				d.members[userOf(cast.cy)]!.nickname = 'Sam';
			});
			await syncAll(people, space.id);
			for (const p of people) {
				const seen = on(p);
				const reasons = seen.rejections.map((r) => r.reason).join(' | ');
				// ✓ every peer refuses both, and Ben is still the only Sam
				expect(reasons).toContain('that nickname is taken in this space');
				expect(reasons).toContain('a nickname is a plain string');
				expect(nicknameOf(seen, cast.ben)).toBe('Sam');
				expect(nicknameOf(seen, cast.cy)).toBeUndefined();
			}
		} finally {
			await shutdown(people);
		}
	});

	it('✓ case, surrounding spaces and Unicode normalisation variants are the same nickname', async () => {
		const { cast, people, space, on, nicknameOf } = await circle();
		try {
			await on(cast.ben).setNickname('Zoë'); // precomposed ë (U+00EB)
			await syncAll(people, space.id);
			for (const variant of ['zoë', '  ZOË ', 'Zoe\u0308', 'ZOE\u0308'])
				await expect(on(cast.cy).setNickname(variant)).rejects.toMatchObject({
					code: 'invalid-argument'
				});
			// ✓ forged: the decomposed, upper-case form is refused by every peer too
			await forge<Doc>(cast.cy.client, on(cast.cy), {}, (d) => {
				d.members[userOf(cast.cy)]!.nickname = new A.ImmutableString('ZOE\u0308');
			});
			await syncAll(people, space.id);
			for (const p of people) {
				const seen = on(p);
				expect(seen.rejections.map((r) => r.reason)).toContain(
					'that nickname is taken in this space'
				);
				expect(nicknameOf(seen, cast.cy)).toBeUndefined();
			}
			// ✓ a different nickname is fine: "Zoe" without the diaeresis is not "Zoë"
			await on(cast.cy).setNickname('Zoe');
			await syncAll(people, space.id);
			for (const p of people) expect(nicknameOf(on(p), cast.cy)).toBe('Zoe');
		} finally {
			await shutdown(people);
		}
	});

	it('✓ in one entry two members may swap nicknames, but not both take the same one', async () => {
		const { cast, people, space, on, nicknameOf } = await circle();
		try {
			await on(cast.ben).setNickname('Sam');
			await on(cast.cy).setNickname('Kit');
			await syncAll(people, space.id);
			// Ada (the owner, MANAGE_NICKNAMES) writes each entry herself, past the app
			await forge<Doc>(cast.ada.client, space, {}, (d) => {
				d.members[userOf(cast.ben)]!.nickname = new A.ImmutableString('KIT');
				d.members[userOf(cast.cy)]!.nickname = new A.ImmutableString('sam');
			});
			await syncAll(people, space.id);
			// ✓ the swap stands everywhere
			for (const p of people) {
				expect(nicknameOf(on(p), cast.ben)).toBe('KIT');
				expect(nicknameOf(on(p), cast.cy)).toBe('sam');
				expect(on(p).rejections).toEqual([]);
			}
			await forge<Doc>(cast.ada.client, space, {}, (d) => {
				d.members[userOf(cast.ben)]!.nickname = new A.ImmutableString('Twin');
				d.members[userOf(cast.cy)]!.nickname = new A.ImmutableString('twin');
			});
			await syncAll(people, space.id);
			// ✓ giving two members one nickname at once is refused everywhere; the swap stays
			for (const p of people) {
				expect(on(p).rejections.map((r) => r.reason)).toEqual([
					'that nickname is taken in this space'
				]);
				expect(nicknameOf(on(p), cast.ben)).toBe('KIT');
				expect(nicknameOf(on(p), cast.cy)).toBe('sam');
			}
		} finally {
			await shutdown(people);
		}
	});

	it('✓ a nickname given up — changed, or its member gone — can be taken again', async () => {
		const { cast, people, space, on, nicknameOf } = await circle();
		try {
			await on(cast.ben).setNickname('Sam');
			await syncAll(people, space.id);
			await on(cast.ben).setNickname('Samuel');
			await syncAll(people, space.id);
			// ✓ Ben moved on: Cy takes "Sam"
			await on(cast.cy).setNickname('sam');
			await syncAll(people, space.id);
			for (const p of people) expect(nicknameOf(on(p), cast.cy)).toBe('sam');
			// ✓ Cy leaves: "Sam" is free again, and Ben takes it back
			await on(cast.cy).leave();
			await syncAll(people, space.id);
			await on(cast.ben).setNickname('Sam');
			await syncAll([cast.ada, cast.ben], space.id);
			for (const p of [cast.ada, cast.ben]) {
				expect(nicknameOf(on(p), cast.ben)).toBe('Sam');
				expect(on(p).rejections).toEqual([]);
			}
		} finally {
			await shutdown(people);
		}
	});
});

describe('nicknames picked concurrently', () => {
	it('✓ property: two members who pick the same nickname offline end with neither holding it, on every peer in every delivery order — until one moves off it', async () => {
		const adaClient = await Charter.open({ inMemory: true, deviceName: 'ada' });
		const { phrase } = await adaClient.createIdentity();
		const ada: Persona = { name: 'ada', client: adaClient };
		const cast = { ada, ...(await personas('ben', 'cy')) };
		const people = Object.values(cast);
		const fresh: Persona[] = [];
		try {
			const space = await ada.client.createSpace({ name: 'Reading circle' });
			for (const p of [cast.ben, cast.cy]) await space.addMember(await p.client.memberCard());
			await syncAll(people, space.id);
			const on = (p: Persona) => p.client.space(space.id)!;
			const nicknames = (seen: Space) =>
				[cast.ben, cast.cy].map((p) => seen.members.find((m) => m.user === userOf(p))?.nickname);
			const stale = on(cast.ben).document;
			// offline from each other, Ben and Cy both pick "Sam" (Cy types it lower-case)
			await on(cast.ben).setNickname('Sam');
			await on(cast.cy).setNickname('sam');
			await syncAll(people, space.id);
			const expected = picture(space);
			for (const p of people) {
				const seen = on(p);
				// ✓ both changes are valid, neither holds the nickname, and everyone agrees
				expect(seen.rejections).toEqual([]);
				expect(nicknames(seen)).toEqual([undefined, undefined]);
				expect(picture(seen)).toEqual(expected);
			}
			// ✓ while contested, nobody else takes it either
			await expect(space.setNickname('SAM')).rejects.toMatchObject({ code: 'invalid-argument' });

			await fc.assert(
				fc.asyncProperty(
					fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
					fc.integer({ min: 1, max: 3 }),
					fc.boolean(),
					async (keys, batch, cyFirst) => {
						// a fresh device of Ada's receives everyone's entries in a random order
						const reader = await freshDevice(phrase);
						fresh.push(reader);
						const shuffle = orderBy(keys);
						const from = cyFirst ? [cast.cy, cast.ben] : [cast.ben, cast.cy];
						for (const p of from) await deliver(p, reader, space.id, { shuffle, batch });
						// ✓ the same outcome as every peer's, whatever the order
						expect(picture(reader.client.space(space.id)!)).toEqual(expected);
						await reader.client.close();
						fresh.pop();
					}
				),
				{ numRuns: 6 }
			);

			// ✓ Ben picks another: Cy now holds "sam" everywhere
			await on(cast.ben).setNickname('Ben');
			await syncAll(people, space.id);
			for (const p of people) expect(nicknames(on(p))).toEqual(['Ben', 'sam']);
			// ✓ contested again (concurrently, Ben takes "SAM" back on a stale view); the owner, above
			// both, clears Cy's, and Ben holds it
			const now = () => ({ time: Date.now() }); // a later clock than his "Ben", as his app stamps
			await forge<Doc>(cast.ben.client, on(cast.ben), { from: stale, craft: now }, (d) => {
				d.members[userOf(cast.ben)]!.nickname = new A.ImmutableString('SAM');
			});
			await syncAll(people, space.id);
			for (const p of people) expect(nicknames(on(p))).toEqual([undefined, undefined]);
			await space.setNickname('', userOf(cast.cy));
			await syncAll(people, space.id);
			for (const p of people) {
				expect(nicknames(on(p))).toEqual(['SAM', undefined]);
				expect(on(p).rejections).toEqual([]);
			}
		} finally {
			await shutdown([...people, ...fresh]);
		}
	});
});
