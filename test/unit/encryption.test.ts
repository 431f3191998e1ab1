import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
	sealEntry,
	parseEntry,
	openEntry,
	type ParsedEntry
} from '../../src/lib/encryption/entry.js';
import { openLockbox, parseLockbox, sealLockbox } from '../../src/lib/encryption/lockbox.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
	createCryptoProvider,
	hash,
	newKey,
	SYNC_CHECKS_PER_TASK
} from '../../src/lib/crypto/primitives.js';
import { CharterError } from '../../src/lib/errors.js';
import { randomBytes, utf8 } from '../../src/lib/util/bytes.js';
import { nobleX25519Pair } from './helpers.js';

const space = randomBytes(16);
const document = randomBytes(16);
const epoch = randomBytes(16);
const epochKey = newKey();

async function deviceKeys() {
	const provider = await createCryptoProvider();
	const seed = randomBytes(32);
	return {
		publicKey: await provider.ed25519PublicKey(seed),
		sign: (m: Uint8Array) => provider.sign(seed, m)
	};
}

async function sealed(body = utf8.encode('meet at noon')): Promise<ParsedEntry> {
	const device = await deviceKeys();
	return sealEntry({
		space,
		document,
		epoch,
		epochKey,
		author: device.publicKey,
		session: randomBytes(8),
		seq: 1,
		prev: new Uint8Array(32),
		body,
		sign: device.sign
	});
}

const context = {
	space,
	document,
	epochKey: (e: Uint8Array) => (e.every((b, i) => b === epoch[i]) ? epochKey : undefined)
};

async function openCode(bytes: Uint8Array, ctx = context): Promise<string> {
	try {
		await openEntry(parseEntry(bytes), ctx);
		return 'opened';
	} catch (error) {
		if (!(error instanceof CharterError)) throw error;
		return error.code;
	}
}

describe('sealed entries', () => {
	it('✓ round-trip: the body comes back, the header names space, document, epoch and author', async () => {
		const entry = await sealed();
		const again = parseEntry(entry.bytes);
		expect(again.header.space).toEqual(space);
		expect(again.header.document).toEqual(document);
		expect(utf8.decode(await openEntry(again, context))).toBe('meet at noon');
	});

	it('✓ the ciphertext does not contain the plaintext', async () => {
		const entry = await sealed(utf8.encode('a very secret plan'));
		expect(Buffer.from(entry.bytes).includes(Buffer.from('secret'))).toBe(false);
	});

	it('✓ flipping any single byte of an entry makes it fail with a typed error', async () => {
		const entry = await sealed();
		const seen = new Set<string>();
		for (let i = 0; i < entry.bytes.length; i++) {
			const tampered = Uint8Array.from(entry.bytes);
			tampered[i]! ^= 0x01;
			const code = await openCode(tampered);
			expect(code, `byte ${i}`).not.toBe('opened');
			seen.add(code);
		}
		// every field is covered: magic → malformed, length → too-large/malformed, version, ids → wrong context, rest → signature
		expect([...seen].sort()).toEqual(
			[
				'bad-signature',
				'malformed',
				'too-large',
				'unsupported-version',
				'wrong-document',
				'wrong-space'
			].sort()
		);
	});

	it('✓ wrong key, wrong space, wrong document and unknown epoch are told apart', async () => {
		const entry = await sealed();
		expect(await openCode(entry.bytes, { ...context, epochKey: () => newKey() })).toBe(
			'decryption-failed'
		);
		expect(await openCode(entry.bytes, { ...context, epochKey: () => undefined })).toBe(
			'unknown-epoch'
		);
		expect(await openCode(entry.bytes, { ...context, space: randomBytes(16) })).toBe('wrong-space');
		expect(await openCode(entry.bytes, { ...context, document: randomBytes(16) })).toBe(
			'wrong-document'
		);
	});

	it('✓ truncations and random bytes never throw anything but typed errors', async () => {
		const entry = await sealed();
		for (let n = 0; n < entry.bytes.length; n += 7)
			expect(await openCode(entry.bytes.subarray(0, n))).not.toBe('opened');
		await fc.assert(
			fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), async (bytes) => {
				expect(await openCode(bytes)).not.toBe('opened');
			}),
			{ numRuns: 300 }
		);
	});

	it('✓ the noble fallback, native WebCrypto and node:crypto agree on signatures', async () => {
		const node = await createCryptoProvider();
		const web = await createCryptoProvider({ prefer: 'webcrypto' });
		const noble = await createCryptoProvider({ prefer: 'noble' });
		expect(node.signatureBackend).toBe('node');
		expect(web.signatureBackend).toBe('webcrypto');
		expect(noble.signatureBackend).toBe('noble');
		const seed = randomBytes(32);
		const message = utf8.encode('same bytes');
		const pub = await noble.ed25519PublicKey(seed);
		for (const signer of [node, web, noble])
			for (const verifier of [node, web, noble]) {
				const signature = await signer.sign(seed, message);
				expect(await verifier.verify(signature, message, pub)).toBe(true);
				const forged = signature.slice();
				forged[0]! ^= 1;
				expect(await verifier.verify(forged, message, pub)).toBe(false);
				expect(await verifier.verify(signature, utf8.encode('other bytes'), pub)).toBe(false);
			}
		// past the synchronous checks of a task, node:crypto's provider checks on the thread pool:
		// a batch gets the same answers either way
		const batch = await Promise.all(
			Array.from({ length: 3 * SYNC_CHECKS_PER_TASK }, (_, i) =>
				node.sign(seed, utf8.encode(`message ${i}`))
			)
		);
		const answers = await Promise.all(
			batch.map((signature, i) =>
				node.verify(signature, utf8.encode(i % 2 ? `message ${i}` : 'wrong'), pub)
			)
		);
		expect(answers).toEqual(batch.map((_, i) => i % 2 === 1));
		const a = nobleX25519Pair();
		const b = nobleX25519Pair();
		expect(await node.x25519SharedSecret(a.secret, b.publicKey)).toEqual(
			await noble.x25519SharedSecret(b.secret, a.publicKey)
		);
	});

	it('✓ SHA-256 through node:crypto is noble’s, for any parts, and a digest is its own copy', () => {
		fc.assert(
			fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }), (parts) => {
				const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
				parts.reduce((at, p) => (joined.set(p, at), at + p.length), 0);
				const digest = hash(...parts);
				expect(digest).toEqual(sha256(joined));
				expect(digest.constructor).toBe(Uint8Array);
				expect(digest.buffer.byteLength).toBe(32);
			})
		);
		const fragmentSized = new Uint8Array(1 << 20).map((_, i) => i * 31);
		expect(hash(fragmentSized)).toEqual(sha256(fragmentSized));
	});
});

