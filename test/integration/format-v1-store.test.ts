/**
 * A device whose store was written by format v1 (envelope entries as base64url strings, before
 * format v2 wrote them as byte strings) opens with this version: nothing is lost, it keeps writing
 * (now in format v2, into the same envelopes), and a new device reads the mixed history through the
 * sync server. The fixture `test/fixtures/v1-store` is a real data directory written by the v1 code
 * (commit 95f7df4): one space, three messages in #general, the first of them edited.
 */
import { cp, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Charter } from '../../src/lib/index.js';
import { startSyncServerProcess, type SyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';

const FIXTURE = resolve(import.meta.dirname, '../fixtures/v1-store');
const V1_TEXTS = ['first v1 message, edited', 'second v1 message', 'third v1 message'];

async function setup() {
	const dir = await mkdtemp(join(tmpdir(), 'charter-v1-store-'));
	await cp(join(FIXTURE, 'store'), dir, { recursive: true });
	const phrase = (await readFile(join(FIXTURE, 'phrase.txt'), 'utf8')).trim();
	return { dir, phrase };
}

describe('a store written by format v1', () => {
	const open: Charter[] = [];
	let server: SyncServerProcess | undefined;
	afterEach(async () => {
		for (const c of open.splice(0)) await c.close();
		await server?.stop();
		server = undefined;
	});

	it('✓ opens with every message, keeps writing in format v2, and reopens with both', async () => {
		const { dir } = await setup();
		let ada = await Charter.open({ dataDir: dir });
		open.push(ada);
		const [space] = ada.spaces;
		expect(space?.name).toBe('Written by format v1');
		const general = () => ada.spaces[0]!.channels[0]!;
		await eventually(() => general().messages.length === 3, 'the v1 messages to be readable');
		expect(general().messages.map((m) => m.text)).toEqual(V1_TEXTS);

		await general().send('written by format v2');
		await ada.close();
		open.length = 0;
		ada = await Charter.open({ dataDir: dir });
		open.push(ada);
		await eventually(() => general()?.messages.length === 4, 'all four after a reopen');
		expect(general().messages.map((m) => m.text)).toEqual([...V1_TEXTS, 'written by format v2']);
		expect(general().stats.rejected).toBe(0);
		expect(general().stats.pending).toBe(0);
	});

	it('✓ a new device restored from the phrase reads the mixed v1 + v2 history through the sync server', async () => {
		const { dir, phrase } = await setup();
		server = await startSyncServerProcess();
		const ada = await Charter.open({ dataDir: dir, syncServers: [server.wsUrl] });
		open.push(ada);
		const general = ada.spaces[0]!.channels[0]!;
		await eventually(() => general.messages.length === 3, 'the v1 messages to be readable');
		await general.send('written by format v2');

		const laptop = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
		open.push(laptop);
		await laptop.restoreIdentity(phrase);
		await eventually(
			() => laptop.spaces[0]?.channels[0]?.messages.length === 4,
			'the restored device to read all four',
			30_000
		);
		const theirs = laptop.spaces[0]!.channels[0]!;
		expect(theirs.messages.map((m) => m.text)).toEqual([...V1_TEXTS, 'written by format v2']);
		expect(theirs.stats.rejected).toBe(0);
	});
});
