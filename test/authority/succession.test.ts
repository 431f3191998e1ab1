/**
 * Story: Ada runs the Studio. Knowing she might lose her keys one day, she names Ben, Cy and Dee as
 * her successors, any two of whom may move the space to one of them. Eve is an administrator but
 * not a successor.
 * - Bad input is a typed error at the API: only the owner names successors, only members, a quorum
 *   from 1 to their number; only a named successor approves, and only a named successor as candidate.
 * - Ada loses every key. Ben alone (k − 1) cannot move the space; Eve, an administrator, cannot —
 *   not through the app, not with an approval she writes herself. Ben and Dee together (k) make Cy
 *   the owner, on every peer: Cy then runs the space, Ada is an ordinary member.
 * - A banned successor's approval does not count, nor an un-named one's, nor one from before a
 *   hand-over (each hand-over starts a new term).
 * - Property: concurrent approvals, a forged one, and two devices of the owner handing the space
 *   over at the same time end in one owner, the same on every peer and in every delivery order.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as A from '@automerge/automerge';
import { Charter, type Space } from '../../src/lib/index.js';
import { forge } from '../support/hostile.js';
import {
	deliver,
	freshDevice,
	orderBy,
	personas,
	picture,
	shutdown,
	syncAll,
	userOf,
	type Persona
} from '../support/personas.js';

type Doc = {
	members: Record<string, { approval?: unknown; successor?: unknown }>;
	quorum?: number;
};
const approval = (term: number, candidate: string) => ({
	term,
	candidate: new A.ImmutableString(candidate)
});

/** Ada's Studio: Ben, Cy and Dee are members, Eve an administrator; Cy's phrase is kept. */
async function studio() {
	const cyClient = await Charter.open({ inMemory: true, deviceName: 'cy' });
	const { phrase: cyPhrase } = await cyClient.createIdentity();
	const cast = {
		...(await personas('ada', 'ben', 'dee', 'eve')),
		cy: { name: 'cy', client: cyClient } as Persona
	};
	const people = Object.values(cast);
	const space = await cast.ada.client.createSpace({ name: 'Studio' });
	for (const p of [cast.ben, cast.cy, cast.dee, cast.eve])
		await space.addMember(await p.client.memberCard());
	const admin = await space.createRole({
		name: 'Admin',
		permissions: ['ADMINISTRATOR'],
		position: 5
	});
	await space.assignRole(userOf(cast.eve), admin.id);
	await syncAll(people, space.id);
	const on = (p: Persona) => p.client.space(space.id)!;
	return { cast, people, space, on, cyPhrase };
}

