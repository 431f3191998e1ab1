/**
 * Story: Ada has a desk and a phone, linked; Ben is in her space. Everything the conversation
 * features write — a reply, a reaction, a mention, a pin, a topic, a thread — is Ada's on both of her
 * devices: what she does on one shows on the other, as her own (she can take back on the desk a
 * reaction she made on the phone), and what Ben does reaches both. Real repos, a real sync server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Charter } from '../../src/lib/index.js';
import { startSyncServerProcess } from '../support/sync-server-process.js';
import { eventually } from '../support/wait.js';

type Server = Awaited<ReturnType<typeof startSyncServerProcess>>;
let open: { clients: Charter[]; server?: Server } = { clients: [] };

afterEach(async () => {
	for (const c of open.clients) await c.close();
	await open.server?.stop();
	open = { clients: [] };
});

/** Ada (desk + phone, linked) and Ben, members of one space with #general, through a sync server. */
async function setup() {
	const server = await startSyncServerProcess();
	open.server = server;
	const desk = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	const phone = await Charter.open({ inMemory: true });
	const ben = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
	open.clients.push(desk, phone, ben);
	await desk.createIdentity();
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
	await eventually(() => onPhone.can('SEND_MESSAGES', general.id), 'the phone to be able to send');
	return {
		ada: {
			id: desk.identity!.userId,
			desk: { space, general },
			phone: { space: onPhone, general: phoneGeneral }
		},
		ben: { id: ben.identity!.userId, space: benSpace, general: benGeneral }
	};
}

describe('the conversation on linked devices', () => {
	it('✓ a reply, a reaction, a mention, a pin, a topic and a thread made on one of Ada’s devices show on the other as hers, and Ben’s reach both', async () => {
		const { ada, ben } = await setup();
		const question = await ben.general.send('who has the key to the shed?');
		await eventually(
			() => ada.phone.general.lookup(question.id) !== undefined,
			'the phone to have Ben’s question'
		);

		// ✓ a reply written on the desk shows on the phone, quoting Ben's question
		const reply = await ada.desk.general.send('I do', { replyTo: question.id });
		const replyOnPhone = await eventually(() => {
			const m = ada.phone.general.lookup(reply.id);
			return m !== undefined && m !== 'deleted' && m;
		}, 'the phone to have the reply');
		expect(replyOnPhone).toMatchObject({ author: ada.id, text: 'I do', replyTo: question.id });

		// ✓ a reaction made on the phone is Ada's on the desk, and she takes it back there
		await ada.phone.general.react(question.id, '👍');
		const reactionOnDesk = await eventually(() => {
			const m = ada.desk.general.lookup(question.id);
			return m !== undefined && m !== 'deleted' && m.reactions?.find((r) => r.emoji === '👍');
		}, 'the desk to see the phone’s reaction');
		expect(reactionOnDesk).toMatchObject({ count: 1, users: [ada.id], mine: true });
		await ada.desk.general.unreact(question.id, '👍');
		await eventually(() => {
			const m = ada.phone.general.lookup(question.id);
			return m !== undefined && m !== 'deleted' && !m.reactions?.length;
		}, 'the phone to see the reaction taken back');
		// ✓ and Ben saw the same: the reaction came and went
		await eventually(() => {
			const m = ben.general.lookup(question.id);
			return m !== undefined && m !== 'deleted' && !m.reactions?.length;
		}, 'Ben to see no reaction left');

		// ✓ Ben mentions Ada: both of her devices know the message mentions her
		const mention = await ben.general.send('@Ada bring it tomorrow', {
			mentions: { users: [ada.id] }
		});
		for (const general of [ada.desk.general, ada.phone.general]) {
			const m = await eventually(() => {
				const found = general.lookup(mention.id);
				return found !== undefined && found !== 'deleted' && found;
			}, 'the mention to reach each of Ada’s devices');
			expect(general.mentionsMe(m)).toBe(true);
		}

		// ✓ a pin made on the desk and a topic set on the phone show on the other device
		await ada.desk.general.pin(question.id);
		await eventually(
			() => ada.phone.general.pins.some((p) => p.message.id === question.id),
			'the phone to see the pin'
		);
		await ada.phone.space.updateChannel(ada.phone.general.id, { topic: 'the shed, the keys' });
		await eventually(
			() => ada.desk.general.topic === 'the shed, the keys',
			'the desk to see the topic'
		);
		await eventually(() => ben.general.topic === 'the shed, the keys', 'Ben to see the topic');

		// ✓ a thread Ben starts under his question: the phone answers in it, the desk reads it there
		await ben.general.thread(question.id).send('or is it in the drawer?');
		await eventually(
			() => ada.phone.general.thread(question.id).messages.length === 1,
			'the phone to see Ben’s thread'
		);
		const inThread = await ada.phone.general.thread(question.id).send('the drawer, left side');
		await eventually(
			() => ada.desk.general.thread(question.id).messages.some((m) => m.id === inThread.id),
			'the desk to see the phone’s answer in the thread'
		);
		const onDesk = ada.desk.general.thread(question.id).messages;
		expect(onDesk.map((m) => [m.author, m.text])).toEqual([
			[ben.id, 'or is it in the drawer?'],
			[ada.id, 'the drawer, left side']
		]);
		// ✓ a thread's messages stay out of the channel's own list on every device
		for (const general of [ada.desk.general, ada.phone.general, ben.general])
			expect(general.messages.some((m) => m.id === inThread.id)).toBe(false);
	});
});
