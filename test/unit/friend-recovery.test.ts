/**
 * The formats of trusted-friend recovery (identity/friend-recovery.ts): what is split, how a share is
 * told apart from a key-generation lockbox, and that fewer than k shares recombine into nothing.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
	checkThreshold,
	combineShares,
	decodeKit,
	encodeKit,
	encodeRecoveryRequest,
	friendKeys,
	newFriendKey,
	parseRecoveryRequest,
	parseShareDocument,
	recoveryRequestCheck,
	requestCheck,
	shareDocument,
	splitFriendKey
} from '../../src/lib/identity/friend-recovery.js';
import { generationDocument } from '../../src/lib/sync/account.js';
import { randomBytes } from '../../src/lib/util/bytes.js';

describe('friend-recovery formats', () => {
	it('✓ any k of n shares give back the friend key; k − 1 never do (property)', async () => {
		await fc.assert(
			fc.asyncProperty(
				fc.integer({ min: 2, max: 10 }).chain((n) =>
					fc.record({
						n: fc.constant(n),
						k: fc.integer({ min: 2, max: n }),
						order: fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n })
					})
				),
				async ({ n, k, order }) => {
					const key = newFriendKey();
					const { setup } = await friendKeys(key);
					const shares = await splitFriendKey(key, n, k);
					const picked = order.map((i) => shares[i]!);
					expect(await combineShares(picked.slice(0, k), setup)).toEqual(key);
					expect(await combineShares(picked.slice(0, k - 1), setup)).toBeUndefined();
				}
			),
			{ numRuns: 25 }
		);
	});

	it('✓ a share document is never a generation document, and the reverse', () => {
		for (const g of [0, 1, 7, 2 ** 31, 2 ** 32 - 2])
			expect(parseShareDocument(generationDocument(g))).toBeUndefined();
		const doc = shareDocument({ x: 17, threshold: 3, friends: 5 });
		expect(parseShareDocument(doc)).toEqual({ x: 17, threshold: 3, friends: 5 });
		// k > n, k < 2, n > 10, x = 0 or trailing bytes: not a share
		for (const bad of [
			shareDocument({ x: 1, threshold: 4, friends: 3 }),
			shareDocument({ x: 1, threshold: 1, friends: 3 }),
			shareDocument({ x: 1, threshold: 2, friends: 11 }),
			shareDocument({ x: 0, threshold: 2, friends: 3 }),
			Uint8Array.from([...doc.subarray(0, 15), 1])
		])
			expect(parseShareDocument(bad)).toBeUndefined();
	});

	it('✓ the kit round-trips; damaged kits and codes are refused with typed errors', () => {
		const kit = {
			identitySeed: randomBytes(32),
			encryption: [
				{ generation: 2, secret: randomBytes(32) },
				{ generation: 0, secret: randomBytes(32) }
			],
			recoveryPublic: randomBytes(32)
		};
		expect(decodeKit(encodeKit(kit))).toEqual(kit);
		expect(
			decodeKit(encodeKit({ ...kit, recoveryPublic: new Uint8Array(0) })).recoveryPublic
		).toEqual(new Uint8Array(0));
		expect(() => decodeKit(encodeKit(kit).subarray(0, 40))).toThrow();
		const ephemeral = randomBytes(32);
		const code = encodeRecoveryRequest({ ephemeral, endpoints: ['ws://127.0.0.1:3030'] });
		expect(parseRecoveryRequest(code)).toEqual({ ephemeral, endpoints: ['ws://127.0.0.1:3030'] });
		expect(recoveryRequestCheck(code)).toBe(requestCheck(ephemeral));
		expect(recoveryRequestCheck(code)).toMatch(/^\d{3} \d{3}$/);
		for (const bad of ['charter-recover:', 'charter-link:abc', code.slice(0, -4)])
			expect(() => parseRecoveryRequest(bad)).toThrow(
				expect.objectContaining({ code: 'invalid-argument' })
			);
	});

	it('✓ thresholds outside 2 ≤ k ≤ n ≤ 10 are refused', () => {
		for (const [k, n] of [
			[1, 3],
			[4, 3],
			[2, 11],
			[2.5, 3]
		] as const)
			expect(() => checkThreshold(k, n)).toThrow(
				expect.objectContaining({ code: 'invalid-argument' })
			);
		expect(() => checkThreshold(2, 2)).not.toThrow();
		expect(() => checkThreshold(10, 10)).not.toThrow();
	});
});
