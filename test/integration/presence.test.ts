/**
 * Story: Ada, Ben and Cy are in a space, each on their own device, through a real sync server on
 * loopback (with a recorder in the middle that keeps every WebSocket frame).
 * - Ben types in #general: Ada sees "Ben is typing", and then not — when it expires, or at once
 *   when Ben sends. Ada and Ben see each other online; Ben appears offline and Ada sees him go.
 * - Cy may not send in #general: his typing is ignored on every peer (the rule test), even when he
 *   crafts the signal himself.
 * - Nothing false gets through: a replayed signal, an old one, a forged signature, a signal from a
 *   non-member, garbage and an oversized message are each dropped and counted, never thrown.
 * - A relay learns no more than from entries: the frames carry sealed, signed bytes of one size,
 *   with no user id, name or channel id in them; nothing lands on the server's disk or in any
 *   document (heads unchanged), and the server counts what it relayed.
 */
import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import * as A from '@automerge/automerge';
import { cbor } from '@automerge/automerge-repo';
import { Charter, type Channel, type Space, type UserId } from '../../src/lib/index.js';
import { startSyncServer, type RunningSyncServer } from '../../sync-server/server.js';
import { KeyRing } from '../../src/lib/encryption/keyring.js';
import { sealSignal, SIGNAL_KIND, type SignalKind } from '../../src/lib/encryption/signal.js';
import { channelIdBytes } from '../../src/lib/identity/ids.js';
import { base58, randomBytes, utf8 } from '../../src/lib/util/bytes.js';
import type { SecretStore } from '../../src/lib/identity/secret-store.js';
import { TYPING_TTL_MS } from '../../src/lib/client/presence.js';
import { recordFrames, type FrameRecorder } from '../support/frame-recorder.js';
import { identityOf } from '../support/hostile.js';
import { eventually } from '../support/wait.js';
import { bytesStored, filesUnder } from '../support/stored.js';

const silent = pino({ level: 'silent' });

interface Cast {
	server: RunningSyncServer;
	/** The server's storage directory. */
	dataDir: string;
	recorder: FrameRecorder;
	ada: Charter;
	ben: Charter;
	cy: Charter;
	dan: Charter;
	space: Space;
	/** Each one's view of the space and of #general. */
	on: (c: Charter) => Space;
	general: (c: Charter) => Channel;
	user: (c: Charter) => UserId;
	close(): Promise<void>;
}

/** Ada's space with Ben and Cy (Cy may not send in #general), all through one sync server. Dan is an outsider. */
async function setup(): Promise<Cast> {
	const dataDir = await mkdtemp(join(tmpdir(), 'charter-presence-'));
	const server = await startSyncServer({ port: 0, dataDir, logger: silent });
	const recorder = await recordFrames(server.wsUrl);
	const open = async (name: string) => {
		const client = await Charter.open({
			inMemory: true,
			deviceName: name,
			syncServers: [recorder.url]
		});
		await client.createIdentity();
		return client;
	};
	const [ada, ben, cy, dan] = [
		await open('ada'),
		await open('ben'),
		await open('cy'),
		await open('dan')
	];
	const space = await ada.createSpace({ name: 'Book club' });
	await space.addMember(await ben.memberCard());
	await space.addMember(await cy.memberCard());
	const generalId = space.channels[0]!.id;
	await space.setChannelPermissions(
		generalId,
		{ user: cy.identity!.userId },
		{ deny: ['SEND_MESSAGES'] }
	);
	for (const c of [ben, cy]) {
		const theirs = await c.openSpace(space.id);
		await eventually(
			() => theirs.channel(generalId) && theirs.state?.channels.get(generalId)?.overwrites,
			'the space to reach every member'
		);
	}
	const on = (c: Charter) => c.space(space.id)!;
	return {
		server,
		dataDir,
		recorder,
		ada,
		ben,
		cy,
		dan,
		space,
		on,
		general: (c) => on(c).channel(generalId)!,
		user: (c) => c.identity!.userId,
		close: async () => {
			for (const c of [ada, ben, cy, dan]) await c.close().catch(() => undefined);
			await recorder.close().catch(() => undefined);
			await server.close().catch(() => undefined);
		}
	};
}

/**
 * A signal sealed and signed as `signer`'s device, with the epoch key `keysFrom` holds (default:
 * the signer's own): what a hostile member, an outsider or a replaying relay could put on the wire.
 */
