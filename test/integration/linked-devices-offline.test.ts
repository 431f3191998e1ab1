/**
 * Story: Eli links his phone, then both his laptop and his phone lose the network. Each keeps working
 * — messages, a new channel, a renamed space — and when the sync server is back, both converge.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Charter } from '../../src/lib/index.js';
import { startSyncServerProcess, type SyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';
import { freePort } from '../support/ports.js';

describe('linked devices edit offline and converge', async () => {
	const port = await freePort();
	const dataDir = await mkdtemp(join(tmpdir(), 'charter-offline-'));
	let server: SyncServerProcess = await startSyncServerProcess({
		dataDir,
		args: ['--port', String(port)]
	});
	const laptop = await Charter.open({
		inMemory: true,
		syncServers: [server.wsUrl],
		deviceName: 'laptop'
	});
	const phone = await Charter.open({ inMemory: true, deviceName: 'phone' });
	afterAll(async () => {
		await laptop.close();
		await phone.close();
		await server.stop();
	});

	it('✓ both devices edit while the server is down; once it is back, both hold the same space', async () => {
		const { userId } = await laptop.createIdentity();
		const space = await laptop.createSpace({ name: 'Studio' });
		const { code, linked } = await laptop.linkDevice();
		await phone.acceptDeviceLink(code);
		await linked;
		await eventually(
			() => phone.spaces[0]?.isMember && phone.spaces[0].channels[0],
			'the phone to open the space'
		);
		await phone.spaces[0]!.channels[0]!.send('phone online');
		await eventually(() => space.channels[0]!.messages.length === 1, 'the laptop to see it');

		await server.stop(); // both are offline now
		await space.channels[0]!.send('laptop offline');
		await space.createChannel({ name: 'ideas' });
		const phoneSpace = phone.spaces[0]!;
		await phoneSpace.channels[0]!.send('phone offline');
		await phoneSpace.rename('Studio 54');

		server = await startSyncServerProcess({ dataDir, args: ['--port', String(port)] });
		const texts = (c: Charter) =>
			c.spaces[0]?.channels
				.find((ch) => ch.name === 'general')
				?.messages.map((m) => m.text)
				.sort();
		await eventually(
			() =>
				phoneSpace.name === 'Studio 54' &&
				space.name === 'Studio 54' &&
				texts(laptop)?.length === 3 &&
				texts(phone)?.length === 3 &&
				phoneSpace.channels.length === 2,
			'both devices to converge after the outage',
			40_000
		);
		expect(texts(laptop)).toEqual(texts(phone));
		expect(space.channels.map((c) => c.name).sort()).toEqual(
			phoneSpace.channels.map((c) => c.name).sort()
		);
		expect(new Set(space.channels[0]!.messages.map((m) => m.author))).toEqual(new Set([userId]));
		expect(space.rejections).toEqual([]);
	}, 90_000);
});
