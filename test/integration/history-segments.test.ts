/**
 * History segments end to end, through the real sync server (a child process) and real storage:
 * Ada and Ben chat in #general, whose history is hidden from @everyone; Cy joins; Ben welcomes
 * him. Cy reads the welcome and nothing before it, Ada reads everything in one list; each reloads
 * (a closed client opened again on its data directory) and reads the same; Cy's linked phone reads
 * what Cy reads; Ada compacts the channel — two segments in its fragments — and a new device of
 * hers, and Cy after a reload, still read what they read before.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Charter, EVERYONE, type Channel } from '../../src/lib/index.js';
import { startSyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';

const temp = (name: string) => mkdtemp(join(tmpdir(), `charter-segments-${name}-`));
const texts = (channel: Channel | undefined) => (channel?.messages ?? []).map((m) => m.text);
const BEFORE = ['Ada: chapter nine has the twist', 'Ben: no spoilers please'];

describe('history segments', async () => {
	const server = await startSyncServerProcess();
	const adaDir = await temp('ada');
	const cyDir = await temp('cy');
	let ada = await Charter.open({ dataDir: adaDir, syncServers: [server.wsUrl], deviceName: 'ada' });
	const ben = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	let cy = await Charter.open({ dataDir: cyDir, syncServers: [server.wsUrl], deviceName: 'cy' });
	const phone = await Charter.open({ inMemory: true, deviceName: 'phone' });
	const opened: Charter[] = [];
	afterAll(async () => {
		for (const c of [ada, ben, cy, phone, ...opened]) await c.close();
		await server.stop();
	});

	it('✓ Cy reads what Ben says after he joined and nothing before; Ada reads it all; after a reload, on Cy’s phone and after a compaction the same', async () => {
		const { phrase } = await ada.createIdentity();
		await ben.createIdentity();
		await cy.createIdentity();
		const space = await ada.createSpace({ name: 'Book club' });
		await space.addMember(await ben.memberCard());
		const general = space.channels[0]!;
		await space.setChannelPermissions(
			general.id,
			{ role: EVERYONE },
			{ deny: ['READ_MESSAGE_HISTORY'] }
		);
		const bens = await ben.openSpace(space.id);
		await eventually(() => bens.channel(general.id) !== undefined, 'Ben to see #general');
		await general.send(BEFORE[0]!);
		await eventually(() => texts(bens.channel(general.id)).length === 1, 'Ben to read Ada');
		await bens.channel(general.id)!.send(BEFORE[1]!);
		await eventually(() => texts(general).length === 2, 'Ada to read Ben');

		// Cy joins; Ben welcomes him once he sees him in the space
		await space.addMember(await cy.memberCard());
		const cys = await cy.openSpace(space.id);
		await eventually(() => cys.channel(general.id) !== undefined, 'Cy to see #general');
		await eventually(
			() => bens.members.some((m) => m.user === cy.identity!.userId),
			'Ben to see Cy join'
		);
		await bens.channel(general.id)!.send('Ben: welcome, Cy!');
		await eventually(() => texts(cys.channel(general.id)).length === 1, 'Cy to read the welcome');
		await cys.channel(general.id)!.send('Cy: thanks!');
		await eventually(() => texts(general).length === 4, 'Ada to read Cy');
		const after = ['Ben: welcome, Cy!', 'Cy: thanks!'];
		// ✓ Cy reads what was said after he joined, and nothing before
		expect(texts(cys.channel(general.id))).toEqual(after);
		// ✓ Ada reads the whole conversation, one list, in order
		expect(texts(general)).toEqual([...BEFORE, ...after]);
		await eventually(() => texts(bens.channel(general.id)).length === 4, 'Ben to read Cy');
		expect(texts(bens.channel(general.id))).toEqual([...BEFORE, ...after]);
		// ✓ nothing refused at Cy's: the older entries are hidden (no key), not bad
		expect(cys.channel(general.id)!.stats.rejected).toBe(0);
		expect(cys.channel(general.id)!.stats.dropped).toEqual({});

		// ✓ each reloads and reads the same
		await ada.close();
		await cy.close();
		ada = await Charter.open({ dataDir: adaDir, syncServers: [server.wsUrl], deviceName: 'ada' });
		cy = await Charter.open({ dataDir: cyDir, syncServers: [server.wsUrl], deviceName: 'cy' });
		const adas = ada.space(space.id) ?? (await ada.openSpace(space.id));
		const cys2 = cy.space(space.id) ?? (await cy.openSpace(space.id));
		await eventually(() => texts(adas.channel(general.id)).length === 4, 'Ada to reload');
		await eventually(() => texts(cys2.channel(general.id)).length === 2, 'Cy to reload');
		expect(texts(adas.channel(general.id))).toEqual([...BEFORE, ...after]);
		expect(texts(cys2.channel(general.id))).toEqual(after);
		// ✓ reloaded, each still writes where Cy reads
		await adas.channel(general.id)!.send('Ada: reloaded');
		await eventually(
			() => texts(cys2.channel(general.id)).includes('Ada: reloaded'),
			'Cy to read Ada after her reload'
		);
		await cys2.channel(general.id)!.send('Cy: me too');
		await eventually(
			() => texts(adas.channel(general.id)).includes('Cy: me too'),
			'Ada to read Cy after his reload'
		);
		const now = [...after, 'Ada: reloaded', 'Cy: me too'];
		expect(texts(adas.channel(general.id))).toEqual([...BEFORE, ...now]);

		// ✓ Cy's linked phone reads what Cy reads, and writes where others read it
		const { code, linked } = await cy.linkDevice();
		await phone.acceptDeviceLink(code);
		await linked;
		await eventually(
			() => texts(phone.space(space.id)?.channel(general.id)).length === now.length,
			'the phone to read #general',
			30_000
		);
		expect(texts(phone.space(space.id)!.channel(general.id))).toEqual(now);
		await phone.space(space.id)!.channel(general.id)!.send('Cy: from my phone');
		await eventually(
			() => texts(adas.channel(general.id)).includes('Cy: from my phone'),
			'Ada to read the phone'
		);
		const all = [...BEFORE, ...now, 'Cy: from my phone'];
		expect(texts(adas.channel(general.id))).toEqual(all);

		// ✓ Ada compacts #general (two segments in its fragments); a new device of hers reads it all,
		// and Cy, reloaded once more, reads his part
		const result = await adas.channel(general.id)!.compact();
		expect(result.generation).toBe(1);
		const tablet = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
		opened.push(tablet);
		await tablet.restoreIdentity(phrase);
		const tablets = await tablet.openSpace(space.id);
		await eventually(
			() => texts(tablets.channel(general.id)).length === all.length,
			'the new device to read the compacted channel',
			30_000
		);
		expect(texts(tablets.channel(general.id))).toEqual(all);
		expect(tablets.channel(general.id)!.stats.rejected).toBe(0);
		await eventually(
			() => cys2.channel(general.id)?.generation === 1,
			'Cy to follow the compaction'
		);
		await cy.close();
		cy = await Charter.open({ dataDir: cyDir, syncServers: [server.wsUrl], deviceName: 'cy' });
		const cys3 = cy.space(space.id) ?? (await cy.openSpace(space.id));
		await eventually(
			() => texts(cys3.channel(general.id)).length === all.length - BEFORE.length,
			'Cy to reload the compacted channel'
		);
		expect(texts(cys3.channel(general.id))).toEqual(all.slice(BEFORE.length));
		await tablets.channel(general.id)!.send('Ada: after the compaction');
		await eventually(
			() => texts(cys3.channel(general.id)).includes('Ada: after the compaction'),
			'Cy to read Ada after the compaction'
		);
	}, 120_000);
});
