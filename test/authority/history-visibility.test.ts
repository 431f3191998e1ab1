/**
 * Story: Ada's book club hides #general's history from newcomers. She denies @everyone
 * READ_MESSAGE_HISTORY there; Ben talks about the plot twist; Cy joins.
 * - Cy reads nothing said before he came in, and not because his app hides it: no lockbox anyone
 *   wrote seals him (or his invite) a key of an epoch of #general from before his join, and his
 *   key store holds none. The channel moved to a new epoch when he came in — named by Cy himself
 *   when everyone else is offline — and he reads everything said after.
 * - Dee, whose invite gives her @regulars (allowed the history in #general), reads everything.
 * - Added directly by Ada, Cy is the same; allowed the history later, he is handed the older keys.
 * - An invite made while the history was still visible carries the keys of that time: Cy's client
 *   does not use them, and nothing said after Ada hid the history is under a key it was sealed.
 * - Whatever order the entries reach a new device of Ada's, it ends in the same state.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Charter, EVERYONE, MemorySecretStore, type Space } from '../../src/lib/index.js';
import { parseEntry } from '../../src/lib/encryption/entry.js';
import { parseLockbox } from '../../src/lib/encryption/lockbox.js';
import { channelIdBytes, spaceIdBytes } from '../../src/lib/identity/ids.js';
import { base58 } from '../../src/lib/util/bytes.js';
import { joinFrom } from '../support/joining.js';
import {
	deliver,
	entriesOf,
	freshDevice,
	orderBy,
	personas,
	picture,
	shutdown,
	syncAll,
	userOf,
	type Persona
} from '../support/personas.js';

let cast: Persona[] = [];
afterEach(async () => {
	await shutdown(cast);
	cast = [];
});

/** A persona whose epoch keys are kept where the story can look (`secrets`). */
async function withSecrets(name: string): Promise<Persona & { secrets: MemorySecretStore }> {
	const secrets = new MemorySecretStore();
	const client = await Charter.open({ inMemory: true, deviceName: name, stores: { secrets } });
	await client.createIdentity();
	return { name, client, secrets };
}

/** Ada's book club with Ben; `hide`: #general's history hidden from @everyone. */
async function setup(options: { hide?: boolean } = {}) {
	const adaClient = await Charter.open({ inMemory: true, deviceName: 'ada' });
	const { phrase } = await adaClient.createIdentity();
	phrases.set(adaClient, phrase);
	const ada: Persona = { name: 'ada', client: adaClient };
	const { ben } = await personas('ben');
	const cy = await withSecrets('cy');
	cast.push(ada, ben, cy);
	const space = await ada.client.createSpace({ name: 'Book club' });
	await space.addMember(await ben.client.memberCard());
	const general = space.channels[0]!;
	if (options.hide)
		await space.setChannelPermissions(
			general.id,
			{ role: EVERYONE },
			{ deny: ['READ_MESSAGE_HISTORY'] }
		);
	await syncAll([ada, ben], space.id);
	const on = (p: Persona): Space => p.client.space(space.id)!;
	const texts = (p: Persona) => on(p).channels[0]!.messages.map((m) => m.text);
	const document = channelIdBytes(general.id);
	return { ada, ben, cy, space, general, document, on, texts };
}

/** Every epoch of a document that entries in `client`'s envelope were sealed under, or that was named. */
async function epochsSeenBy(client: Charter, space: Space, document: Uint8Array) {
	const epochs = new Set<string>();
	for (const bytes of await entriesOf(client, space.id, document)) {
		try {
			epochs.add(base58.encode(parseEntry(bytes).header.epoch));
		} catch {
			/* not a sealed change batch */
		}
	}
	const named = client.space(space.id)?.document.epochs?.[base58.encode(document)];
	if (named !== undefined) epochs.add(String(named));
	return epochs;
}

/** Epochs of `document` Cy's key store holds a key of. */
async function keysHeld(cy: { secrets: MemorySecretStore }, space: Space, document: Uint8Array) {
	const prefix = `epoch/${base58.encode(spaceIdBytes(space.id))}/${base58.encode(document)}/`;
	return (await cy.secrets.list(prefix)).map((name) => name.slice(prefix.length));
}