describe('successors named in advance', () => {
	it('✓ only the owner names successors, only members, with a quorum from 1 to their number; only a named successor approves one of them — each refusal a typed error that writes nothing', async () => {
		const { cast, people, space, on } = await studio();
		try {
			const [ben, cy, dee] = [cast.ben, cast.cy, cast.dee].map(userOf) as [never, never, never];
			const outsider = (await personas('zed')).zed;
			await expect(on(cast.eve).setSuccessors([ben, cy], 1)).rejects.toMatchObject({
				code: 'not-authorized'
			});
			for (const [users, quorum] of [
				[[ben, userOf(outsider)], 1],
				[[ben, userOf(cast.ada)], 1],
				[[ben, ben], 1],
				[[ben, cy], 0],
				[[ben, cy], 3],
				[[ben, cy], 1.5],
				[[], 1]
			] as const)
				await expect(space.setSuccessors(users as never, quorum)).rejects.toMatchObject({
					code: 'invalid-argument'
				});
			await outsider.client.close();
			// ✓ before any are named, nobody approves
			await expect(on(cast.ben).approveSuccession(cy)).rejects.toMatchObject({
				code: 'invalid-argument'
			});
			await space.setSuccessors([ben, cy, dee], 2);
			await syncAll(people, space.id);
			for (const p of people)
				expect(on(p).succession).toMatchObject({
					successors: [ben, cy, dee].sort(),
					quorum: 2,
					term: 0,
					approvals: []
				});
			// ✓ an administrator who is not a successor may not approve; nobody approves an outsider
			await expect(on(cast.eve).approveSuccession(cy)).rejects.toMatchObject({
				code: 'not-authorized'
			});
			await expect(on(cast.ben).approveSuccession(userOf(cast.eve))).rejects.toMatchObject({
				code: 'invalid-argument'
			});
			await expect(on(cast.ben).approveSuccession(userOf(cast.ada))).rejects.toMatchObject({
				code: 'invalid-argument'
			});
			expect(on(cast.ben).rejections).toEqual([]);
			// ✓ approving again replaces one's approval; withdrawing removes it
			await on(cast.ben).approveSuccession(cy);
			await on(cast.ben).approveSuccession(dee);
			await syncAll(people, space.id);
			for (const p of people)
				expect(on(p).succession.approvals).toEqual([{ by: ben, candidate: dee }]);
			await on(cast.ben).withdrawApproval();
			await syncAll(people, space.id);
			for (const p of people) expect(on(p).succession.approvals).toEqual([]);
			// ✓ the owner clears them again
			await space.setSuccessors([], 0);
			await syncAll(people, space.id);
			for (const p of people) expect(on(p).succession).toMatchObject({ successors: [], quorum: 0 });
		} finally {
			await shutdown(people);
		}
	});

	it('✓ the owner lost every key: k − 1 successors cannot move the space, an administrator who is not a successor cannot, k successors can — the same owner on every peer', async () => {
		const { cast, people, space, on } = await studio();
		try {
			const [ben, cy, dee, eve] = [cast.ben, cast.cy, cast.dee, cast.eve].map(userOf);
			await space.setSuccessors([ben!, cy!, dee!], 2);
			await syncAll(people, space.id);
			// Ada loses every key: from here on she writes nothing
			const rest = [cast.ben, cast.cy, cast.dee, cast.eve];

			await on(cast.ben).approveSuccession(cy!);
			await syncAll(rest, space.id);
			// ✓ one approval of two: Ada is still the owner everywhere
			for (const p of rest) {
				expect(on(p).owner).toBe(userOf(cast.ada));
				expect(on(p).succession.approvals).toEqual([{ by: ben, candidate: cy }]);
			}
			// Eve, an administrator, writes approvals herself, past the app: for Cy, for herself, and
			// one into Dee's record; and makes herself a successor
			await forge<Doc>(cast.eve.client, on(cast.eve), {}, (d) => {
				d.members[eve!]!.approval = approval(0, cy!);
			});
			await forge<Doc>(cast.eve.client, on(cast.eve), {}, (d) => {
				d.members[dee!]!.approval = approval(0, cy!);
			});
			await forge<Doc>(cast.eve.client, on(cast.eve), {}, (d) => {
				d.members[eve!]!.successor = true;
			});
			await forge<Doc>(cast.eve.client, on(cast.eve), {}, (d) => {
				d.quorum = 1;
			});
			await syncAll(rest, space.id);
			for (const p of rest) {
				const seen = on(p);
				const reasons = seen.rejections.map((r) => r.reason);
				// ✓ every peer refuses each, and Ada is still the owner
				expect(reasons).toEqual(
					expect.arrayContaining([
						'only a named successor approves',
						'only for oneself',
						'owner only'
					])
				);
				expect(reasons).toHaveLength(4);
				expect(seen.owner).toBe(userOf(cast.ada));
			}
			// ✓ the second successor's approval makes Cy the owner, everywhere
			await on(cast.dee).approveSuccession(cy!);
			await syncAll(rest, space.id);
			const expected = picture(on(cast.cy));
			for (const p of rest) {
				const seen = on(p);
				expect(seen.owner).toBe(cy);
				expect(seen.members.find((m) => m.isOwner)?.user).toBe(cy);
				// ✓ the term moved on: the approvals are spent; Cy's client recorded the succession, so
				// nothing later (a successor un-named, an approver banned) undoes it
				expect(seen.succession).toMatchObject({ term: 1, approvals: [], bySuccession: false });
				expect(String(seen.document.owner)).toBe(cy);
				expect(seen.succession.successors).toEqual([ben, dee].sort());
				expect(picture(seen)).toEqual(expected);
			}
			// ✓ Cy runs the space: renames it, names new successors
			await on(cast.cy).rename('Studio, run by Cy');
			await on(cast.cy).setSuccessors([ben!, dee!], 1);
			// Ada comes back (she found a key): she is an ordinary member now
			await syncAll(people, space.id);
			expect(space.owner).toBe(cy);
			expect(space.name).toBe('Studio, run by Cy');
			await expect(space.rename('Mine')).rejects.toMatchObject({ code: 'not-authorized' });
			await expect(space.setSuccessors([ben!], 1)).rejects.toMatchObject({
				code: 'not-authorized'
			});
			for (const p of people) expect(on(p).rejections).toHaveLength(4);
		} finally {
			await shutdown(people);
		}
	});

	it("✓ a banned successor's approval does not count, nor an un-named one's, nor one from before a hand-over", async () => {
		const { cast, people, space, on } = await studio();
		try {
			const [ben, cy, dee] = [cast.ben, cast.cy, cast.dee].map(userOf) as [never, never, never];
			await space.setSuccessors([ben, cy, dee], 2);
			await syncAll(people, space.id);
			await on(cast.ben).approveSuccession(dee);
			await syncAll(people, space.id);
			// Eve, an administrator above Ben, bans him: his approval stops counting
			await on(cast.eve).ban(ben);
			await syncAll(people, space.id);
			const stay = people.filter((p) => p !== cast.ben);
			await on(cast.cy).approveSuccession(dee);
			await syncAll(stay, space.id);
			for (const p of stay) {
				// ✓ one counted approval: Ada is still the owner
				expect(on(p).owner).toBe(userOf(cast.ada));
				expect(on(p).succession.approvals).toEqual([{ by: cy, candidate: dee }]);
				expect(on(p).succession.successors).toEqual([cy, dee].sort());
			}
			// ✓ un-named: Ada names Dee and Ben's replacement Eve; Cy's approval is gone with him
			await space.setSuccessors([dee, userOf(cast.eve)], 2);
			await syncAll(stay, space.id);
			for (const p of stay) expect(on(p).succession.approvals).toEqual([]);
			await on(cast.eve).approveSuccession(dee);
			await syncAll(stay, space.id);
			for (const p of stay) expect(on(p).succession.approvals).toHaveLength(1);
			// ✓ a hand-over (to Cy, no longer a successor) starts a new term — Eve's approval no longer
			// counts — and clears Ada's successors: Cy names his own
			await space.transferOwnership(cy);
			await syncAll(stay, space.id);
			for (const p of stay) {
				expect(on(p).owner).toBe(cy);
				expect(on(p).succession).toMatchObject({
					successors: [],
					quorum: 0,
					term: 1,
					approvals: [],
					bySuccession: false
				});
			}
			await expect(on(cast.dee).approveSuccession(dee)).rejects.toMatchObject({
				code: 'invalid-argument'
			});
			// ✓ Cy names Dee and Eve again: Eve's approval of the ended term still does not count
			await on(cast.cy).setSuccessors([dee, userOf(cast.eve)], 2);
			await syncAll(stay, space.id);
			await on(cast.dee).approveSuccession(dee);
			await syncAll(stay, space.id);
			for (const p of stay) {
				expect(on(p).owner).toBe(cy);
				expect(on(p).succession.approvals).toEqual([{ by: dee, candidate: dee }]);
				expect(on(p).rejections).toEqual([]);
			}
		} finally {
			await shutdown(people);
		}
	});
});

