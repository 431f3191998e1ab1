/**
 * Compaction, end to end with the real sync server as a child process and real clients on
 * 127.0.0.1:
 *
 * - a moderator compacts a channel; a new device of the same user downloads only the compacted
 *   envelope (never the original one), verifies every entry and reads exactly what the old device
 *   reads; a member without MANAGE_MESSAGES cannot compact;
 * - two moderators compact concurrently while the server is down, and a member writes to the old
 *   envelope before hearing of either compaction: everyone converges on one generation, the late
 *   message is republished into it, and a new device reads everything, redundant fragments and all.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Charter, isCharterError, type Channel, type Space } from '../../src/lib/index.js';
import { envelopeDocumentId } from '../../src/lib/sync/envelope.js';
import { channelIdBytes } from '../../src/lib/identity/ids.js';
import { startSyncServerProcess, type SyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';
import { freePort } from '../support/ports.js';

const temp = (name: string) => mkdtemp(join(tmpdir(), `charter-compaction-${name}-`));

const texts = (channel: Channel | undefined) => (channel?.messages ?? []).map((m) => m.text);

/** A fresh device of the user whose phrase this is, on the server: its copy of `channelId`. */
async function newDevice(phrase: string, server: string, space: Space, channelId: Channel['id']) {
	const device = await Charter.open({ inMemory: true, syncServers: [server], deviceName: 'new' });
	await device.restoreIdentity(phrase);
	const theirs = await device.openSpace(space.id);
	await eventually(
		() => theirs.channel(channelId) !== undefined,
		'the new device to see the channel'
	);
	return { device, channel: theirs.channel(channelId)! };
}

describe('compaction', async () => {
	const server = await startSyncServerProcess();
	const owner = await Charter.open({ dataDir: await temp('owner'), syncServers: [server.wsUrl] });
	const bob = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	const opened: Charter[] = [];
	afterAll(async () => {
		for (const c of [owner, bob, ...opened]) await c.close();
		await server.stop();
	});

	it('✓ a new device downloads only the compacted envelope, verifies every entry and reads what the old device reads', async () => {
		const { phrase } = await owner.createIdentity();
		await bob.createIdentity();
		const space = await owner.createSpace({ name: 'Archive' });
		await space.addMember(await bob.memberCard());
		const channel = await space.createChannel({ name: 'history' });
		const theirs = await bob.openSpace(space.id);
		await eventually(() => theirs.channel(channel.id) !== undefined, 'Bob to see the channel');
		const bobChannel = theirs.channel(channel.id)!;

		for (let i = 0; i < 300; i++) await channel.send(`owner ${i}`);
		for (let i = 0; i < 60; i++) await bobChannel.send(`bob ${i}`);
		const edited = channel.messages.find((m) => m.text === 'owner 7')!;
		await channel.edit(edited.id, 'owner 7, edited');
		await channel.delete(channel.messages.find((m) => m.text === 'owner 8')!.id);
		await eventually(() => channel.messages.length === 359, 'the owner to read Bob');

		// Bob has no MANAGE_MESSAGES
		const refused = await bobChannel.compact().then(
			() => 'compacted',
			(error) => (isCharterError(error, 'not-authorized') ? 'not-authorized' : String(error))
		);
		expect(refused).toBe('not-authorized');

		const result = await channel.compact();
		expect(result.generation).toBe(1);
		expect(result.entries).toBe(300 + 60 + 2);
		expect(result.fragments).toBeGreaterThanOrEqual(1);
		expect(result.fragments).toBeLessThan(10);
		expect(channel.generation).toBe(1);
		expect(space.document.channels[channel.id]?.history).toBe(1);

		// writes after the compaction go to the new envelope, from both members
		await channel.send('after compaction');
		await eventually(() => bobChannel.generation === 1, 'Bob to follow the new generation');
		await bobChannel.send('bob after compaction');
		await eventually(
			() => texts(channel).includes('bob after compaction'),
			'the owner to read Bob in the new generation'
		);

		const { device, channel: fresh } = await newDevice(phrase, server.wsUrl, space, channel.id);
		opened.push(device);
		await eventually(
			() => fresh.messages.length === channel.messages.length,
			'the new device to read the whole history',
			45_000
		);
		expect(texts(fresh)).toEqual(texts(channel));
		expect(texts(fresh)).toContain('owner 7, edited');
		expect(texts(fresh)).not.toContain('owner 8');
		// every entry verified and accepted; nothing refused or dropped
		expect(fresh.stats.rejected).toBe(0);
		expect(fresh.stats.pending).toBe(0);
		expect(fresh.stats.dropped).toEqual({});
		expect(fresh.stats.accepted).toBe(300 + 60 + 2 + 2);
		// the original envelope was never asked for
		const original = envelopeDocumentId(space.idBytes, channelIdBytes(channel.id));
		expect(device.wire.repo.handles[original]).toBeUndefined();
		expect(fresh.generation).toBe(1);
	}, 120_000);
});