async function craft(
	signer: Charter,
	space: Space,
	document: Uint8Array,
	kind: SignalKind,
	options: { sentAt?: number; keysFrom?: Charter } = {}
): Promise<Uint8Array> {
	const identity = await identityOf(signer);
	const secrets = (c: Charter) =>
		(c as unknown as { stores: { secrets: SecretStore } }).stores.secrets;
	const keys = await KeyRing.load(secrets(options.keysFrom ?? signer), space.idBytes);
	const epoch = base58.decode(space.document.epochs![base58.encode(document)]!.toString());
	return sealSignal({
		space: space.idBytes,
		document,
		epoch,
		epochKey: keys.get(document, epoch)!,
		author: identity.deviceKey,
		session: randomBytes(8),
		body: { kind, sentAt: options.sentAt ?? Date.now() },
		sign: (m) => identity.signAsDevice(m)
	});
}

/** The data of every ephemeral frame the recorder saw. */
function ephemeralFrames(recorder: FrameRecorder): Uint8Array[] {
	const out: Uint8Array[] = [];
	for (const frame of recorder.frames) {
		try {
			const message = cbor.decode(new Uint8Array(frame)) as { type?: string; data?: Uint8Array };
			if (message.type === 'ephemeral' && message.data) out.push(message.data);
		} catch {
			/* not a repo message */
		}
	}
	return out;
}

