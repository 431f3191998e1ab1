/**
 * Story: Ada reads #general on her desk; her phone shows it read too. Ben, in the same space, sends
 * messages — one mentions her — and Ada sees how many she has not read and how many mention her.
 * How far she read travels in her private account document: Ben (or a sync server) holding its
 * envelope learns no channel, no message, no time. Whatever order her devices' markers arrive in,
 * the furthest one wins. Mute and mentions-only decide what notifies.
 */
import * as A from '@automerge/automerge';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
	Charter,
	threadMarkerKey,
	type Message,
	type Space,
	type UserId
} from '../../src/lib/index.js';
import { entryHash, entryKey } from '../../src/lib/encryption/entry.js';
import { userKey } from '../../src/lib/identity/ids.js';
import { accountIdOf, furthestMarker, type ReadMarkerRecord } from '../../src/lib/sync/account.js';
import { bytesWrittenBy, envelopeDocumentId } from '../../src/lib/sync/envelope.js';
import { startSyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';

type Server = Awaited<ReturnType<typeof startSyncServerProcess>>;
let open: { clients: Charter[]; server?: Server } = { clients: [] };

afterEach(async () => {
	for (const c of open.clients) await c.close();
	await open.server?.stop();
	open = { clients: [] };
});

/** The envelope document of a user's account: any peer that knows the user id can fetch it. */
const accountEnvelope = (client: Charter, user: UserId) =>
	client.wire.open(envelopeDocumentId(accountIdOf(userKey(user)), new Uint8Array(16)));
const accountEntries = async (client: Charter, user: UserId) =>
	bytesWrittenBy(A.getAllChanges((await accountEnvelope(client, user)).doc()));

/** Ada (desk + phone, linked) and Ben, members of one space with #general, through a sync server. */
async function setup(options: { readMarkerDelayMs?: number } = {}) {
	const server = await startSyncServerProcess();
	open.server = server;
	const desk = await Charter.open({ inMemory: true, syncServers: [server.wsUrl], ...options });
	const phone = await Charter.open({ inMemory: true, ...options });
	const ben = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	open.clients.push(desk, phone, ben);
	const { phrase } = await desk.createIdentity();
	await ben.createIdentity();
	await desk.setProfile({ displayName: 'Ada' });
	await ben.setProfile({ displayName: 'Ben' });
	const space = await desk.createSpace({ name: 'Workshop', channelName: 'general' });
	await space.addMember(await ben.memberCard());
	const { code, linked } = await desk.linkDevice();
	await phone.acceptDeviceLink(code);
	await linked;
	const benSpace = await ben.openSpace(space.id);
	const onPhone = await eventually(() => phone.space(space.id), 'the phone to have the space');
	const general = space.channels[0]!;
	const benGeneral = await eventually(() => benSpace.channel(general.id), 'Ben to have #general');
	await eventually(() => benSpace.can('SEND_MESSAGES', general.id), 'Ben to be able to send');
	const phoneGeneral = await eventually(() => onPhone.channel(general.id), 'the phone’s #general');
	return {
		server,
		phrase,
		ada: { desk, phone, space, onPhone, general, phoneGeneral },
		ben: { client: ben, space: benSpace, general: benGeneral }
	};
}

const unreadOf = (client: Charter, space: Space) =>
	client.readState.channel(space, space.channel(space.channels[0]!.id)!);

describe('unread and read state', () => {
	it('✓ Ada sees what Ben wrote unread, with the mention; reading it on her desk reads it on her phone, and on nobody else’s', async () => {
		const { ada, ben } = await setup({ readMarkerDelayMs: 50 });
		await ben.general.send('morning all');
		await ben.general.send('@Ada can you look at the lathe?');
		const last = await ben.general.send('thanks!');
		// ✓ three unread on each of Ada's devices, one of them mentions her
		for (const [client, space] of [
			[ada.desk, ada.space],
			[ada.phone, ada.onPhone]
		] as const) {
			await eventually(() => unreadOf(client, space).unread === 3, 'three unread');
			expect(unreadOf(client, space)).toMatchObject({ unread: 3, mentions: 1 });
			expect(client.readState.space(space)).toEqual({ unread: 3, mentions: 1 });
		}
		// ✓ the divider goes at the first unread message
		expect(unreadOf(ada.desk, ada.space).firstUnread).toBe(ada.general.messages[0]!.id);

		// ✓ reading on the desk: read there at once, and on the phone once the marker syncs
		expect(ada.desk.readState.markRead(ada.general)).toBe(true);
		expect(unreadOf(ada.desk, ada.space)).toEqual({ unread: 0, mentions: 0 });
		await eventually(
			() => ada.phone.readState.marker(ada.general.id)?.message === last.id,
			'the phone to get the marker'
		);
		expect(unreadOf(ada.phone, ada.onPhone)).toEqual({ unread: 0, mentions: 0 });

		// ✓ Ben's client can fetch Ada's account envelope, but learns nothing from it
		const adaId = ada.desk.identity!.userId;
		const held = await eventually(async () => {
			const entries = await accountEntries(ben.client, adaId);
			const onDesk = await accountEntries(ada.desk, adaId);
			return entries.length >= onDesk.length && entries.length > 0 && entries;
		}, 'Ben to hold every entry of Ada’s account envelope');
		const blob = Buffer.concat(held).toString('latin1');
		for (const secret of [ada.general.id, last.id, 'Workshop', '"read"', 'general'])
			expect(blob).not.toContain(secret);
		expect(ben.client.readState.marker(ada.general.id)).toBeUndefined();
		// ✓ and Ben's own unread state is his: he wrote these, none is unread for him
		expect(ben.client.readState.channel(ben.space, ben.general)).toEqual({
			unread: 0,
			mentions: 0
		});
	});

	it('✓ a message Ada writes reads everything before it; a newer message by Ben is unread again', async () => {
		const { ada, ben } = await setup();
		await ben.general.send('one');
		await eventually(() => unreadOf(ada.desk, ada.space).unread === 1, 'one unread');
		await ada.general.send('on it');
		expect(unreadOf(ada.desk, ada.space).unread).toBe(0);
		await eventually(() => ben.general.messages.length === 2, 'Ben to see Ada’s reply');
		await ben.general.send('great, @ada');
		await eventually(() => unreadOf(ada.desk, ada.space).unread === 1, 'Ben’s answer unread');
		// ✓ the mention matches whatever the case; a longer name does not
		expect(unreadOf(ada.desk, ada.space).mentions).toBe(1);
		await ben.general.send('@Adalbert is a different person');
		await eventually(() => unreadOf(ada.desk, ada.space).unread === 2, 'two unread');
		expect(unreadOf(ada.desk, ada.space).mentions).toBe(1);
		// ✓ "mark all read" for the space
		ada.desk.readState.markSpaceRead(ada.space);
		expect(ada.desk.readState.space(ada.space)).toEqual({ unread: 0, mentions: 0 });
	});

	it('✓ marker writes are coalesced: reading message after message adds one account entry', async () => {
		const { ada, ben } = await setup({ readMarkerDelayMs: 60_000 });
		const adaId = ada.desk.identity!.userId;
		const before = (await accountEntries(ada.desk, adaId)).length;
		for (const text of ['a', 'b', 'c', 'd', 'e']) {
			const sent = await ben.general.send(text);
			await eventually(
				() => ada.general.messages.some((m) => m.id === sent.id),
				'Ada to receive it'
			);
			// ✓ each read applies at once here…
			expect(ada.desk.readState.markRead(ada.general)).toBe(true);
			expect(unreadOf(ada.desk, ada.space).unread).toBe(0);
		}
		// ✓ …and a marker that is not further is no write at all
		expect(ada.desk.readState.markRead(ada.general, ada.general.messages[0])).toBe(false);
		expect((await accountEntries(ada.desk, adaId)).length).toBe(before);
		await ada.desk.readState.flush();
		// ✓ five reads, one entry, carrying the furthest marker
		expect((await accountEntries(ada.desk, adaId)).length).toBe(before + 1);
		await eventually(
			() => ada.phone.readState.marker(ada.general.id)?.message === ada.general.messages.at(-1)!.id,
			'the phone to get the furthest marker'
		);
	});

	it('✓ the furthest marker wins, whatever order the markers arrive in (fast-check)', async () => {
		// the merge itself: a total order, so every order of any set of markers ends the same
		fc.assert(
			fc.property(
				fc.array(
					fc.record({
						channel: fc.constant('chan_x' as const),
						message: fc.string({ maxLength: 4 }),
						at: fc.integer({ min: 0, max: 5 })
					}),
					{ minLength: 1, maxLength: 12 }
				),
				fc.infiniteStream(fc.integer()),
				(markers, keys) => {
					const order = [...markers.keys()];
					const k = [...keys.take(order.length)];
					order.sort((a, b) => k[a]! - k[b]! || a - b);
					const inOrder = markers.reduce<ReadMarkerRecord | undefined>(furthestMarker, undefined);
					const shuffled = order
						.map((i) => markers[i]!)
						.reduce<ReadMarkerRecord | undefined>(furthestMarker, undefined);
					expect(shuffled).toEqual(inOrder);
					for (const m of markers)
						expect(
							inOrder!.at > m.at || (inOrder!.at === m.at && inOrder!.message >= m.message)
						).toBe(true);
				}
			)
		);

		// and real account entries: the desk read further, the phone (behind) wrote later
		const { ada, ben, phrase } = await setup({ readMarkerDelayMs: 60_000 });
		const adaId = ada.desk.identity!.userId;
		const sent: Message[] = [];
		for (const text of ['one', 'two', 'three']) sent.push(await ben.general.send(text));
		await eventually(() => ada.general.messages.length === 3, 'the desk to have all three');
		await eventually(() => ada.phoneGeneral.messages.length === 3, 'the phone to have all three');
		ada.desk.readState.markRead(ada.general);
		await ada.desk.readState.flush();
		ada.phone.readState.markRead(ada.phoneGeneral, ada.phoneGeneral.messages[0]);
		await ada.phone.readState.flush();
		ada.phone.readState.markRead(ada.phoneGeneral, ada.phoneGeneral.messages[1]);
		await ada.phone.readState.flush();
		const entries = await eventually(async () => {
			const all = await accountEntries(ada.desk, adaId);
			return ada.desk.readState.marker(ada.general.id)?.message === sent[2]!.id &&
				(await accountEntries(ada.phone, adaId)).length <= all.length
				? all
				: undefined;
		}, 'the desk to hold the phone’s entries');
		// ✓ the desk keeps the furthest (its own), though the phone's arrived after it
		expect(ada.desk.readState.marker(ada.general.id)?.message).toBe(sent[2]!.id);
		// ✓ a new device of Ada's receiving the entries in any order ends at the same marker
		await fc.assert(
			fc.asyncProperty(fc.array(fc.integer(), { minLength: 64, maxLength: 64 }), async (keys) => {
				const reader = await Charter.open({ inMemory: true });
				try {
					await reader.restoreIdentity(phrase);
					const order = [...entries.keys()].sort((a, b) => keys[a % 64]! - keys[b % 64]! || a - b);
					const handle = await accountEnvelope(reader, adaId);
					for (const i of order)
						await reader.wire.append(handle, [
							{ key: entryKey(entryHash(entries[i]!)), bytes: entries[i]! }
						]);
					await eventually(
						() => reader.readState.marker(ada.general.id)?.message === sent[2]!.id,
						'the new device to settle on the furthest marker'
					);
				} finally {
					await reader.close();
				}
			}),
			{ numRuns: 5 }
		);
	});
});

describe('threads’ read state', () => {
	it('✓ a thread Ada started has its own unread state: #general stays read, the thread shows Ben’s replies and the mention, and reading it on her desk reads it on her phone', async () => {
		const { ada, ben } = await setup({ readMarkerDelayMs: 50 });
		const question = await ada.general.send('Who has the lathe key?');
		await eventually(() => ben.general.lookup(question.id), 'Ben to see the question');
		await ben.general.send('I do', { thread: question.id });
		const last = await ben.general.thread(question.id).send('@Ada shall I bring it?');
		for (const [client, space] of [
			[ada.desk, ada.space],
			[ada.phone, ada.onPhone]
		] as const) {
			const threads = () => client.readState.threads(space);
			await eventually(() => threads()[0]?.info.unread === 2, 'two unread in the thread');
			// ✓ the thread she started: two unread, one mentions her
			expect(threads().map((t) => [t.thread.rootId, t.info.unread, t.info.mentions])).toEqual([
				[question.id, 2, 1]
			]);
			// ✓ #general: nothing unread (thread messages are not the channel's), the mention counts
			expect(unreadOf(client, space)).toEqual({ unread: 0, mentions: 1 });
		}
		// ✓ reading the thread on the desk: read there at once, on the phone once the marker syncs
		const thread = ada.general.thread(question.id);
		expect(ada.desk.readState.markThreadRead(thread)).toBe(true);
		expect(ada.desk.readState.thread(ada.space, thread)).toEqual({ unread: 0, mentions: 0 });
		const onPhone = ada.phoneGeneral.thread(question.id);
		await eventually(
			() =>
				ada.phone.readState.marker(threadMarkerKey(ada.general.id, question.id))?.message ===
				last.id,
			'the phone to get the thread’s marker'
		);
		expect(ada.phone.readState.thread(ada.onPhone, onPhone)).toEqual({ unread: 0, mentions: 0 });
		expect(unreadOf(ada.phone, ada.onPhone)).toEqual({ unread: 0, mentions: 0 });
		// ✓ the channel's own marker did not move: a thread's marker is the thread's
		expect(ada.phone.readState.marker(ada.general.id)).toBeUndefined();
		// ✓ Ben took part too: his thread, read by his own replies
		expect(
			ben.client.readState.threads(ben.space).map((t) => [t.thread.rootId, t.info.unread])
		).toEqual([[question.id, 0]]);
	});
});

describe('notifications', () => {
	it('✓ new messages notify; mentions-only lets only mentions through; mute silences; a channel’s level beats its space’s; the levels follow Ada to her phone', async () => {
		const { ada, ben } = await setup();
		const seen: { text: string; mention: boolean }[] = [];
		const stop = ada.desk.notificationSettings.onNotify((e) =>
			seen.push({ text: e.message.text, mention: e.mention })
		);
		const arrives = (text: string) =>
			eventually(() => seen.some((s) => s.text === text), `“${text}” to notify`);
		const received = (text: string) =>
			eventually(() => ada.general.messages.some((m) => m.text === text), `“${text}” to arrive`);

		await ben.general.send('hello');
		await arrives('hello');
		// ✓ Ada's own messages never notify her
		await ada.general.send('hi Ben');

		// mentions only, in this channel
		await ada.desk.notificationSettings.set(ada.general.id, 'mentions');
		expect(ada.desk.notificationSettings.effective(ada.space.id, ada.general.id)).toBe('mentions');
		await ben.general.send('plain chatter');
		await received('plain chatter');
		await ben.general.send('@Ada over here');
		await arrives('@Ada over here');
		// ✓ the chatter before it did not notify (it arrived first: this is not a race)
		expect(seen).toEqual([
			{ text: 'hello', mention: false },
			{ text: '@Ada over here', mention: true }
		]);

		// the whole space muted, the channel following it
		await ada.desk.notificationSettings.set(ada.general.id, 'default');
		await ada.desk.notificationSettings.set(ada.space.id, 'none');
		await ben.general.send('@Ada muted mention');
		await received('@Ada muted mention');
		// ✓ a channel set to "all" beats its muted space
		await ada.desk.notificationSettings.set(ada.general.id, 'all');
		await ben.general.send('loud again');
		await arrives('loud again');
		expect(seen.map((s) => s.text)).toEqual(['hello', '@Ada over here', 'loud again']);

		// ✓ the levels are in Ada's account: her phone has them too
		await eventually(
			() =>
				ada.phone.notificationSettings.level(ada.space.id) === 'none' &&
				ada.phone.notificationSettings.level(ada.general.id) === 'all',
			'the phone to have the levels'
		);
		// ✓ Ben's client knows nothing of them
		expect(ben.client.notificationSettings.level(ada.space.id)).toBe('default');
		// ✓ a bad level is refused
		await expect(
			ada.desk.notificationSettings.set(ada.general.id, 'loud' as never)
		).rejects.toMatchObject({ code: 'invalid-argument' });
		stop();
	});
	it('✓ Ada follows the threads she started, wrote in or was mentioned in: those notify (by #general’s level), the others do not', async () => {
		const { ada, ben } = await setup();
		const seen: { text: string; thread?: string; mention: boolean }[] = [];
		const stop = ada.desk.notificationSettings.onNotify((e) =>
			seen.push({
				text: e.message.text,
				mention: e.mention,
				...(e.thread ? { thread: e.thread.rootId } : {})
			})
		);
		const arrives = (text: string) =>
			eventually(() => seen.some((s) => s.text === text), `“${text}” to notify`);
		const inThread = (root: string, text: string) =>
			eventually(
				() => ada.general.thread(root).messages.some((m) => m.text === text),
				`“${text}” to arrive in the thread`
			);

		// a thread Ada wrote in: Ben's answer there notifies her, naming the thread
		const lathe = await ben.general.send('Who has the lathe key?');
		await arrives('Who has the lathe key?');
		await ada.general.thread(lathe.id).send('I might');
		await ben.general.thread(lathe.id).send('great, bring it');
		await arrives('great, bring it');
		// a thread of Ben's alone: its messages do not notify Ada…
		const saw = await ben.general.send('Saw blades');
		await arrives('Saw blades');
		await ben.general.thread(saw.id).send('ordering more');
		await inThread(saw.id, 'ordering more');
		expect(ada.desk.readState.follows(ada.space, ada.general.thread(saw.id))).toBe(false);
		// …until Ben mentions her there: now she follows it, and it notifies
		await ben.general.thread(saw.id).send('@Ada which size?');
		await arrives('@Ada which size?');
		expect(ada.desk.readState.follows(ada.space, ada.general.thread(saw.id))).toBe(true);
		// ✓ each notified as it should; "ordering more" (arrived before the mention) did not
		expect(seen).toEqual([
			{ text: 'Who has the lathe key?', mention: false },
			{ text: 'great, bring it', thread: lathe.id, mention: false },
			{ text: 'Saw blades', mention: false },
			{ text: '@Ada which size?', thread: saw.id, mention: true }
		]);
		// ✓ both threads are in her Threads list (followed), the mention counted
		expect(
			ada.desk.readState
				.threads(ada.space)
				.map((t) => [t.thread.rootId, t.info.unread, t.info.mentions])
		).toEqual([
			[saw.id, 2, 1],
			[lathe.id, 1, 0]
		]);

		// ✓ #general on mentions-only: a thread's plain reply is silent, a mention gets through
		await ada.desk.notificationSettings.set(ada.general.id, 'mentions');
		await ben.general.thread(lathe.id).send('on my way');
		await inThread(lathe.id, 'on my way');
		await ben.general.thread(lathe.id).send('@Ada here now');
		await arrives('@Ada here now');
		// ✓ muted: not even a mention in a thread
		await ada.desk.notificationSettings.set(ada.space.id, 'none');
		await ada.desk.notificationSettings.set(ada.general.id, 'default');
		await ben.general.thread(lathe.id).send('@Ada muted');
		await inThread(lathe.id, '@Ada muted');
		await ada.desk.notificationSettings.set(ada.general.id, 'all');
		await ben.general.thread(lathe.id).send('loud again');
		await arrives('loud again');
		expect(seen.slice(4).map((s) => s.text)).toEqual(['@Ada here now', 'loud again']);
		stop();
	});

	it('✓ @here mentions Ben while he is online, not while he appears offline: no badge, no notification, no highlight', async () => {
		const { ada, ben } = await setup();
		await ben.client.notificationSettings.set(ben.general.id, 'mentions');
		const seen: string[] = [];
		const stop = ben.client.notificationSettings.onNotify((e) => seen.push(e.message.text));
		const arrives = (text: string) =>
			eventually(() => seen.includes(text), `“${text}” to notify Ben`);
		const byText = (text: string) => ben.general.messages.find((m) => m.text === text);
		const received = (text: string) => eventually(() => byText(text), `“${text}” to reach Ben`);
		const unread = () => ben.client.readState.channel(ben.space, ben.general);

		await ada.general.send('@here standup', { mentions: { here: true } });
		await arrives('@here standup');
		// ✓ online: a mention (badge and highlight)
		expect(unread()).toMatchObject({ unread: 1, mentions: 1 });
		expect(ben.general.mentionsMe((await received('@here standup'))!)).toBe(true);

		// Ben appears offline: an @here is not said to him
		await ben.client.setSharePresence(false);
		await ada.general.send('@here second call', { mentions: { here: true } });
		const second = await received('@here second call');
		await ada.general.send('@Ben you there?', {
			mentions: { users: [ben.client.identity!.userId] }
		});
		await arrives('@Ben you there?');
		// ✓ unread, but no mention, no notification (the direct mention after it got through)
		expect(unread()).toMatchObject({ unread: 3, mentions: 2 });
		expect(ben.general.mentionsMe(second!)).toBe(false);
		expect(seen).toEqual(['@here standup', '@Ben you there?']);
		// ✓ and an @everyone still reaches him: it is not about presence
		await ada.general.send('@everyone read this', { mentions: { everyone: true } });
		await arrives('@everyone read this');

		// ✓ back online: the next @here is his again
		await ben.client.setSharePresence(true);
		await ada.general.send('@here third', { mentions: { here: true } });
		await arrives('@here third');
		expect(unread()).toMatchObject({ unread: 5, mentions: 4 });
		stop();
	});
});
