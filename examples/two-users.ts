/**
 * Two users, one encrypted channel, any automerge-repo sync server in between.
 *
 *   npm run example                      # against the local `npm start` server (ws://127.0.0.1:3030)
 *   npm run example -- ws://host:port    # against any sync server
 *
 * Each user gets a throwaway data directory; the sync server only ever sees ciphertext.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Charter, type Channel } from '../src/lib/index.js';

const server = process.argv[2] ?? `ws://127.0.0.1:${process.env.PORT ?? 3030}`;

async function waitFor(channel: Channel, count: number) {
	const deadline = Date.now() + 30_000;
	while (channel.messages.length < count) {
		if (Date.now() > deadline)
			throw new Error(`no message after 30 s — is a sync server running at ${server}?`);
		await new Promise((r) => setTimeout(r, 50));
	}
}

const dirs = [
	await mkdtemp(join(tmpdir(), 'charter-alice-')),
	await mkdtemp(join(tmpdir(), 'charter-bob-'))
];
const alice = await Charter.open({ dataDir: dirs[0], syncServers: [server] });
const bob = await Charter.open({ dataDir: dirs[1], syncServers: [server] });
try {
	await alice.createIdentity();
	await bob.createIdentity();
	console.log(
		`alice is ${alice.identity!.userId}\nbob   is ${bob.identity!.userId}\nsync server ${server}`
	);

	const space = await alice.createSpace({ name: 'Example space' });
	await space.addMember(await bob.memberCard());
	const general = space.channels[0]!;
	await general.send('Hello Bob, only the two of us can read this.');

	const bobsView = await bob.openSpace(space.id);
	while (!bobsView.channels[0]) await new Promise((r) => setTimeout(r, 50));
	const bobsGeneral = bobsView.channels[0];
	await waitFor(bobsGeneral, 1);
	await bobsGeneral.send('Hi Alice! The server only relays ciphertext.');
	await waitFor(general, 2);

	for (const m of general.messages) {
		const who = m.author === alice.identity!.userId ? 'alice' : 'bob';
		console.log(`#${general.name} <${who}> ${m.text}`);
	}
	console.log('ok');
} finally {
	await alice.close();
	await bob.close();
	await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}