describe('concurrent compactions and late writers', async () => {
	const port = await freePort();
	const serverDir = await temp('server');
	const args = ['--port', String(port)];
	let server: SyncServerProcess | undefined = await startSyncServerProcess({
		dataDir: serverDir,
		args
	});
	const wsUrl = server.wsUrl;
	const owner = await Charter.open({ dataDir: await temp('owner2'), syncServers: [wsUrl] });
	const carol = await Charter.open({ dataDir: await temp('carol'), syncServers: [wsUrl] });
	const bob = await Charter.open({ dataDir: await temp('bob'), syncServers: [wsUrl] });
	const daveDir = await temp('dave');
	let dave = await Charter.open({ dataDir: daveDir, syncServers: [wsUrl] });
	const opened: Charter[] = [];
	afterAll(async () => {
		for (const c of [owner, carol, bob, dave, ...opened]) await c.close();
		await server?.stop();
	});

	it('✓ two moderators compact while offline and a member writes to the old envelope: all converge, the late message is republished, a new device reads everything', async () => {
		const { phrase } = await owner.createIdentity();
		await carol.createIdentity();
		await bob.createIdentity();
		await dave.createIdentity();
		const space = await owner.createSpace({ name: 'Crew' });
		await space.addMember(await dave.memberCard());
		await space.addMember(await carol.memberCard());
		await space.addMember(await bob.memberCard());
		const moderators = await space.createRole({
			name: 'Moderators',
			permissions: ['MANAGE_MESSAGES']
		});
		await space.assignRole(carol.identity!.userId, moderators.id);
		const channel = await space.createChannel({ name: 'general' });
		const carolSpace = await carol.openSpace(space.id);
		const bobSpace = await bob.openSpace(space.id);
		await eventually(
			() =>
				carolSpace.channel(channel.id) !== undefined &&
				bobSpace.channel(channel.id) !== undefined &&
				carolSpace.state?.can(carol.identity!.userId, 1 << 9, channel.id) === true,
			'Carol and Bob to see the channel, Carol as a moderator'
		);
		const carolChannel = carolSpace.channel(channel.id)!;
		const bobChannel = bobSpace.channel(channel.id)!;
		for (let i = 0; i < 40; i++) await channel.send(`owner ${i}`);
		for (let i = 0; i < 40; i++) await carolChannel.send(`carol ${i}`);
		const daveSpace = await dave.openSpace(space.id);
		await eventually(
			() =>
				carolChannel.messages.length === 80 &&
				bobChannel.messages.length === 80 &&
				daveSpace.channel(channel.id)?.messages.length === 80,
			'everyone to hold the history'
		);
		// Dave's device is off while the history moves on
		await dave.close();

		// the server goes down: both moderators compact, Bob writes to the envelope he knows
		await server!.stop();
		server = undefined;
		await eventually(
			() => owner.peers.length === 0 && carol.peers.length === 0 && bob.peers.length === 0,
			'everyone to notice the server left'
		);
		const [a, b] = await Promise.all([channel.compact(), carolChannel.compact()]);
		expect(a.generation).toBe(1);
		expect(b.generation).toBe(1);
		await bobChannel.send('bob, late, to the old envelope');
		expect(bobChannel.generation).toBe(0);

		server = await startSyncServerProcess({ dataDir: serverDir, args });
		const expected = 81;
		await eventually(
			() =>
				[channel, carolChannel, bobChannel].every(
					(c) => c.generation === 1 && c.messages.length === expected
				),
			'everyone on generation 1 with every message',
			45_000
		);
		expect(space.document.channels[channel.id]?.history).toBe(1);
		await bobChannel.send('bob, now in generation 1');

		const { device, channel: fresh } = await newDevice(phrase, wsUrl, space, channel.id);
		opened.push(device);
		await eventually(
			() =>
				texts(fresh).includes('bob, late, to the old envelope') &&
				texts(fresh).includes('bob, now in generation 1'),
			'the new device to read the late message, republished into generation 1',
			45_000
		);
		await eventually(
			() => fresh.messages.length === expected + 1 && channel.messages.length === expected + 1,
			'the new device and the owner to hold every message',
			30_000
		);
		expect(texts(fresh)).toEqual(texts(channel));
		expect(fresh.stats.rejected).toBe(0);
		expect(fresh.stats.dropped).toEqual({});
		const original = envelopeDocumentId(space.idBytes, channelIdBytes(channel.id));
		expect(device.wire.repo.handles[original]).toBeUndefined();

		// Dave comes back: his saved copy and the compacted generation agree, nothing refused
		dave = await Charter.open({ dataDir: daveDir, syncServers: [wsUrl] });
		const daveChannel = (await dave.openSpace(space.id)).channel(channel.id)!;
		await eventually(
			() => daveChannel.generation === 1 && daveChannel.messages.length === expected + 1,
			'Dave to follow generation 1 and read every message',
			45_000
		);
		expect(texts(daveChannel)).toEqual(texts(channel));
		expect(daveChannel.stats.rejected).toBe(0);
		expect(daveChannel.stats.dropped).toEqual({});
	}, 120_000);
});
