/**
 * Actor binding (protocol §5): a change's Automerge actor is
 * hex(SHA-256("charter/v1/actor\0" ‖ device key)[0..12] ‖ session) — computed the same way for every
 * device a reader meets, however many, since `actorFor` remembers the prefixes it hashed.
 */
import { describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { actorFor } from '../../src/lib/authority/actors.js';
import { concatBytes, hex, randomBytes } from '../../src/lib/util/bytes.js';

const documented = (device: Uint8Array, session: Uint8Array) =>
	hex.encode(
		concatBytes(
			sha256(concatBytes(new TextEncoder().encode('charter/v1/actor\0'), device)).subarray(0, 12),
			session
		)
	);

describe('actorFor', () => {
	it('✓ is the documented hash of the device key, followed by the session', () => {
		const device = randomBytes(32);
		for (const session of [randomBytes(8), randomBytes(8)])
			expect(actorFor(device, session)).toBe(documented(device, session));
	});

	it('✓ stays right for more devices than it remembers, and for one met again after', () => {
		const first = randomBytes(32);
		const session = randomBytes(8);
		expect(actorFor(first, session)).toBe(documented(first, session));
		for (let i = 0; i < 5000; i++) {
			const device = randomBytes(32);
			expect(actorFor(device, session)).toBe(documented(device, session));
		}
		expect(actorFor(first, session)).toBe(documented(first, session));
	});

	it('✓ two devices, or two sessions of one device, never share an actor', () => {
		const [a, b] = [randomBytes(32), randomBytes(32)];
		const [s, t] = [randomBytes(8), randomBytes(8)];
		const actors = new Set([actorFor(a, s), actorFor(a, t), actorFor(b, s), actorFor(b, t)]);
		expect(actors.size).toBe(4);
	});
});
