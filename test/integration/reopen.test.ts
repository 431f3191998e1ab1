/**
 * A device that closes and opens again (a browser reload, a restarted home node) resumes each
 * channel from its saved document. What others write afterwards builds on history it read before the
 * restart: new messages in existing buckets, edits of old messages. It must accept those, and its own
 * edits of old messages, exactly as if it had never restarted.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Charter } from '../../src/lib/index.js';
import { startSyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';
import * as A from '@automerge/automerge';
import { chunkFiles, storedDocuments } from '../support/stored.js';

describe('a device that restarts', async () => {
	const server = await startSyncServerProcess();
	const alice = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	const dir = await mkdtemp(join(tmpdir(), 'charter-reopen-'));
	let bob = await Charter.open({ dataDir: dir, syncServers: [server.wsUrl] });
	afterAll(async () => {
		await alice.close();
		await bob.close();
		await server.stop();
	});

	it('✓ accepts messages and edits that build on history saved before the restart, and edits its own old messages', async () => {
		await alice.createIdentity();
		await bob.createIdentity();
		const space = await alice.createSpace({ name: 'Restarts' });
		await space.addMember(await bob.memberCard());
		const channel = space.channels[0]!;
		for (let i = 0; i < 5; i++) await channel.send(`alice ${i}`);
		let theirs = await bob.openSpace(space.id);
		await eventually(() => theirs.channel(channel.id)?.messages.length === 5, 'Bob to read 5');
		const own = await theirs.channel(channel.id)!.send('bob before the restart');
		await eventually(() => channel.messages.length === 6, 'Alice to read Bob');
		await bob.close();

		// while Bob is away: more messages in Alice's existing bucket, and an edit of an old one
		for (let i = 5; i < 8; i++) await channel.send(`alice ${i}`);
		await channel.edit(channel.messages[0]!.id, 'alice 0, edited');

		bob = await Charter.open({ dataDir: dir, syncServers: [server.wsUrl] });
		theirs = await bob.openSpace(space.id);
		const bobChannel = () => theirs.channel(channel.id)!;
		await eventually(
			() =>
				bobChannel()?.messages.length === 9 &&
				bobChannel().messages.some((m) => m.text === 'alice 0, edited'),
			'Bob to accept what was written while he was away',
			20_000
		);
		await bobChannel().edit(own.id, 'bob, edited after the restart');
		await eventually(
			() => channel.messages.some((m) => m.text === 'bob, edited after the restart'),
			'Alice to see Bob’s edit'
		);
		expect(bobChannel().stats.pending).toBe(0);
		expect(bobChannel().stats.rejected).toBe(0);
		expect(channel.stats.rejected).toBe(0);
		expect(bobChannel().messages.map((m) => m.text)).toEqual(channel.messages.map((m) => m.text));
	});

	it('✓ opening spaces in the background: the one asked for first is open at once, the others follow in their order, and the list loses none', async () => {
		const dir = await mkdtemp(join(tmpdir(), 'charter-background-'));
		const ada = await Charter.open({ dataDir: dir });
		await ada.createIdentity();
		const made = [];
		for (const name of ['One', 'Two', 'Three', 'Four']) made.push(await ada.createSpace({ name }));
		await made[2]!.channels[0]!.send('in Three');
		await ada.close();

		const again = await Charter.open({
			dataDir: dir,
			openSpacesInBackground: true,
			openFirst: made[2]!.id
		});
		try {
			// ✓ the space asked for is open when open() returns, readable
			const first = again.space(made[2]!.id);
			expect(first?.name).toBe('Three');
			await eventually(() => first!.channels[0]?.messages.length === 1, 'Three to be readable');
			// ✓ a space made while the others still open is kept with them
			const fifth = await again.createSpace({ name: 'Five' });
			await again.allSpacesOpen;
			// ✓ every space, in the order they were known, the new one last
			expect(again.spaces.map((s) => s.name)).toEqual(['One', 'Two', 'Three', 'Four', 'Five']);
			expect(again.spaces.at(-1)!.id).toBe(fifth.id);
		} finally {
			await again.close();
		}
		// ✓ and the saved list still names all five
		const third = await Charter.open({ dataDir: dir });
		try {
			expect(third.spaces.map((s) => s.name)).toEqual(['One', 'Two', 'Three', 'Four', 'Five']);
		} finally {
			await third.close();
		}
	});

	it('✓ a space asked for twice at once, or while it opens in the background, is opened once: every caller gets the same space', async () => {
		const dir = await mkdtemp(join(tmpdir(), 'charter-open-once-'));
		const ada = await Charter.open({ dataDir: dir });
		await ada.createIdentity();
		const made = [];
		for (const name of ['One', 'Two', 'Three']) made.push(await ada.createSpace({ name }));
		await ada.close();

		const again = await Charter.open({ dataDir: dir, openSpacesInBackground: true });
		try {
			// the app asks for the last one twice (two views) while the background opens the others
			const [a, b] = await Promise.all([
				again.openSpace(made[2]!.id),
				again.openSpace(made[2]!.id)
			]);
			// ✓ one instance, and it is the one the client lists
			expect(a).toBe(b);
			await again.allSpacesOpen;
			expect(again.space(made[2]!.id)).toBe(a);
			expect(again.spaces.map((s) => s.name)).toEqual(['One', 'Two', 'Three']);
			// ✓ and it works: a message sent through it is read back
			await a.channels[0]!.send('hello once');
			expect(again.space(made[2]!.id)!.channels[0]!.messages.map((m) => m.text)).toEqual([
				'hello once'
			]);
		} finally {
			await again.close();
		}
	});

	/** Per envelope in a data directory's wire store: how many snapshot and incremental chunks. */
	const storedIn = async (dir: string) => {
		const kinds = new Map<string, { snapshot: number; incremental: number }>();
		for (const { id, kind } of await chunkFiles(join(dir, 'wire'))) {
			const counts = kinds.get(id) ?? { snapshot: 0, incremental: 0 };
			counts[kind]++;
			kinds.set(id, counts);
		}
		return [...kinds.values()];
	};

	/** Ada on a device of her own (a fresh data directory), with a space named `name`. */
	const adaWithASpace = async (name: string) => {
		const dir = await mkdtemp(join(tmpdir(), 'charter-compacted-'));
		const ada = await Charter.open({ dataDir: dir });
		await ada.createIdentity();
		const space = await ada.createSpace({ name });
		return { dir, stored: () => storedIn(dir), ada, space, general: space.channels[0]! };
	};

	it('✓ a device that closes leaves every envelope it held stored as one snapshot, and opens again with every message', async () => {
		const { dir, stored, ada, space, general } = await adaWithASpace('Compacted on close');
		const other = await space.createChannel({ name: 'other' });
		// saved one change at a time, as over a day of chatting, until automerge-repo has left
		// incremental chunks beside a snapshot (it compacts whenever they outweigh the snapshot)
		let sent = 0;
		while (sent < 30 || !(await stored()).some((c) => c.incremental > 0)) {
			if (sent === 200) throw new Error('automerge-repo left no incremental chunk');
			await (sent % 2 ? general : other).send(`message ${sent++}`);
			await ada.wire.repo.flush();
		}
		await ada.close();

		// ✓ one snapshot per envelope, nothing else
		const after = await stored();
		expect(after.length).toBeGreaterThanOrEqual(3); // the space and its two channels at least
		for (const counts of after) expect(counts).toEqual({ snapshot: 1, incremental: 0 });
		// ✓ and nothing lost
		const again = await Charter.open({ dataDir: dir });
		try {
			const reopened = await again.openSpace(space.id);
			expect(reopened.channel(general.id)!.messages.map((m) => m.text)).toEqual(
				general.messages.map((m) => m.text)
			);
			expect(reopened.channel(other.id)!.messages.map((m) => m.text)).toEqual(
				other.messages.map((m) => m.text)
			);
			expect(general.messages.length + other.messages.length).toBe(sent);
		} finally {
			await again.close();
		}
	});

	it('✓ a running device compacts its stores when asked (a hidden tab) while it keeps writing, and loses nothing', async () => {
		const { dir, stored, ada, space, general } = await adaWithASpace('Compacted while open');
		let sent = 0;
		const send = async () => {
			await general.send(`message ${sent++}`);
			await ada.wire.repo.flush();
		};
		// until some envelope is stored as more than one chunk, an incremental among them
		while (
			sent < 30 ||
			!(await stored()).some((c) => c.incremental > 0 && c.snapshot + c.incremental > 1)
		) {
			if (sent === 200) throw new Error('automerge-repo left no incremental chunk');
			await send();
		}
		// messages go on being sent and saved while the stores are rewritten
		const sending = (async () => {
			for (let i = 0; i < 10; i++) await send();
		})();
		expect(await ada.compactStores()).toBeGreaterThan(0);
		await sending;
		/** ✓ the store holds every change of every envelope in memory: no chunk lost to a rewrite */
		const expectEverythingStored = async () => {
			await ada.wire.repo.flush();
			const onDisk = await storedDocuments(join(dir, 'wire'));
			for (const [id, handle] of Object.entries(ada.wire.repo.handles)) {
				if (!handle.isReady()) continue;
				expect(A.getHeads(onDisk.get(id)!).sort()).toEqual(A.getHeads(handle.doc()).sort());
			}
		};
		await expectEverythingStored();
		// ✓ once nothing is being written, one snapshot per envelope
		await ada.compactStores();
		const compacted = await stored();
		expect(compacted.length).toBeGreaterThanOrEqual(2); // the space and its channel at least
		for (const counts of compacted) expect(counts).toEqual({ snapshot: 1, incremental: 0 });
		// ✓ the repo keeps saving after it (its own chunks, its own compactions)
		for (let i = 0; i < 5; i++) await send();
		await expectEverythingStored();
		await ada.close();
		const again = await Charter.open({ dataDir: dir });
		try {
			const reopened = await again.openSpace(space.id);
			// ✓ every message, those sent during the rewrite too
			expect(reopened.channel(general.id)!.messages.map((m) => m.text)).toEqual(
				Array.from({ length: sent }, (_, i) => `message ${i}`)
			);
		} finally {
			await again.close();
		}
	});
});
