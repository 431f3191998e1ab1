import { describe, expect, it } from 'vitest';
import { CharterError } from '../../src/lib/index.js';
import {
	MAX_FRAGMENT_CONTENTS,
	openFragment,
	parseFragment,
	sealFragment,
	verifyFragmentSignature
} from '../../src/lib/encryption/fragment.js';
import { Identity } from '../../src/lib/identity/identity.js';
import { MemorySecretStore } from '../../src/lib/identity/secret-store.js';
import { newKey } from '../../src/lib/crypto/primitives.js';
import { randomBytes } from '../../src/lib/util/bytes.js';

const codeOf = (error: unknown) => (error instanceof CharterError ? error.code : String(error));

describe('compacted fragments', async () => {
	const { identity } = await Identity.create(new MemorySecretStore(), 'compactor');
	const epochKey = newKey();
	const input = {
		space: randomBytes(16),
		document: randomBytes(16),
		generation: 3,
		epoch: randomBytes(16),
		epochKey,
		compactor: identity.deviceKey,
		sign: (m: Uint8Array) => identity.signAsDevice(m)
	};

	it('✓ carry their entries verbatim, in order, compressed', async () => {
		// entries share their long headers: deflate squeezes what repeats between them
		const header = randomBytes(150);
		const entries = Array.from({ length: 200 }, () =>
			Uint8Array.from([...header, ...randomBytes(120)])
		);
		const fragment = await sealFragment({ ...input, entries });
		const parsed = parseFragment(fragment.bytes);
		expect(parsed.header.generation).toBe(3);
		expect(parsed.header.count).toBe(200);
		expect(await verifyFragmentSignature(parsed)).toBe(true);
		expect(await openFragment(parsed, epochKey)).toEqual(entries);
		const raw = entries.reduce((n, e) => n + e.length, 0);
		expect(fragment.bytes.length).toBeLessThan(raw * 0.6);
	});

	it('✓ refuse tampering, the wrong key, empty input and contents that inflate past the limit', async () => {
		const fragment = await sealFragment({ ...input, entries: [randomBytes(300)] });
		const flipped = fragment.bytes.slice();
		flipped[fragment.headerBytes.length + 8]! ^= 1;
		expect(await verifyFragmentSignature(parseFragment(flipped))).toBe(false);
		await expect(openFragment(parseFragment(flipped), epochKey)).rejects.toSatisfy(
			(e) => codeOf(e) === 'decryption-failed'
		);
		await expect(openFragment(fragment, newKey())).rejects.toSatisfy(
			(e) => codeOf(e) === 'decryption-failed'
		);
		await expect(sealFragment({ ...input, entries: [] })).rejects.toSatisfy(
			(e) => codeOf(e) === 'invalid-argument'
		);
		// zeros compress about a thousandfold: a small fragment claiming more than the limit
		const zeros = new Uint8Array(4 * 1024 * 1024 - 8);
		const count = Math.ceil(MAX_FRAGMENT_CONTENTS / zeros.length) + 1;
		const bomb = await sealFragment({ ...input, entries: Array(count).fill(zeros) });
		expect(bomb.bytes.length).toBeLessThan(1024 * 1024);
		await expect(openFragment(bomb, epochKey)).rejects.toSatisfy((e) => codeOf(e) === 'too-large');
	});
});