async function ephemeralMetric(server: RunningSyncServer, outcome: string): Promise<number> {
	const metric = await server.metrics.ephemeral.get();
	return metric.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

const headsOf = (client: Charter) =>
	Object.fromEntries(
		Object.values(client.wire.repo.handles)
			.filter((h) => h.isReady())
			.map((h) => [h.documentId, A.getHeads(h.doc() as A.Doc<unknown>).join(',')])
	);

/** Whether every document that two of `clients` hold is at the same heads in both. */
const inSync = (...clients: Charter[]) => {
	const heads = clients.map(headsOf);
	return heads.every((mine) =>
		heads.every((theirs) =>
			Object.entries(mine).every(([id, at]) => !(id in theirs) || theirs[id] === at)
		)
	);
};

describe('typing', () => {
	it('✓ Ben types: Ada sees him typing, then not once it expires; a send clears it at once', async () => {
		const cast = await setup();
		const { ada, ben, general, user } = cast;
		try {
			const seen: UserId[][] = [];
			general(ada).onTyping((users) => seen.push(users));
			await general(ben).typing();
			// ✓ Ada sees Ben typing; Ben does not see himself
			await eventually(() => general(ada).typingUsers.includes(user(ben)), 'Ada to see Ben typing');
			expect(general(ada).typingUsers).toEqual([user(ben)]);
			expect(general(ben).typingUsers).toEqual([]);
			const shownAt = Date.now();
			// ✓ typing again within the throttle sends nothing more
			const sent = general(ben).typingStats.sent;
			await general(ben).typing();
			expect(general(ben).typingStats.sent).toBe(sent);
			// ✓ it expires on its own, about TYPING_TTL_MS after the signal
			await eventually(() => general(ada).typingUsers.length === 0, 'the typing to expire', 20_000);
			expect(Date.now() - shownAt).toBeGreaterThanOrEqual(TYPING_TTL_MS - 1_000);
			// ✓ and the listener is told (by the expiry timer, just after the time is up)
			await eventually(() => seen.at(-1)?.length === 0, 'the expiry to be reported', 2_000);
			// ✓ a send says "stopped": Ada's line clears before any expiry could
			await eventually(async () => {
				await general(ben).typing();
				return general(ada).typingUsers.includes(user(ben));
			}, 'Ada to see Ben typing again');
			const message = await general(ben).send('Chapter three is the best');
			await eventually(() => general(ada).typingUsers.length === 0, 'the send to clear it', 3_000);
			await eventually(
				() => general(ada).messages.some((m) => m.id === message.id),
				'the message to arrive'
			);
			// ✓ the sync server relayed them and dropped nothing of Ben's
			expect(await ephemeralMetric(cast.server, 'relayed')).toBeGreaterThanOrEqual(3);
			expect(general(ada).typingStats.dropped).toEqual({});
		} finally {
			await cast.close();
		}
	});

	it('✓ Cy, who may not send in #general, is ignored on every peer — even when he crafts the signal', async () => {
		const cast = await setup();
		const { ada, ben, cy, on, general, user } = cast;
		try {
			// ✓ his own client sends nothing for him
			await general(cy).typing();
			expect(general(cy).typingStats.sent).toBe(0);
			// he crafts one anyway, genuinely signed by his device, under the channel's key
			const document = channelIdBytes(general(cy).id);
			const forged = await craft(cy, on(cy), document, SIGNAL_KIND.typing);
			general(cy).envelope.broadcast(forged);
			// ✓ it reached Ada and Ben (counted), and neither shows it
			for (const c of [ada, ben])
				await eventually(
					() => (general(c).typingStats.dropped['not-permitted'] ?? 0) >= 1,
					'the signal to arrive and be refused'
				);
			// Ben types after it: Ada sees Ben, never Cy
			await general(ben).typing();
			await eventually(() => general(ada).typingUsers.includes(user(ben)), 'Ada to see Ben');
			expect(general(ada).typingUsers).toEqual([user(ben)]);
			expect(general(ada).typingUsers).not.toContain(user(cy));
		} finally {
			await cast.close();
		}
	});
});

describe('signals that must not get through', () => {
	it('✓ a replayed, an old, a forged, an outsider’s, a garbled and an oversized signal are each dropped and counted', async () => {
		const cast = await setup();
		const { ada, ben, cy, dan, on, general, user } = cast;
		try {
			const document = channelIdBytes(general(ada).id);
			// capture what Ben's device really sends, as a relay would
			const captured: Uint8Array[] = [];
			general(ada).envelope.on('ephemeral-message', ({ message }) => {
				if (message instanceof Uint8Array) captured.push(message);
			});
			await general(ben).typing();
			await eventually(() => general(ada).typingUsers.includes(user(ben)), 'Ada to see Ben');
			await general(ben).stopTyping();
			await eventually(() => general(ada).typingUsers.length === 0, 'Ben to stop');
			const [original] = captured;
			const stats = () => general(ada).typingStats.dropped;
			const inject = (bytes: Uint8Array) => general(cy).envelope.broadcast(bytes);

			// ✓ the same signal again (a replay by the relay or a member): dropped
			inject(original!);
			await eventually(() => stats().replayed === 1, 'the replay to be dropped');
			// ✓ a genuine signal of Ben's device from a minute ago: dropped as stale
			inject(
				await craft(ben, on(ben), document, SIGNAL_KIND.typing, { sentAt: Date.now() - 60_000 })
			);
			await eventually(() => stats().stale === 1, 'the old signal to be dropped');
			// ✓ a forged signature (one bit of the signature flipped)
			const tampered = original!.slice();
			tampered[tampered.length - 1]! ^= 1;
			inject(tampered);
			await eventually(() => stats()['bad-signature'] === 1, 'the forgery to be dropped');
			// ✓ a non-member's device, even holding the channel key
			inject(await craft(dan, on(cy), document, SIGNAL_KIND.typing, { keysFrom: cy }));
			await eventually(() => stats()['not-member'] === 1, "the outsider's signal to be dropped");
			// ✓ garbage of a signal's size
			inject(randomBytes(200));
			await eventually(() => stats().malformed === 1, 'garbage to be dropped');
			// ✓ oversized: the sync server drops it before it costs anyone anything
			inject(new Uint8Array(100_000).fill(7));
			await eventually(
				async () => (await ephemeralMetric(cast.server, 'malformed')) === 1,
				'the server to drop the oversized message'
			);
			// ✓ through all of it, nothing showed and nothing threw; a fresh signal still works
			expect(general(ada).typingUsers).toEqual([]);
			await eventually(async () => {
				await general(ben).typing();
				return general(ada).typingUsers.includes(user(ben));
			}, 'Ben to be seen again');
			expect(general(ada).typingUsers).toEqual([user(ben)]);
		} finally {
			await cast.close();
		}
	});
});

describe('presence', () => {
	it('✓ Ada and Ben see each other online; Ben appears offline and Ada sees him go; his setting follows his account', async () => {
		const cast = await setup();
		const { ada, ben, on, user } = cast;
		try {
			await eventually(() => on(ada).isOnline(user(ben)), 'Ada to see Ben online');
			await eventually(() => on(ben).isOnline(user(ada)), 'Ben to see Ada online');
			expect(on(ada).online).toEqual(expect.arrayContaining([user(ada), user(ben)]));
			// ✓ appear offline: Ada sees Ben go at once, and Ben's typing is not sent either
			expect(ben.sharePresence).toBe(true);
			await ben.setSharePresence(false);
			expect(ben.sharePresence).toBe(false);
			await eventually(() => !on(ada).isOnline(user(ben)), 'Ada to see Ben go offline');
			const sent = cast.general(ben).typingStats.sent;
			await cast.general(ben).typing();
			expect(cast.general(ben).typingStats.sent).toBe(sent);
			// ✓ back on: online again
			await ben.setSharePresence(true);
			await eventually(() => on(ada).isOnline(user(ben)), 'Ada to see Ben back');
			// ✓ closing says "offline"
			await ben.close();
			await eventually(() => !on(ada).isOnline(user(ben)), 'Ada to see Ben leave');
		} finally {
			await cast.close();
		}
	});

	it('✓ a newcomer’s “online” that reaches Ada before its join does is held, and counts once the join is in: Dan shows online at once, not at his next heartbeat', async () => {
		const cast = await setup();
		const { ada, cy, dan, on, user } = cast;
		try {
			// Dan's device says "online" (sealed under the space's key, carried by Cy's connection)
			// before Ada has added him: what a joiner's first signal looks like when it outruns the join
			const space = on(ada);
			const online = await craft(dan, on(cy), space.idBytes, SIGNAL_KIND.online, { keysFrom: cy });
			on(cy).envelope.broadcast(online);
			await eventually(
				() => space.presenceStats?.dropped['not-member'] === 1,
				'Ada to turn away a stranger’s signal'
			);
			expect(space.isOnline(user(dan))).toBe(false);
			// ✓ Ada adds Dan: the held signal is looked at again, in full, and now counts. Dan never
			// opened the space, so nothing else of his could have said he is online
			await space.addMember(await dan.memberCard());
			await eventually(() => space.isOnline(user(dan)), 'Ada to see Dan online', 5_000);
			expect(space.presenceStats?.dropped['not-member']).toBe(1); // counted once, when it came
			expect(dan.space(space.id)).toBeUndefined();
		} finally {
			await cast.close();
		}
	});
});

describe('what a relay learns', () => {
	it('✓ frames hold sealed signals of one size with no id or name in clear; nothing reaches the server’s disk or any document', async () => {
		const cast = await setup();
		const { ada, ben, on, general, user } = cast;
		try {
			await eventually(() => on(ada).isOnline(user(ben)), 'Ada to see Ben online');
			// what setup wrote has reached everyone (every document they share at the same heads):
			// only then can "no document changed" below mean that presence wrote nothing
			await eventually(() => inSync(ada, ben, cast.cy), 'setup to reach every member');
			const adaHeads = headsOf(ada);
			const benHeads = headsOf(ben);
			await general(ben).typing();
			await eventually(() => general(ada).typingUsers.includes(user(ben)), 'Ada to see Ben typing');
			await general(ben).stopTyping();
			await eventually(() => general(ada).typingUsers.length === 0, 'Ben to stop');
			// ✓ no document changed: presence and typing wrote nothing
			expect(headsOf(ada)).toEqual(adaHeads);
			expect(headsOf(ben)).toEqual(benHeads);
			const signals = ephemeralFrames(cast.recorder).map((d) => cbor.decode(d) as Uint8Array);
			// the captures really hold signals (typing, stopped, online), so the checks below can fail
			expect(signals.length).toBeGreaterThanOrEqual(4);
			// ✓ every one is a sealed signal, and all are the same size whatever they say
			for (const s of signals) expect(Buffer.from(s.subarray(0, 3)).toString()).toBe('CHS');
			expect(new Set(signals.map((s) => s.length)).size).toBe(1);
			// ✓ no user id, name, channel id or space name in clear
			const needles = [user(ada), user(ben), 'general', 'Book club', general(ada).id].map((n) =>
				Buffer.from(utf8.encode(n))
			);
			needles.push(Buffer.from(await identityOf(ben).then((i) => i.userKey)));
			for (const s of signals)
				for (const needle of needles) expect(Buffer.from(s).includes(needle)).toBe(false);
			await cast.close();
			// ✓ the server's disk holds entries, and no signal: in its documents as Automerge reads
			// them (a compacted document deflates its columns), nor anywhere in its files' raw bytes
			const stored = (await bytesStored(cast.dataDir)).map((b) =>
				Buffer.from(b.subarray(0, 3)).toString('latin1')
			);
			expect(stored).toContain('CHE');
			expect(stored).not.toContain('CHS');
			const disk = Buffer.concat(
				await Promise.all((await filesUnder(cast.dataDir)).map((f) => readFile(f)))
			);
			expect(disk.includes(Buffer.from([...Buffer.from('CHS'), 1]))).toBe(false);
		} finally {
			await cast.close();
		}
	});
});
