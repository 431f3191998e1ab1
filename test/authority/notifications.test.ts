/**
 * Subscribers see what the authority layer derives from a local change (roles, members,
 * permissions) — not only the raw document — so a UI re-renders with the new state.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Charter } from '../../src/lib/index.js';

const clients: Charter[] = [];
afterEach(async () => {
	for (const c of clients.splice(0)) await c.close();
});

describe('notifications after local changes', () => {
	it('✓ a subscriber of the space is told once a new role is part of the derived state', async () => {
		const owner = await Charter.open({ inMemory: true });
		clients.push(owner);
		await owner.createIdentity();
		const space = await owner.createSpace({ name: 'Guild' });
		const seen: string[][] = [];
		space.subscribe((s) => seen.push(s.roles.map((r) => r.name)));
		await space.createRole({ name: 'Moderators' });
		await space.settled();
		expect(seen.at(-1)).toContain('Moderators');
		await space.setNickname('Boss');
		expect(space.members.find((m) => m.nickname === 'Boss')).toBeDefined();
	});
});
