/**
 * Story: Dana loses her laptop. On a new machine she types her 24 words: her identity comes back,
 * her spaces reappear (from her encrypted account document on the sync server), she reads the
 * history, and the new device is accepted as hers when she writes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Charter } from '../../src/lib/index.js';
import { startSyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';

describe('recovery from the phrase on a fresh machine', async () => {
	const server = await startSyncServerProcess();
	const cleanup: (() => Promise<unknown>)[] = [() => server.stop()];
	afterAll(async () => {
		for (const c of cleanup.reverse()) await c().catch(() => undefined);
	});

	it('✓ restores the identity, finds every space again, reads and writes as the same user', async () => {
		const laptop = await Charter.open({
			dataDir: await mkdtemp(join(tmpdir(), 'dana-laptop-')),
			syncServers: [server.wsUrl]
		});
		const { phrase, userId } = await laptop.createIdentity();
		const friend = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
		cleanup.push(() => friend.close());
		await friend.createIdentity();
		const own = await laptop.createSpace({ name: "Dana's garden" });
		await own.channels[0]!.send('tomatoes planted');
		const theirs = await friend.createSpace({ name: 'Friends' });
		const { link } = await theirs.createInvite();
		await laptop.joinSpace(link);
		await new Promise((r) => setTimeout(r, 800));
		await laptop.close(); // the laptop is gone

		const fresh = await Charter.open({
			dataDir: await mkdtemp(join(tmpdir(), 'dana-new-')),
			syncServers: [server.wsUrl]
		});
		cleanup.push(() => fresh.close());
		expect(fresh.identity).toBeUndefined();
		expect((await fresh.restoreIdentity(phrase)).userId).toBe(userId);
		await eventually(
			() => fresh.spaces.length === 2 && fresh.spaces.every((s) => s.ready),
			'both spaces to come back',
			20_000
		);
		expect(fresh.spaces.map((s) => s.name).sort()).toEqual(["Dana's garden", 'Friends']);
		const garden = fresh.spaces.find((s) => s.name === "Dana's garden")!;
		await eventually(() => garden.channels[0]?.messages.length === 1, 'history');
		await garden.channels[0]!.send('written from the new machine');
		const friends = fresh.spaces.find((s) => s.name === 'Friends')!;
		await eventually(() => friends.channels[0], "the friends' channel to open");
		await friends.channels[0]!.send('hi from my new machine');
		await eventually(
			() =>
				theirs.channels[0]!.messages.some(
					(m) => m.text === 'hi from my new machine' && m.author === userId
				),
			'the friend to see it, authored by Dana'
		);
	});
});
