/**
 * Two Node clients chat directly — one listens, the other dials — with no sync server anywhere.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Charter } from '../../src/lib/index.js';
import { eventually } from '../support/wait.js';

describe('peer to peer without a sync server', async () => {
	const home = await Charter.open({ inMemory: true, listen: { port: 0 } });
	const visitor = await Charter.open({ inMemory: true, syncServers: [home.listeningUrl!] });
	afterAll(async () => {
		await visitor.close();
		await home.close();
	});

	it('✓ one listens, the other dials; they share an encrypted space directly', async () => {
		expect(home.listeningUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
		await home.createIdentity();
		await visitor.createIdentity();
		const space = await home.createSpace({ name: 'Kitchen table' });
		await space.addMember(await visitor.memberCard());
		await space.channels[0]!.send('no server between us');
		const theirs = await visitor.openSpace(space.id);
		await eventually(
			() => theirs.channels[0]?.messages.length === 1,
			'the visitor to read directly'
		);
		await theirs.channels[0]!.send('indeed');
		await eventually(
			() => space.channels[0]!.messages.length === 2,
			'the home node to read the reply'
		);
		expect(space.channels[0]!.messages.map((m) => m.text)).toEqual([
			'no server between us',
			'indeed'
		]);
	});
});
