/**
 * A permission a member loses while staying (a channel overwrite, a role's permission, a role taken
 * away) is judged like a removal: what they wrote before the loss — what its writer had seen —
 * stays valid on every peer, and what they wrote without having seen it is judged under the loss.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EVERYONE } from '../../src/lib/index.js';
import { atom, type SpaceDoc } from '../../src/lib/authority/schema.js';
import { forge } from '../support/hostile.js';
import { personas, shutdown, syncAll, type Persona } from '../support/personas.js';

let cast: Persona[] = [];
afterEach(async () => {
	await shutdown(cast);
	cast = [];
});

async function setup() {
	const { ada, ben } = await personas('ada', 'ben');
	cast = [ada, ben];
	const space = await ada.client.createSpace({ name: 'Book club' });
	await space.addMember(await ben.client.memberCard());
	await syncAll(cast, space.id);
	const channel = space.channels[0]!;
	const bens = () => ben.client.space(space.id)!.channels[0]!;
	const texts = (p: Persona) => p.client.space(space.id)!.channels[0]!.messages.map((m) => m.text);
	return { ada, ben, space, channel, bens, texts };
}

describe('a permission loss and what was written before it', () => {
	it('✓ denying Ben SEND_MESSAGES keeps his earlier message and the messages written after it', async () => {
		const { ada, ben, space, channel, bens, texts } = await setup();
		await bens().send('hello from Ben');
		await syncAll(cast, space.id);
		await channel.send('hello back from Ada');
		await syncAll(cast, space.id);
		await space.setChannelPermissions(
			channel.id,
			{ user: ben.client.identity!.userId },
			{ deny: ['SEND_MESSAGES'] }
		);
		await syncAll(cast, space.id);
		// ✓ on both peers, nothing written before the loss is gone
		for (const p of [ada, ben]) expect(texts(p)).toEqual(['hello from Ben', 'hello back from Ada']);
		expect(channel.rejections).toEqual([]);
	});

	it('✓ what Ben writes without having seen the loss is refused by every peer; what came before stays', async () => {
		const { ada, ben, space, channel, bens, texts } = await setup();
		await bens().send('before');
		await syncAll(cast, space.id);
		// Ada takes the permission away while Ben, not having heard of it yet, writes again
		await space.setChannelPermissions(
			channel.id,
			{ user: ben.client.identity!.userId },
			{ deny: ['SEND_MESSAGES'] }
		);
		await bens().send('concurrent');
		await syncAll(cast, space.id);
		// ✓ the concurrent message is refused everywhere, the earlier one kept everywhere
		for (const p of [ada, ben]) expect(texts(p)).toEqual(['before']);
		expect(channel.rejections.map((r) => r.reason)).toContain(
			'written after its author lost that right'
		);
	});

	it('✓ a role that loses a permission keeps its holders’ earlier messages', async () => {
		const { ada, ben, space, channel, bens, texts } = await setup();
		const role = await space.createRole({ name: 'Speakers', permissions: ['SEND_MESSAGES'] });
		await space.setChannelPermissions(channel.id, { role: EVERYONE }, { deny: ['SEND_MESSAGES'] });
		await space.setChannelPermissions(channel.id, { role: role.id }, { allow: ['SEND_MESSAGES'] });
		await space.assignRole(ben.client.identity!.userId, role.id);
		await syncAll(cast, space.id);
		await bens().send('as a speaker');
		await syncAll(cast, space.id);
		await space.unassignRole(ben.client.identity!.userId, role.id);
		await syncAll(cast, space.id);
		for (const p of [ada, ben]) expect(texts(p)).toEqual(['as a speaker']);
	});

	it('✓ a permission-loss record from a member who cannot take permissions away is refused by every peer', async () => {
		const { ada, ben, space } = await setup();
		const bensSpace = ben.client.space(space.id)!;
		await forge<SpaceDoc>(ben.client, bensSpace, {}, (d) => {
			d.removals['rm_forged'] = {
				user: atom(ada.client.identity!.userId),
				kind: atom('restrict'),
				by: atom(ben.client.identity!.userId),
				at: Date.now(),
				cutoffs: {}
			};
		});
		await syncAll(cast, space.id);
		// ✓ refused with the rule's reason on both peers, and nothing of it is in either document
		for (const s of [space, bensSpace]) {
			expect(s.rejections.map((r) => r.reason).join()).toContain(
				'a permission-loss record needs MANAGE_ROLES or MANAGE_CHANNELS'
			);
			expect(s.document.removals['rm_forged']).toBeUndefined();
		}
	});
});