describe('concurrent ownership moves', () => {
	it('✓ property: concurrent approvals and a forged one, in any delivery order, end with the same new owner', async () => {
		const { cast, people, space, on, cyPhrase } = await studio();
		const fresh: Persona[] = [];
		try {
			const [ben, cy, dee, eve] = [cast.ben, cast.cy, cast.dee, cast.eve].map(userOf);
			await space.setSuccessors([ben!, cy!, dee!], 2);
			await syncAll(people, space.id);
			// offline from each other, Ben and Dee approve Cy; Eve forges one for herself
			await on(cast.ben).approveSuccession(cy!);
			await on(cast.dee).approveSuccession(cy!);
			await forge<Doc>(cast.eve.client, on(cast.eve), {}, (d) => {
				d.members[eve!]!.approval = approval(0, eve!);
			});
			await syncAll(people, space.id);
			const expected = picture(on(cast.cy));
			for (const p of people) {
				expect(on(p).owner).toBe(cy);
				expect(picture(on(p))).toEqual(expected);
			}
			await fc.assert(
				fc.asyncProperty(
					fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
					fc.integer({ min: 1, max: 3 }),
					async (keys, batch) => {
						// a fresh device of Cy's receives every entry in a random order
						const reader = await freshDevice(cyPhrase);
						fresh.push(reader);
						for (const p of [cast.dee, cast.eve, cast.ben])
							await deliver(p, reader, space.id, { shuffle: orderBy(keys), batch });
						const seen: Space = reader.client.space(space.id)!;
						// ✓ the same owner and the same space, whatever the order
						expect(seen.owner).toBe(cy);
						expect(picture(seen)).toEqual(expected);
						expect(seen.rejections.map((r) => r.reason)).toEqual([
							'only a named successor approves'
						]);
						await reader.client.close();
						fresh.pop();
					}
				),
				{ numRuns: 5 }
			);
		} finally {
			await shutdown([...people, ...fresh]);
		}
	});

	it('✓ property: two devices of the owner hand over at once while successors approve: one owner, the same on every peer and in every delivery order', async () => {
		const laptopClient = await Charter.open({ inMemory: true, deviceName: 'laptop' });
		const { phrase } = await laptopClient.createIdentity();
		const phoneClient = await Charter.open({ inMemory: true, deviceName: 'phone' });
		await phoneClient.restoreIdentity(phrase);
		const laptop: Persona = { name: 'laptop', client: laptopClient };
		const phone: Persona = { name: 'phone', client: phoneClient };
		const cast = await personas('ben', 'cy', 'dee');
		const people = [laptop, phone, ...Object.values(cast)];
		const fresh: Persona[] = [];
		try {
			const space = await laptopClient.createSpace({ name: 'Studio' });
			for (const p of Object.values(cast)) await space.addMember(await p.client.memberCard());
			await syncAll(people, space.id);
			const on = (p: Persona) => p.client.space(space.id)!;
			await on(phone).ensureDeviceRegistered();
			const [ben, cy, dee] = [cast.ben, cast.cy, cast.dee].map(userOf) as [never, never, never];
			await space.setSuccessors([ben, cy, dee], 2);
			await syncAll(people, space.id);
			// offline from each other: the laptop hands over to Ben, the phone to Cy, and Cy and Dee
			// approve Dee as the next owner
			await space.transferOwnership(ben);
			await on(phone).transferOwnership(cy);
			await on(cast.cy).approveSuccession(dee);
			await on(cast.dee).approveSuccession(dee);
			await syncAll(people, space.id);
			const owners = people.map((p) => on(p).owner);
			// ✓ exactly one owner, agreed by everyone: one of the hand-overs, which ends the term the
			// concurrent approvals were for
			expect(new Set(owners).size).toBe(1);
			expect([ben, cy]).toContain(owners[0]);
			const expected = picture(space);
			for (const p of people) {
				expect(picture(on(p))).toEqual(expected);
				expect(on(p).succession.term).toBe(1);
			}
			await fc.assert(
				fc.asyncProperty(
					fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
					fc.boolean(),
					async (keys, phoneFirst) => {
						const reader = await freshDevice(phrase);
						fresh.push(reader);
						const from = phoneFirst
							? [phone, cast.dee, laptop, cast.cy]
							: [cast.cy, laptop, cast.dee, phone];
						for (const p of from) await deliver(p, reader, space.id, { shuffle: orderBy(keys) });
						const seen = reader.client.space(space.id)!;
						// ✓ the same owner, whatever the order
						expect(seen.owner).toBe(owners[0]);
						expect(picture(seen)).toEqual(expected);
						await reader.client.close();
						fresh.pop();
					}
				),
				{ numRuns: 5 }
			);
		} finally {
			await shutdown([...people, ...fresh]);
		}
	});
});
