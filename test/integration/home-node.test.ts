/**
 * The home node CLI (`npm run node`) as a real child process, real sync servers as child processes,
 * real clients with their own data directories, WebSocket on loopback — no mocks.
 *
 *  (a) The node restores a user from the phrase, holds their space, and — with the sync server gone
 *      — the user's new device and another member sync from the node alone; restarted, it still
 *      holds everything. Its logs never carry the phrase or message text.
 *  (b) A client syncing a live channel through a sync server that is killed (SIGKILL) mid-way
 *      finishes from the home node it is also connected to, losing nothing.
 *  (c) The bot example (src/node/echo-bot.ts) creates its user, joins by invite and answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Charter, createRecoveryPhrase, type Channel, type Message } from '../../src/lib/index.js';
import { NodeConfigError, parseNodeConfig } from '../../src/node/config.js';
import { startSyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';

const root = resolve(import.meta.dirname, '../..');
const tmp = (name: string) => mkdtemp(join(tmpdir(), `charter-${name}-`));

interface LogLine {
	msg: string;
	[key: string]: unknown;
}

interface ChildNode {
	child: ChildProcess;
	url: string;
	logs: LogLine[];
	/** Everything the process wrote, stdout and stderr. */
	output(): string;
	waitForLog(test: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
	/** SIGTERM; resolves with the exit code. */
	stop(): Promise<number | null>;
}

/** `node --import tsx <script>`, so the child's pid is the process itself (no tsx wrapper). */
function spawnTs(script: string, args: string[], env: Record<string, string> = {}) {
	return spawn(process.execPath, ['--import', 'tsx', join(root, script), ...args], {
		cwd: root,
		stdio: ['ignore', 'pipe', 'pipe'],
		env: { ...process.env, LOG_LEVEL: 'info', ...env }
	});
}

async function startHomeNode(
	args: string[],
	env: Record<string, string> = {},
	script = 'src/node/main.ts'
): Promise<ChildNode> {
	const child = spawnTs(script, ['--status-interval-ms', '200', ...args], env);
	let out = '';
	let err = '';
	let partial = '';
	const logs: LogLine[] = [];
	child.stderr!.on('data', (d: Buffer) => {
		err += d;
		partial += d;
		const lines = partial.split('\n');
		partial = lines.pop()!;
		for (const line of lines)
			try {
				logs.push(JSON.parse(line) as LogLine);
			} catch {
				/* not a log line */
			}
	});
	const url = await new Promise<string>((done, fail) => {
		const timer = setTimeout(
			() => fail(new Error(`home node did not start:\n${out}\n${err}`)),
			30_000
		);
		child.stdout!.on('data', (d: Buffer) => {
			out += d;
			const match = /listening on (ws:\/\/\S+)/.exec(out);
			if (match) {
				clearTimeout(timer);
				done(match[1]!);
			}
		});
		child.once('exit', (code) => fail(new Error(`home node exited with ${code}:\n${out}\n${err}`)));
	});
	return {
		child,
		url,
		logs,
		output: () => out + err,
		waitForLog: (test, what, timeoutMs = 30_000) =>
			eventually(() => logs.find(test), `the home node to log ${what}`, timeoutMs),
		stop: () =>
			new Promise((done) => {
				if (child.exitCode !== null) return done(child.exitCode);
				child.once('exit', (code) => done(code));
				child.kill('SIGTERM');
				setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
			})
	};
}

/** A sync server started directly (not through the tsx wrapper), so SIGKILL really kills it. */
async function startKillableSyncServer(): Promise<{ wsUrl: string; child: ChildProcess }> {
	const child = spawnTs(
		'sync-server/main.ts',
		['--port', '0', '--data', await tmp('killable-server')],
		{ LOG_LEVEL: 'warn' }
	);
	const url = await new Promise<string>((done, fail) => {
		let out = '';
		const timer = setTimeout(() => fail(new Error(`sync server did not start: ${out}`)), 30_000);
		child.stdout!.on('data', (d: Buffer) => {
			out += d;
			const match = /listening on (http:\/\/\S+)/.exec(out);
			if (match) {
				clearTimeout(timer);
				done(match[1]!);
			}
		});
	});
	return { wsUrl: url.replace(/^http/, 'ws'), child };
}

