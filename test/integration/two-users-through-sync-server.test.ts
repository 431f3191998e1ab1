/**
 * Story: Alice and Bob share an encrypted channel through the project's own sync server, which
 * never sees a byte of plaintext or key material; afterwards both read everything offline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Charter, type Space } from '../../src/lib/index.js';
import { base64url } from '../../src/lib/util/bytes.js';
import { startSyncServerProcess, type SyncServerProcess } from '../support/sync-server-process.js';
import { recordFrames, type FrameRecorder } from '../support/frame-recorder.js';
import { eventually } from '../support/wait.js';
import { filesUnder } from '../support/stored.js';

const SPACE_NAME = 'Secret Garden Club';
const CHANNEL_NAME = 'moonlit-plans';
const ALICE_SAYS = 'the password is swordfish';
const BOB_REPLIES = 'rosebud, and bring lanterns';

describe('two users through a ciphertext-only sync server', () => {
	let server: SyncServerProcess;
	let recorder: FrameRecorder;
	let aliceDir: string;
	let bobDir: string;
	let alicePhrase: string;
	let spaceId: Space['id'];

	beforeAll(async () => {
		server = await startSyncServerProcess();
		recorder = await recordFrames(server.wsUrl);
		aliceDir = await mkdtemp(join(tmpdir(), 'charter-alice-'));
		bobDir = await mkdtemp(join(tmpdir(), 'charter-bob-'));
	});

	afterAll(async () => {
		await recorder?.close();
		await server?.stop();
	});

	it('✓ Alice creates a space and writes; Bob reads and replies; Alice reads the reply', async () => {
		const alice = await Charter.open({ dataDir: aliceDir, syncServers: [recorder.url] });
		const bob = await Charter.open({ dataDir: bobDir, syncServers: [recorder.url] });
		alicePhrase = (await alice.createIdentity()).phrase;
		await bob.createIdentity();

		const space = await alice.createSpace({ name: SPACE_NAME, channelName: CHANNEL_NAME });
		spaceId = space.id;
		const aliceChannel = space.channels[0]!;
		expect(aliceChannel.name).toBe(CHANNEL_NAME);
		await aliceChannel.send(ALICE_SAYS);
		await space.addMember(await bob.memberCard());

		const bobSpace = await bob.openSpace(space.id);
		await eventually(() => bobSpace.channels[0]?.messages.length === 1, 'Bob to read Alice');
		const bobChannel = bobSpace.channels[0]!;
		expect(bobSpace.name).toBe(SPACE_NAME);
		expect(bobChannel.name).toBe(CHANNEL_NAME);
		expect(bobChannel.messages[0]).toMatchObject({
			text: ALICE_SAYS,
			author: alice.identity!.userId
		});
		expect(bobSpace.members.map((m) => m.user).sort()).toEqual(
			[alice.identity!.userId, bob.identity!.userId].sort()
		);

		await bobChannel.send(BOB_REPLIES);
		await eventually(() => aliceChannel.messages.length === 2, 'Alice to read Bob');
		expect(aliceChannel.messages.map((m) => m.text)).toEqual([ALICE_SAYS, BOB_REPLIES]);
		expect(aliceChannel.messages[1]!.author).toBe(bob.identity!.userId);

		// nothing was dropped or left waiting on either side
		for (const s of [space, bobSpace]) {
			expect(s.stats.space.pending).toBe(0);
			expect(s.stats.space.rejected).toBe(0);
			expect(s.stats.channels.every((c) => c.pending === 0 && c.rejected === 0)).toBe(true);
		}
		// give the server a moment to receive and store the last entries before disconnecting
		await new Promise((r) => setTimeout(r, 500));
		await alice.close();
		await bob.close();
	});

	it('✓ both restart from disk with no network and still read everything', async () => {
		const alice = await Charter.open({ dataDir: aliceDir });
		const bob = await Charter.open({ dataDir: bobDir });
		for (const client of [alice, bob]) {
			const space = client.space(spaceId)!;
			expect(space).toBeDefined();
			await space.settled();
			expect(space.name).toBe(SPACE_NAME);
			expect(space.channels[0]!.messages.map((m) => m.text)).toEqual([ALICE_SAYS, BOB_REPLIES]);
		}
		await alice.close();
		await bob.close();
	});

	it('✓ Alice restored from her phrase on a fresh machine reads the history via the server', async () => {
		// Alice restores on a new machine: she is a member by identity, and her lockboxes are addressed
		// to her phrase-derived encryption key, so the server's ciphertext is enough.
		const freshDir = await mkdtemp(join(tmpdir(), 'charter-alice-2-'));
		const alice2 = await Charter.open({ dataDir: freshDir, syncServers: [recorder.url] });
		await alice2.restoreIdentity(alicePhrase);
		const space = await alice2.openSpace(spaceId);
		await eventually(
			() => space.channels[0]?.messages.length === 2,
			'restored Alice to read history'
		);
		expect(space.channels[0]!.messages.map((m) => m.text)).toEqual([ALICE_SAYS, BOB_REPLIES]);
		await alice2.close();
	});

	it('✓ the server disk and every captured frame hold no plaintext, no names and no key bytes', async () => {
		await server.stop(); // flushes storage
		const serverFiles = await filesUnder(server.dataDir);
		expect(serverFiles.length).toBeGreaterThan(0);
		const serverBytes = Buffer.concat(await Promise.all(serverFiles.map((f) => readFile(f))));
		expect(serverBytes.length).toBeGreaterThan(1000);
		const wire = Buffer.concat(recorder.frames);
		expect(recorder.frames.length).toBeGreaterThan(10);
		// the capture really holds sealed entries (envelope values are their raw bytes, magic 'CHE'
		// then the format version), so the absence checks below can fail
		expect(wire.includes(Buffer.from([...Buffer.from('CHE'), 1]))).toBe(true);

		const secrets: Buffer[] = [];
		for (const dir of [aliceDir, bobDir]) {
			expect((await stat(join(dir, 'secrets.json'))).mode & 0o777).toBe(0o600);
			const json = JSON.parse(await readFile(join(dir, 'secrets.json'), 'utf8')) as Record<
				string,
				string
			>;
			// key material only (the file also records small counters such as the key generation)
			for (const value of Object.values(json)) {
				const bytes = Buffer.from(base64url.decode(value));
				if (bytes.length >= 16) secrets.push(bytes);
			}
		}
		expect(secrets.length).toBeGreaterThanOrEqual(8); // identity, encryption, device seeds + epoch keys

		const forbidden: [string, Buffer][] = [
			...[
				SPACE_NAME,
				CHANNEL_NAME,
				ALICE_SAYS,
				BOB_REPLIES,
				'swordfish',
				'rosebud',
				alicePhrase
			].map((s): [string, Buffer] => [s, Buffer.from(s, 'utf8')]),
			...secrets.map((s, i): [string, Buffer] => [`secret #${i}`, s])
		];
		for (const [what, needle] of forbidden)
			for (const form of asFound(needle)) {
				expect(serverBytes.includes(form), `${what} on the server's disk`).toBe(false);
				expect(wire.includes(form), `${what} on the wire`).toBe(false);
			}
	});
});

/**
 * The needle as raw bytes (envelope values are bytes) and as it would read inside base64url text
 * (format v1 envelope values, and any text field): for each of the three alignments, the characters
 * that do not depend on its neighbours.
 */
function asFound(needle: Buffer): Buffer[] {
	const forms = [needle];
	for (let skip = 0; skip < 3; skip++) {
		const text = base64url.encode(needle.subarray(skip));
		const stable = text.slice(0, Math.floor((needle.length - skip) / 3) * 4);
		if (stable.length >= 8) forms.push(Buffer.from(stable));
	}
	return forms;
}
