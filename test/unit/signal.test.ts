/**
 * Ephemeral signals (src/lib/encryption/signal.ts): sealed and signed like entries. A signal opens
 * to what was sent; every single flipped byte fails as a typed error (structure, signature or
 * decryption), never as an exception of another kind; every kind is the same size.
 */
import { describe, expect, it } from 'vitest';
import {
	MAX_SIGNAL_BYTES,
	openSignal,
	parseSignal,
	sealSignal,
	SIGNAL_KIND,
	verifySignalSignature,
	type SignalKind
} from '../../src/lib/encryption/signal.js';
import { createCryptoProvider, newKey } from '../../src/lib/crypto/primitives.js';
import { CharterError } from '../../src/lib/errors.js';
import { randomBytes } from '../../src/lib/util/bytes.js';

const space = randomBytes(16);
const document = randomBytes(16);
const epoch = randomBytes(16);
const epochKey = newKey();

async function device() {
	const provider = await createCryptoProvider();
	const seed = randomBytes(32);
	return {
		publicKey: await provider.ed25519PublicKey(seed),
		sign: (m: Uint8Array) => provider.sign(seed, m)
	};
}

async function seal(kind: SignalKind, sentAt = 1_767_000_000_000) {
	const d = await device();
	return sealSignal({
		space,
		document,
		epoch,
		epochKey,
		author: d.publicKey,
		session: randomBytes(8),
		body: { kind, sentAt },
		sign: d.sign
	});
}

/** What a receiver makes of these bytes: the body, or the code of the first check that fails. */
async function judge(bytes: Uint8Array, key = epochKey): Promise<string> {
	try {
		const signal = parseSignal(bytes);
		if (!(await verifySignalSignature(signal))) return 'bad-signature';
		const body = openSignal(signal, key);
		return `${body.kind}@${body.sentAt}`;
	} catch (error) {
		if (!(error instanceof CharterError)) throw error;
		return error.code;
	}
}

describe('signals', () => {
	it('✓ open to what was sent; every kind is the same size, within MAX_SIGNAL_BYTES', async () => {
		const sizes = new Set<number>();
		for (const kind of Object.values(SIGNAL_KIND)) {
			const bytes = await seal(kind, 1_767_000_000_123);
			sizes.add(bytes.length);
			expect(await judge(bytes)).toBe(`${kind}@1767000000123`);
		}
		expect([...sizes]).toEqual([209]);
		expect(209).toBeLessThanOrEqual(MAX_SIGNAL_BYTES);
	});

	it('✓ every single flipped byte is refused with a typed error; a wrong key does not open it', async () => {
		const bytes = await seal(SIGNAL_KIND.typing);
		for (let i = 0; i < bytes.length; i++) {
			const flipped = bytes.slice();
			flipped[i]! ^= 0x01;
			expect(await judge(flipped), `byte ${i}`).toMatch(
				/^(malformed|unsupported-version|too-large|bad-signature)$/
			);
		}
		expect(await judge(bytes, newKey())).toBe('decryption-failed');
		expect(await judge(bytes.subarray(0, 100))).toBe('malformed');
		expect(await judge(new Uint8Array(MAX_SIGNAL_BYTES + 1))).toBe('too-large');
	});

	it('✓ refuses to seal an unknown kind or a key of the wrong size', async () => {
		await expect(seal(9 as SignalKind)).rejects.toMatchObject({ code: 'invalid-argument' });
		const d = await device();
		await expect(
			sealSignal({
				space,
				document,
				epoch,
				epochKey: new Uint8Array(16),
				author: d.publicKey,
				session: randomBytes(8),
				body: { kind: SIGNAL_KIND.online, sentAt: 1 },
				sign: d.sign
			})
		).rejects.toMatchObject({ code: 'invalid-argument' });
	});
});