/** Recipients (base58 X25519 keys) of the lockboxes of `document`'s `epochs` in `client`'s envelope. */
async function lockboxRecipients(
	client: Charter,
	space: Space,
	document: Uint8Array,
	epochs: Set<string>
) {
	const recipients = new Set<string>();
	for (const bytes of await entriesOf(client, space.id, spaceIdBytes(space.id))) {
		let header;
		try {
			header = parseLockbox(bytes).header;
		} catch {
			continue; // a sealed change batch or a genesis record
		}
		if (
			base58.encode(header.document) === base58.encode(document) &&
			epochs.has(base58.encode(header.epoch))
		)
			recipients.add(base58.encode(header.recipient));
	}
	return recipients;
}

/** A member's X25519 encryption key (base58), as the space records it on their card. */
function encryptionKeyOf(space: Space, p: Persona): string {
	const member = space.state!.members.get(userOf(p))!;
	return base58.encode(member.encryptionKey);
}

describe('history visibility: READ_MESSAGE_HISTORY decides what a newcomer reads', () => {
	it('✓ Cy, joining #general with its history hidden, holds no key of it from before, and his first key is one named after his join', async () => {
		const { ada, ben, cy, space, general, document, on, texts } = await setup({ hide: true });
		await on(ben).channels[0]!.send('the twist is in chapter nine');
		await syncAll([ada, ben], space.id);
		const before = await epochsSeenBy(ada.client, space, document);
		const { link } = await space.createInvite();
		// Cy joins from what a holder gives him, with every member offline
		expect(await joinFrom(cy, ada, space, link)).toBe('joined');
		await on(cy).settled();
		// ✓ his own client moved #general to a new epoch, since nobody else was there to
		const first = on(cy).currentEpoch(document);
		expect(first).toBeDefined();
		expect(before.has(base58.encode(first!))).toBe(false);
		await syncAll([ada, ben, cy], space.id);
		await on(ben).channels[0]!.send('welcome, Cy!');
		await on(cy).channels[0]!.send('hello, I am Cy');
		await syncAll([ada, ben, cy], space.id);
		// ✓ Cy reads nothing said before he joined; what he writes under his new key reaches Ben
		expect(texts(cy)).not.toContain('the twist is in chapter nine');
		expect(texts(cy)).toContain('hello, I am Cy');
		expect(texts(ben)).toEqual(
			expect.arrayContaining(['the twist is in chapter nine', 'welcome, Cy!', 'hello, I am Cy'])
		);
		// ✓ Ben's welcome is sealed under an epoch Cy holds (its key is new, named after the join),
		// and Cy reads it (history-segments.test.ts)
		expect(texts(cy)).toEqual(['welcome, Cy!', 'hello, I am Cy']);
		const after = await epochsSeenBy(ben.client, space, document);
		const held0 = new Set(await keysHeld(cy, space, document));
		expect([...after].filter((e) => !before.has(e)).every((e) => held0.has(e))).toBe(true);
		// ✓ not a matter of display: his key store holds no key of an earlier epoch of #general…
		const held = await keysHeld(cy, space, document);
		expect(held.length).toBeGreaterThan(0);
		for (const epoch of held) expect(before.has(epoch)).toBe(false);
		// ✓ …and no lockbox anyone wrote seals an earlier epoch to anyone but Ada and Ben (not Cy,
		// not his invite)
		for (const p of [ada, ben, cy]) {
			const recipients = await lockboxRecipients(p.client, space, document, before);
			expect([...recipients].sort()).toEqual(
				[encryptionKeyOf(space, ada), encryptionKeyOf(space, ben)].sort()
			);
		}
		// ✓ the notice's condition, as the app reads it
		expect(on(cy).can('READ_MESSAGE_HISTORY', general.id)).toBe(false);
		expect(on(cy).can('VIEW_CHANNEL', general.id)).toBe(true);
	});

	it('✓ Dee, whose invite gives @regulars the history of #general, reads everything; so did Cy without the denial', async () => {
		const { ada, ben, cy, space, general, on, texts } = await setup({ hide: true });
		const regulars = await space.createRole({ name: 'regulars' });
		await space.setChannelPermissions(
			general.id,
			{ role: regulars.id },
			{ allow: ['READ_MESSAGE_HISTORY'] }
		);
		await on(ben).channels[0]!.send('the twist is in chapter nine');
		await syncAll([ada, ben], space.id);
		const { link } = await space.createInvite({ roles: [regulars.id] });
		const dee = cy; // Dee is the newcomer here
		expect(await joinFrom(dee, ada, space, link)).toBe('joined');
		await syncAll([ada, ben, dee], space.id);
		// ✓ with the permission, everything said before is readable
		expect(texts(dee)).toEqual(['the twist is in chapter nine']);
		expect(on(dee).can('READ_MESSAGE_HISTORY', general.id)).toBe(true);
	});

	it('✓ without any denial (the default @everyone), a newcomer reads the history as before', async () => {
		const { ada, ben, cy, space, on, texts } = await setup();
		await on(ben).channels[0]!.send('the twist is in chapter nine');
		await syncAll([ada, ben], space.id);
		const { link } = await space.createInvite();
		expect(await joinFrom(cy, ada, space, link)).toBe('joined');
		await syncAll([ada, ben, cy], space.id);
		// ✓ today's behaviour for every space whose admins removed nothing
		expect(texts(cy)).toEqual(['the twist is in chapter nine']);
	});

	it('✓ added directly, Cy gets only a new epoch; allowed the history later, he is handed the older keys', async () => {
		const { ada, ben, cy, space, general, document, on, texts } = await setup({ hide: true });
		await on(ben).channels[0]!.send('the twist is in chapter nine');
		await syncAll([ada, ben], space.id);
		const before = await epochsSeenBy(ada.client, space, document);
		await space.addMember(await cy.client.memberCard());
		// ✓ Ada's addition named a new epoch of #general in the same change
		expect(before.has(base58.encode(space.currentEpoch(document)!))).toBe(false);
		await syncAll([ada, ben, cy], space.id);
		await general.send('hello Cy');
		await syncAll([ada, ben, cy], space.id);
		expect(texts(cy)).not.toContain('the twist is in chapter nine');
		for (const epoch of await keysHeld(cy, space, document)) expect(before.has(epoch)).toBe(false);
		// Ada lets Cy read the history after all
		await space.setChannelPermissions(
			general.id,
			{ user: userOf(cy) },
			{ allow: ['READ_MESSAGE_HISTORY'] }
		);
		await syncAll([ada, ben, cy], space.id);
		// ✓ he now holds the older keys and reads what was said before he came
		expect(texts(cy)).toEqual(['the twist is in chapter nine', 'hello Cy']);
		const held = new Set(await keysHeld(cy, space, document));
		for (const epoch of before) expect(held.has(epoch)).toBe(true);
	});

	it('✓ with @everyone’s history taken away space-wide, Cy added sees nothing before; given @regulars (which has it), he is handed the older keys', async () => {
		const { ada, ben, cy, space, document, on, texts } = await setup();
		await space.updateRole(EVERYONE, {
			permissions: ['VIEW_CHANNEL', 'SEND_MESSAGES', 'CHANGE_NICKNAME', 'CREATE_INVITE']
		});
		const regulars = await space.createRole({
			name: 'regulars',
			permissions: ['READ_MESSAGE_HISTORY']
		});
		await on(ben).channels[0]!.send('the twist is in chapter nine');
		await syncAll([ada, ben], space.id);
		const before = await epochsSeenBy(ada.client, space, document);
		await space.addMember(await cy.client.memberCard());
		await syncAll([ada, ben, cy], space.id);
		// ✓ no key of #general from before Cy came in
		for (const epoch of await keysHeld(cy, space, document)) expect(before.has(epoch)).toBe(false);
		expect(texts(cy)).toEqual([]);
		await space.assignRole(userOf(cy), regulars.id);
		await syncAll([ada, ben, cy], space.id);
		// ✓ the role gives him the history: the older keys, and the message
		const held = new Set(await keysHeld(cy, space, document));
		for (const epoch of before) expect(held.has(epoch)).toBe(true);
		expect(texts(cy)).toEqual(['the twist is in chapter nine']);
	});

	it('✓ an invite made before the history was hidden: Cy holds no key from before his join, and what was said after the denial was never sealed to the invite', async () => {
		const { ada, ben, cy, space, general, document, on, texts } = await setup();
		await on(ben).channels[0]!.send('said while the history was visible');
		await syncAll([ada, ben], space.id);
		const { link } = await space.createInvite();
		const visible = await epochsSeenBy(ada.client, space, document);
		await space.setChannelPermissions(
			general.id,
			{ role: EVERYONE },
			{ deny: ['READ_MESSAGE_HISTORY'] }
		);
		await syncAll([ada, ben], space.id);
		await on(ben).channels[0]!.send('said after the denial');
		await syncAll([ada, ben], space.id);
		const before = await epochsSeenBy(ada.client, space, document);
		const hidden = new Set([...before].filter((e) => !visible.has(e)));
		// ✓ the denial rotated #general: what Ben said after it is under an epoch the invite lacks
		expect(hidden.size).toBeGreaterThan(0);
		const inviteKeys = await lockboxRecipients(ada.client, space, document, hidden);
		expect([...inviteKeys].sort()).toEqual(
			[encryptionKeyOf(space, ada), encryptionKeyOf(space, ben)].sort()
		);
		expect(await joinFrom(cy, ada, space, link)).toBe('joined');
		await syncAll([ada, ben, cy], space.id);
		await on(ben).channels[0]!.send('welcome, Cy!');
		await syncAll([ada, ben, cy], space.id);
		// ✓ Cy's client did not use the invite's older keys: none is in his key store; he reads only
		// Ben's welcome, said after he came in
		expect(texts(cy)).toEqual(['welcome, Cy!']);
		for (const epoch of await keysHeld(cy, space, document)) expect(before.has(epoch)).toBe(false);
	});

	it('✓ a rotation by Ada concurrent with Cy’s join wins by rank, and the channel moves on again so that Cy holds the key writers use', async () => {
		const { ada, ben, cy, space, document, on } = await setup({ hide: true });
		const { dee } = await personas('dee');
		cast.push(dee);
		await space.addMember(await dee.client.memberCard());
		await on(ben).channels[0]!.send('the twist is in chapter nine');
		await syncAll([ada, ben, dee], space.id);
		const before = await epochsSeenBy(ada.client, space, document);
		const { link } = await space.createInvite();
		expect(await joinFrom(cy, ada, space, link)).toBe('joined');
		await on(cy).settled();
		const cysOwn = on(cy).currentEpoch(document);
		expect(cysOwn).toBeDefined();
		// Ada, not having seen the join, kicks Dee: #general rotates under her higher rank
		await space.kick(userOf(dee));
		await syncAll([ada, ben, cy], space.id);
		for (const p of [ada, ben, cy]) await on(p).settled();
		await syncAll([ada, ben, cy], space.id);
		// ✓ everyone settles on one epoch, named after the join, whose key Cy holds
		const g = base58.encode(document);
		const current = String(on(ada).document.epochs[g]);
		for (const p of [ben, cy]) expect(String(on(p).document.epochs[g])).toBe(current);
		expect(on(cy).currentEpoch(document)).toBeDefined();
		for (const p of [ada, ben, cy]) expect(on(p).evaluation!.pendingRotations()).toEqual([]);
		// ✓ and still no key of #general from before his join
		for (const epoch of await keysHeld(cy, space, document)) expect(before.has(epoch)).toBe(false);
	});

	it('✓ a new device of Ada, given every entry in any order, ends in the same state, Cy’s rotation included', async () => {
		const { ada, ben, cy, space, document, on, texts } = await setup({ hide: true });
		await on(ben).channels[0]!.send('the twist is in chapter nine');
		await syncAll([ada, ben], space.id);
		const { link } = await space.createInvite();
		expect(await joinFrom(cy, ada, space, link)).toBe('joined');
		await syncAll([ada, ben, cy], space.id);
		const g = base58.encode(document);
		const epoch = String(on(ada).document.epochs[g]);
		await on(cy).channels[0]!.send('hi, I am new');
		await on(ben).channels[0]!.send('welcome, Cy!');
		await syncAll([ada, ben, cy], space.id);
		expect(texts(cy)).toEqual(['hi, I am new', 'welcome, Cy!']);
		const expected = picture(on(ada));
		// ✓ Ben's view matches Ada's; a fresh device of Ada's gets there in three delivery orders
		expect(picture(on(ben))).toEqual(expected);
		const orders = [
			undefined,
			(n: number) => [...Array(n).keys()].reverse(),
			orderBy([...Array(64).keys()].map((i) => (i * 37) % 64))
		];
		for (const shuffle of orders) {
			const reader = await freshDevice(await phraseOf(ada), 'ada-2');
			cast.push(reader);
			await deliver(ada, reader, space.id, shuffle ? { shuffle } : {});
			// ✓ the same members, roles, epochs chosen and messages, whatever the order
			expect(picture(on(reader))).toEqual(expected);
			expect(String(on(reader).document.epochs[g])).toBe(epoch);
			expect(on(reader).evaluation!.pendingRotations()).toEqual([]);
		}
	});
});

/** Ada's recovery phrase, kept by `setup` — a fresh device of hers restores from it. */
async function phraseOf(p: Persona): Promise<string> {
	const phrase = phrases.get(p.client);
	if (!phrase) throw new Error(`no phrase kept for ${p.name}`);
	return phrase;
}
const phrases = new WeakMap<Charter, string>();
