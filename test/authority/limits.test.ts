/**
 * Story: every length limit of a space is one constant (authority/limits.ts), held by the rules of
 * every peer and by the app before anything is sealed.
 * - Ada's app refuses a channel name, a space name or a message one character too long, and writes
 *   nothing.
 * - Ada writes a 101-character channel name and a 4,001-character message herself, past the app,
 *   under her own genuine keys: every peer refuses both, and the limit itself still passes.
 */
import { describe, expect, it } from 'vitest';
import * as A from '@automerge/automerge';
import { MAX_MESSAGE_LENGTH } from '../../src/lib/index.js';
import { MAX_NAME } from '../../src/lib/authority/limits.js';
import { forge } from '../support/hostile.js';
import { entriesOf, personas, shutdown, syncAll } from '../support/personas.js';

type SpaceDocShape = { channels: Record<string, { name?: unknown }> };
type ChannelDocShape = { buckets: Record<string, Record<string, { text?: unknown }>> };

describe('length limits', () => {
	it('✓ a name or message past its limit is refused at the API, and forged, by every peer', async () => {
		const cast = await personas('ada', 'ben');
		const people = Object.values(cast);
		try {
			const space = await cast.ada.client.createSpace({ name: 'Limits' });
			await space.addMember(await cast.ben.client.memberCard());
			await syncAll(people, space.id);
			const channel = space.channels[0]!;
			const before = (await entriesOf(cast.ada.client, space.id, space.idBytes)).length;
			// ✓ the app refuses one character too many, with a typed error, and writes nothing
			await expect(
				cast.ada.client.createSpace({ name: 'x'.repeat(MAX_NAME + 1) })
			).rejects.toMatchObject({ code: 'invalid-argument' });
			await expect(space.createChannel({ name: 'x'.repeat(MAX_NAME + 1) })).rejects.toMatchObject({
				code: 'invalid-argument'
			});
			await expect(channel.send('x'.repeat(MAX_MESSAGE_LENGTH + 1))).rejects.toMatchObject({
				code: 'invalid-argument'
			});
			expect((await entriesOf(cast.ada.client, space.id, space.idBytes)).length).toBe(before);
			// Ada writes them herself, past the app: a channel name and a message one over the limit,
			// and a message exactly at it
			await forge<SpaceDocShape>(cast.ada.client, space, {}, (d) => {
				d.channels[channel.id]!.name = new A.ImmutableString('x'.repeat(MAX_NAME + 1));
			});
			const bucket = Object.keys(
				(channel as unknown as { replica: { doc: ChannelDocShape } }).replica.doc.buckets
			)[0];
			await forge<ChannelDocShape>(cast.ada.client, space, { channel }, (d) => {
				const b = bucket ? d.buckets[bucket]! : (d.buckets['forged'] = {});
				b['long'] = { text: new A.ImmutableString('y'.repeat(MAX_MESSAGE_LENGTH + 1)) };
			});
			await channel.send('z'.repeat(MAX_MESSAGE_LENGTH));
			await syncAll(people, space.id);
			for (const p of people) {
				const seen = p.client.space(space.id)!;
				const seenChannel = seen.channels.find((c) => c.id === channel.id)!;
				await expect
					.poll(() => seenChannel.messages.some((m) => m.text.length === MAX_MESSAGE_LENGTH))
					.toBe(true);
				// ✓ every peer refuses the long name and keeps the channel's own
				expect(seen.rejections.map((r) => r.reason)).toContain(
					`must be a string of at most ${MAX_NAME}`
				);
				expect(seenChannel.name).toBe(channel.name);
				// ✓ and refuses the long message, while the one at the limit is shown
				expect(seenChannel.messages.some((m) => m.text.length > MAX_MESSAGE_LENGTH)).toBe(false);
			}
		} finally {
			await shutdown(people);
		}
	});
});