describe('lockboxes', () => {
	async function lockboxFor(recipientPublic: Uint8Array) {
		const author = await deviceKeys();
		return sealLockbox({
			space,
			document,
			epoch,
			epochKey,
			recipient: recipientPublic,
			author: author.publicKey,
			sign: author.sign
		});
	}

	it('✓ only the recipient opens it, and gets the epoch key', async () => {
		const bob = nobleX25519Pair();
		const carol = nobleX25519Pair();
		const lockbox = await lockboxFor(bob.publicKey);
		const parsed = parseLockbox(lockbox.bytes);
		expect(
			await openLockbox(parsed, {
				space,
				recipientSecret: bob.secret,
				recipientPublic: bob.publicKey
			})
		).toEqual(epochKey);
		await expect(
			openLockbox(parsed, {
				space,
				recipientSecret: carol.secret,
				recipientPublic: carol.publicKey
			})
		).rejects.toMatchObject({ code: 'wrong-recipient' });
		await expect(
			openLockbox(parsed, { space, recipientSecret: carol.secret, recipientPublic: bob.publicKey })
		).rejects.toMatchObject({ code: 'decryption-failed' });
		await expect(
			openLockbox(parsed, {
				space: randomBytes(16),
				recipientSecret: bob.secret,
				recipientPublic: bob.publicKey
			})
		).rejects.toMatchObject({ code: 'wrong-space' });
	});

	it('✓ flipping any byte of a lockbox makes it fail with a typed error', async () => {
		const bob = nobleX25519Pair();
		const lockbox = await lockboxFor(bob.publicKey);
		for (let i = 0; i < lockbox.bytes.length; i++) {
			const tampered = Uint8Array.from(lockbox.bytes);
			tampered[i]! ^= 0x01;
			let code = 'opened';
			try {
				await openLockbox(parseLockbox(tampered), {
					space,
					recipientSecret: bob.secret,
					recipientPublic: bob.publicKey
				});
			} catch (error) {
				expect(error).toBeInstanceOf(CharterError);
				code = (error as CharterError).code;
			}
			expect(code, `byte ${i}`).not.toBe('opened');
		}
	});
});
