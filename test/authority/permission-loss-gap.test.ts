/**
 * Known gap (found while building reactions and mentions, issue 16): a permission loss records no
 * channel cut-off — only kicks, bans and leaves do — so strong removal cannot tell what the member
 * wrote before the loss from what they wrote concurrently with it. Their earlier channel entries
 * that need the lost permission are refused, and with them, by the dependency cascade, every later
 * entry of anyone that was written on top of them.
 *
 * `it.fails`: these stories pass while the gap is open. When permission losses record cut-offs (as
 * removals do: the channel heads their author had seen), they fail — turn them into plain `it`.
 */
import { describe, expect, it } from 'vitest';
import { personas, shutdown, syncAll, userOf } from '../support/personas.js';

describe('a permission loss and what was written before it (known gap)', () => {
	it.fails(
		'✓ denying Ben SEND_MESSAGES keeps his earlier message and the messages written after it',
		async () => {
			const cast = await personas('ada', 'ben');
			const people = Object.values(cast);
			try {
				const space = await cast.ada.client.createSpace({ name: 'Book club' });
				await space.addMember(await cast.ben.client.memberCard());
				await syncAll(people, space.id);
				await cast.ben.client.space(space.id)!.channels[0]!.send('hello from Ben');
				await syncAll(people, space.id);
				await space.channels[0]!.send('hello back from Ada');
				await syncAll(people, space.id);
				await space.setChannelPermissions(
					space.channels[0]!.id,
					{ user: userOf(cast.ben) },
					{ deny: ['SEND_MESSAGES'] }
				);
				await syncAll(people, space.id);
				for (const p of people)
					expect(p.client.space(space.id)!.channels[0]!.messages.map((m) => m.text)).toEqual([
						'hello from Ben',
						'hello back from Ada'
					]);
			} finally {
				await shutdown(people);
			}
		}
	);

	it.fails(
		"✓ denying Ben ADD_REACTIONS keeps his earlier reaction and Ada's reaction made after it",
		async () => {
			const cast = await personas('ada', 'ben');
			const people = Object.values(cast);
			try {
				const space = await cast.ada.client.createSpace({ name: 'Book club' });
				await space.addMember(await cast.ben.client.memberCard());
				const first = await space.channels[0]!.send('Welcome!');
				await syncAll(people, space.id);
				await cast.ben.client.space(space.id)!.channels[0]!.react(first.id, '👍');
				await syncAll(people, space.id);
				await space.channels[0]!.react(first.id, '🎉');
				await syncAll(people, space.id);
				await space.setChannelPermissions(
					space.channels[0]!.id,
					{ user: userOf(cast.ben) },
					{ deny: ['ADD_REACTIONS'] }
				);
				await syncAll(people, space.id);
				for (const p of people)
					expect(
						p.client.space(space.id)!.channels[0]!.messages[0]!.reactions?.map((r) => r.emoji)
					).toEqual(['👍', '🎉']);
			} finally {
				await shutdown(people);
			}
		}
	);
});