const spaceStatus = (space: string, messages: number) => (line: LogLine) =>
	line.msg === 'space status' && line.space === space && line.messages === messages;

/** The server holds every document exactly as this client does. */
const serverCaughtUp = (client: Charter) =>
	client.syncStatus().some((p) => p.storageId && p.lagging.length === 0 && p.inSync > 0);

const summary = (messages: readonly Message[]) =>
	messages.map((m) => `${m.id} ${m.author} ${m.text}`).sort();

describe('home node CLI', () => {
	const cleanup: (() => Promise<unknown>)[] = [];
	afterAll(async () => {
		for (const c of cleanup.reverse()) await c().catch(() => undefined);
	});

	it('✓ restores a user, holds their space, and serves a new device and another member with no sync server', async () => {
		const server = await startSyncServerProcess();
		cleanup.push(() => server.stop());
		const alice = await Charter.open({ dataDir: await tmp('alice'), syncServers: [server.wsUrl] });
		const { phrase, userId } = await alice.createIdentity();
		const bobDir = await tmp('bob');
		const bobSetup = await Charter.open({ dataDir: bobDir });
		await bobSetup.createIdentity();
		const bobCard = await bobSetup.memberCard();
		await bobSetup.close();

		const space = await alice.createSpace({ name: 'Allotment' });
		await space.addMember(bobCard);
		const seeds = await space.createChannel({ name: 'seeds' });
		for (let i = 0; i < 15; i++) await space.channels[0]!.send(`plaintext-marker general ${i}`);
		for (let i = 0; i < 10; i++) await seeds.send(`plaintext-marker seeds ${i}`);
		await eventually(() => serverCaughtUp(alice), 'the sync server to hold everything');
		const expected = {
			general: summary(space.channels[0]!.messages),
			seeds: summary(seeds.messages)
		};
		await alice.close(); // Alice's only device goes away

		// her home node: restored from the phrase in a file, fed by the sync server
		const phraseFile = join(await tmp('phrase'), 'phrase.txt');
		await writeFile(phraseFile, `${phrase}\n`, { mode: 0o600 });
		const homeDir = await tmp('home');
		const home = await startHomeNode([
			'--data',
			homeDir,
			'--listen',
			'0',
			'--sync-server',
			server.wsUrl,
			'--phrase-file',
			phraseFile
		]);
		cleanup.push(() => home.stop());
		expect(home.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
		const online = await home.waitForLog((l) => l.msg === 'home node online', 'online');
		expect(online.userId).toBe(userId);
		await home.waitForLog(spaceStatus(space.id, 25), 'holding all 25 messages');
		// let the node's own change (its device on Alice's card) reach the server, then the server dies
		await new Promise((r) => setTimeout(r, 500));
		await server.stop();

		// a new device of Alice and Bob: the home node is the only peer either of them knows
		const newDevice = await Charter.open({
			dataDir: await tmp('alice-phone'),
			syncServers: [home.url]
		});
		cleanup.push(() => newDevice.close());
		await newDevice.restoreIdentity(phrase);
		const bob = await Charter.open({ dataDir: bobDir, syncServers: [home.url] });
		cleanup.push(() => bob.close());
		const bobSpace = await bob.openSpace(space.id);
		const readAll = (client: Charter) => {
			const s = client.space(space.id);
			const general = s?.channels.find((c) => c.id === space.channels[0]?.id);
			const seedsThere = s?.channels.find((c) => c.id === seeds.id);
			return (
				general?.messages.length === 15 &&
				seedsThere?.messages.length === 10 &&
				({ general, seeds: seedsThere } as { general: Channel; seeds: Channel })
			);
		};
		const phone = await eventually(
			() => readAll(newDevice),
			"Alice's new device to read everything"
		);
		const bobs = await eventually(() => readAll(bob), 'Bob to read everything');
		for (const view of [phone, bobs]) {
			expect(summary(view.general.messages)).toEqual(expected.general);
			expect(summary(view.seeds.messages)).toEqual(expected.seeds);
		}
		expect(bobSpace.members.map((m) => m.user).sort()).toEqual(
			[userId, bob.identity!.userId].sort()
		);

		// Bob writes; Alice's phone reads it through the home node, and the reply comes back
		await bobs.seeds.send('plaintext-marker from bob');
		await eventually(
			() => phone.seeds.messages.some((m) => m.text === 'plaintext-marker from bob'),
			"Alice's phone to read Bob through the home node"
		);
		await phone.seeds.send('plaintext-marker from the phone');
		await eventually(
			() => bobs.seeds.messages.some((m) => m.text === 'plaintext-marker from the phone'),
			"Bob to read Alice's phone through the home node"
		);
		await home.waitForLog(spaceStatus(space.id, 27), 'holding both replies');

		// SIGTERM: clean exit; nothing secret or plaintext ever reached its output
		expect(await home.stop()).toBe(0);
		const output = home.output();
		expect(output).not.toContain('plaintext-marker');
		expect(output).not.toContain('Allotment');
		expect(output).not.toContain(phrase.split(' ').slice(0, 3).join(' '));
		expect(home.logs.some((l) => l.msg === 'home node closed')).toBe(true);

		// restarted with no phrase and no sync server: the identity and the space live in its data dir
		const again = await startHomeNode(['--data', homeDir, '--listen', '0']);
		cleanup.push(() => again.stop());
		expect((await again.waitForLog((l) => l.msg === 'home node online', 'online')).userId).toBe(
			userId
		);
		await again.waitForLog(spaceStatus(space.id, 27), 'the space from its own storage');
		const laptop = await Charter.open({ inMemory: true, syncServers: [again.url] });
		cleanup.push(() => laptop.close());
		await laptop.restoreIdentity(phrase);
		await eventually(
			() => laptop.space(space.id)?.channels.find((c) => c.id === seeds.id)?.messages.length === 12,
			'a second new device to read everything from the restarted node'
		);
		expect(await again.stop()).toBe(0);
	}, 180_000);

	it('✓ the sync server killed mid-sync: the home node finishes the job and nothing is lost', async () => {
		const server = await startKillableSyncServer();
		cleanup.push(async () => server.child.kill('SIGKILL'));
		const aliceDir = await tmp('alice');
		let alice = await Charter.open({ dataDir: aliceDir, syncServers: [server.wsUrl] });
		const { phrase } = await alice.createIdentity();
		const bobDir = await tmp('bob');
		const bobSetup = await Charter.open({ dataDir: bobDir });
		await bobSetup.createIdentity();
		const bobCard = await bobSetup.memberCard();
		await bobSetup.close();
		const space = await alice.createSpace({ name: 'Long thread' });
		await space.addMember(bobCard);
		const HISTORY = 1000;
		for (let i = 0; i < HISTORY; i++) await space.channels[0]!.send(`history ${i}`);
		await eventually(() => serverCaughtUp(alice), 'the sync server to hold the history', 60_000);

		const home = await startHomeNode(
			['--data', await tmp('home'), '--listen', '0', '--sync-server', server.wsUrl],
			{ CHARTER_PHRASE: phrase }
		);
		cleanup.push(() => home.stop());
		await home.waitForLog(spaceStatus(space.id, HISTORY), 'the history', 60_000);

		// Alice's laptop and Bob's new device both use the sync server and the home node
		await alice.close();
		alice = await Charter.open({ dataDir: aliceDir, syncServers: [server.wsUrl, home.url] });
		cleanup.push(() => alice.close());
		const general = alice.space(space.id)!.channels[0]!;
		await eventually(() => alice.peers.length === 2, 'Alice to reach both peers');
		const bob = await Charter.open({ dataDir: bobDir, syncServers: [server.wsUrl, home.url] });
		cleanup.push(() => bob.close());
		await eventually(() => bob.peers.length === 2, 'Bob to reach both peers');
		const bobSpace = await bob.openSpace(space.id);

		// Alice keeps talking while Bob syncs; the server is killed once Bob is part-way
		const LIVE = 300;
		let written = 0;
		const talking = (async () => {
			for (; written < LIVE; written++) {
				await general.send(`live ${written}`);
				await new Promise((r) => setTimeout(r, 5));
			}
		})();
		const bobGeneral = await eventually(() => bobSpace.channels[0], "Bob's channel to open");
		// part-way: Bob reads Alice's live messages through both peers, and she has 100+ still to write
		const atKill = await eventually(
			() => {
				const n = bobGeneral.messages.length;
				return n > HISTORY && written < LIVE - 100 && { bob: n, written };
			},
			'Bob to be part-way',
			60_000
		);
		server.child.kill('SIGKILL');
		await new Promise<void>((r) => server.child.once('exit', () => r()));
		expect(atKill.bob).toBeLessThan(HISTORY + LIVE - 100);

		await talking;
		await eventually(() => alice.peers.length === 1, 'Alice to notice the server is gone');
		await bobGeneral.send('reply after the crash');
		const total = HISTORY + LIVE + 1;
		await eventually(
			() => bobGeneral.messages.length === total && general.messages.length === total,
			'both to hold every message',
			90_000
		);
		expect(summary(bobGeneral.messages)).toEqual(summary(general.messages));
		expect(bobGeneral.rejections).toEqual([]);
		expect(bobSpace.rejections).toEqual([]);
		expect(bob.refusedChanges.total).toBe(0);
		await home.waitForLog(spaceStatus(space.id, total), 'every message', 30_000);
		expect(await home.stop()).toBe(0);
	}, 240_000);

	it('✓ compacts a channel its user moderates once it passes --compact-after', async () => {
		const server = await startSyncServerProcess();
		cleanup.push(() => server.stop());
		const alice = await Charter.open({
			dataDir: await tmp('alice-c'),
			syncServers: [server.wsUrl]
		});
		cleanup.push(() => alice.close());
		const { phrase } = await alice.createIdentity();
		const space = await alice.createSpace({ name: 'Long talk' });
		const general = space.channels[0]!;
		for (let i = 0; i < 30; i++) await general.send(`message ${i}`);
		expect(general.uncompacted).toBeGreaterThanOrEqual(30);
		const phraseFile = join(await tmp('phrase-c'), 'phrase.txt');
		await writeFile(phraseFile, `${phrase}\n`, { mode: 0o600 });
		const home = await startHomeNode([
			'--data',
			await tmp('home-c'),
			'--listen',
			'0',
			'--sync-server',
			server.wsUrl,
			'--phrase-file',
			phraseFile,
			'--compact-after',
			'20'
		]);
		cleanup.push(() => home.stop());
		const compacted = await home.waitForLog(
			(l) => l.msg === 'channel compacted' && l.channel === general.id,
			'the channel compacted'
		);
		expect(compacted.generation).toBe(1);
		expect(compacted.entries).toBeGreaterThanOrEqual(30);
		await eventually(() => general.generation === 1, 'Alice to follow the compacted history');
		expect(general.uncompacted).toBeLessThan(20);
		await general.send('after');
		expect(general.messages).toHaveLength(31);
	});

	it('✓ the echo bot example creates its user, joins by invite with no sync server, and answers', async () => {
		const alice = await Charter.open({ inMemory: true, listen: { port: 0 } });
		cleanup.push(() => alice.close());
		await alice.createIdentity();
		const space = await alice.createSpace({ name: 'Bots welcome' });
		const { link } = await space.createInvite({ maxUses: 1 });
		const botDir = await tmp('bot');
		const bot = await startHomeNode(
			[
				'--data',
				botDir,
				'--new-identity',
				'--listen',
				'0',
				'--peer',
				alice.listeningUrl!,
				'--join',
				link
			],
			{},
			'src/node/echo-bot.ts'
		);
		cleanup.push(() => bot.stop());
		await bot.waitForLog((l) => l.msg === 'joined a space by invite', 'the join');
		expect((await stat(join(botDir, 'recovery-phrase.txt'))).mode & 0o777).toBe(0o600);
		const card = await readFile(join(botDir, 'member-card.txt'), 'utf8');
		expect(card.trim().length).toBeGreaterThan(20);
		const general = space.channels[0]!;
		await eventually(() => space.members.length === 2, 'the bot to be a member');
		await general.send('!ping');
		await general.send('plaintext-marker: not a command');
		await general.send('!roll');
		const me = alice.identity!.userId;
		await eventually(
			() =>
				general.messages.some((m) => m.author !== me && m.text === 'pong') &&
				general.messages.some((m) => m.author !== me && /^🎲 [1-6]$/.test(m.text)),
			'the bot to answer both commands'
		);
		expect(general.messages.filter((m) => m.author !== me)).toHaveLength(2);
		expect(await bot.stop()).toBe(0);
		expect(bot.output()).not.toContain('plaintext-marker');
		expect(bot.output()).not.toContain('pong');
		expect(bot.output()).not.toContain(link.slice(-20));
	}, 120_000);
});

describe('home node flags', () => {
	const parse = (argv: string[], env: Record<string, string> = {}, file = '') =>
		parseNodeConfig(argv, env, () => file);
	const refused = (argv: string[], env: Record<string, string> = {}, file = '') => {
		try {
			parse(argv, env, file);
		} catch (error) {
			expect(error).toBeInstanceOf(NodeConfigError);
			return (error as Error).message;
		}
		throw new Error('accepted');
	};

	it('✓ parses a full command line, with repeatable servers and peers', () => {
		const phrase = createRecoveryPhrase();
		const config = parse(
			[
				'--data',
				'node-data',
				'--listen',
				'0',
				'--sync-server',
				'ws://a:1',
				'--sync-server',
				'wss://b',
				'--peer',
				'ws://c:2',
				'--phrase-file',
				'p.txt'
			],
			{},
			`  ${phrase.split(' ').join('\n')}\n`
		);
		expect(config).toMatchObject({
			listen: { port: 0, host: '127.0.0.1' },
			syncServers: ['ws://a:1', 'wss://b'],
			peers: ['ws://c:2'],
			phrase,
			newIdentity: false
		});
		expect(parse(['--help'])).toBe('help');
		expect(parse(['--data', 'd'])).toMatchObject({ compactAfter: 2000 });
		expect(parse(['--data', 'd'], { CHARTER_COMPACT_AFTER: '0' })).toMatchObject({
			compactAfter: 0
		});
		expect(parse(['--data', 'd'], { CHARTER_PHRASE: phrase })).toMatchObject({ phrase });
	});

	it('✓ refuses bad flags with a clear message, never echoing a phrase', () => {
		expect(refused([])).toMatch(/--data <dir> is required/);
		expect(refused(['--data', 'd', '--bogus'])).toMatch(/bogus/);
		expect(refused(['--data', 'd', '--listen', '70000'])).toMatch(/--listen must be an integer/);
		expect(refused(['--data', 'd', '--sync-server', 'http://x'])).toMatch(/ws:\/\/ or wss:\/\//);
		expect(refused(['--data', 'd', '--host', '0.0.0.0'])).toMatch(/--host needs --listen/);
		const wrong = 'correct horse battery staple '.repeat(6).trim();
		const message = refused(['--data', 'd'], { CHARTER_PHRASE: wrong });
		expect(message).toMatch(/recovery phrase is not valid/);
		expect(message).not.toContain('horse');
		expect(
			refused(['--data', 'd', '--new-identity'], { CHARTER_PHRASE: createRecoveryPhrase() })
		).toMatch(/at most one/);
		expect(refused(['--data', 'd', '--join', 'not a link'])).toMatch(/invite link/);
		expect(refused(['--data', 'd', '--open', 'user_abc'])).toMatch(/space id/);
		expect(refused(['--data', 'd', '--compact-after', 'many'])).toMatch(/--compact-after must be/);
	});
});
