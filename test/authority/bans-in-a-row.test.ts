/**
 * Story: the owner of a busy channel bans two members one right after the other. The first ban is a
 * new removal, so every channel is decided again from its entries; the second ban is written while
 * that may still be under way, and records as its cut-off the channel heads the owner shows. Found
 * by no-brick.property.test.ts: the rebuild showed a half-decided channel (the bare root, then slice
 * by slice), a ban recorded that as its cut-off, and every message of the banned member — and the
 * owner's own answer, which depends on one — was refused everywhere, at the owner too, as "written
 * after its author was removed". What a channel shows while it is decided again stays what it
 * showed before, until the new decision is complete.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { deliver, personas, shutdown, syncAll, userOf, type Persona } from '../support/personas.js';

/** More entries than a replica decides in one slice (INGEST_SLICE in replica.ts), so a rebuild of
 * the channel takes several turns of the event loop. */
const BUSY = 520;

describe('bans in a row', () => {
	let people: Persona[] = [];
	afterEach(() => shutdown(people));

	it('✓ while a ban re-decides a busy channel, the channel shows — and a second ban records — everything the owner had read', async () => {
		const cast = await personas('owner', 'mod', 'spammer', 'newcomer');
		people = Object.values(cast);
		const { owner, mod, spammer, newcomer } = cast;
		const space = await owner.client.createSpace({ name: 'Forum' });
		await space.addMembers([await mod.client.memberCard(), await spammer.client.memberCard()]);
		const role = await space.createRole({ name: 'Mod', permissions: ['BAN_MEMBERS'] });
		await space.assignRole(userOf(mod), role.id);
		const general = space.channels[0]!;
		await syncAll([owner, mod, spammer], space.id);

		await mod.client.space(space.id)!.channels[0]!.send('the mod says hi');
		await deliver(mod, owner, space.id);
		await general.send('the owner answers the mod');
		for (let i = 0; i < BUSY; i++) await general.send(`chat ${i}`);
		const read = general.messages.map((m) => m.text);
		const heads = general.heads;
		// ✓ the owner has read the mod's message and answered it
		expect(read.slice(0, 2)).toEqual(['the mod says hi', 'the owner answers the mod']);
		expect(read).toHaveLength(BUSY + 2);

		// what the channel shows, and what a ban would record as its cut-off, at every change
		const shown: { count: number; heads: string[] }[] = [];
		const stop = general.subscribe((messages) =>
			shown.push({ count: messages.length, heads: general.heads })
		);
		// the first ban makes every channel be decided again; the second follows at once
		await space.ban(userOf(spammer));
		await space.ban(userOf(mod));
		await space.settled();
		await general.settled();
		stop();

		// ✓ the channel never showed less than the owner had read, nor other heads
		expect(shown.filter((s) => s.count !== read.length)).toEqual([]);
		expect(shown.filter((s) => s.heads.join() !== heads.join())).toEqual([]);
		// ✓ the owner still reads everything it had read (the bans took no message with them)
		expect(general.messages.map((m) => m.text)).toEqual(read);
		// ✓ the mod's ban has the owner's last message (and so the mod's) inside its cut-off
		const modBan = Object.values(space.document.removals ?? {}).find(
			(r) => String(r.user) === userOf(mod)
		)!;
		expect(String(modBan.cutoffs[general.id]).split(',')).toEqual(heads);

		// ✓ a member added afterwards, fed every entry, reads the same channel
		await space.addMember(await newcomer.client.memberCard());
		await deliver(owner, newcomer, space.id);
		const theirs = newcomer.client.space(space.id)!.channel(general.id)!;
		await theirs.settled();
		expect(theirs.messages.map((m) => m.text)).toEqual(read);
	}, 120_000);
});
