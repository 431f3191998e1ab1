import { describe, expect, it } from 'vitest';
import { mkdtemp, stat, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity } from '../../src/lib/identity/identity.js';
import { MemorySecretStore } from '../../src/lib/identity/secret-store.js';
import { FileSecretStore } from '../../src/lib/identity/file-secret-store.js';
import { createRecoveryPhrase, isValidRecoveryPhrase } from '../../src/lib/identity/phrase.js';
import { verifyDeviceCertificate, verifyUserCard } from '../../src/lib/identity/certificates.js';
import { CharterError } from '../../src/lib/errors.js';
import { base64url } from '../../src/lib/util/bytes.js';

const codeOf = async (p: Promise<unknown>) => {
	try {
		await p;
	} catch (error) {
		expect(error).toBeInstanceOf(CharterError);
		return (error as CharterError).code;
	}
	return 'no error';
};

describe('recovery phrase', () => {
	it('✓ is 24 valid BIP-39 words', () => {
		const phrase = createRecoveryPhrase();
		expect(phrase.split(' ')).toHaveLength(24);
		expect(isValidRecoveryPhrase(phrase)).toBe(true);
		expect(isValidRecoveryPhrase(phrase.split(' ').slice(0, 12).join(' '))).toBe(false);
	});

	it('✓ restoring the same phrase yields the same user, with a new device', async () => {
		const { identity, phrase } = await Identity.create(new MemorySecretStore(), 'laptop');
		const restored = await Identity.restore(
			new MemorySecretStore(),
			`  ${phrase.toUpperCase()}  `,
			'phone'
		);
		expect(restored.userId).toBe(identity.userId);
		expect(restored.encryptionKey.publicKey).toEqual(identity.encryptionKey.publicKey);
		expect(restored.deviceId).not.toBe(identity.deviceId);
	});

	it('✓ a wrong phrase is refused with a typed error', async () => {
		// one word changed (the 8-bit checksum lets 1 in 256 such edits through: pick one it catches)
		const phrase = createRecoveryPhrase().split(' ');
		for (const word of ['abandon', 'ability', 'able', 'about', 'above', 'absent']) {
			if (word === phrase[3]) continue;
			phrase[3] = word;
			if (!isValidRecoveryPhrase(phrase.join(' '))) break;
		}
		expect(isValidRecoveryPhrase(phrase.join(' '))).toBe(false);
		expect(await codeOf(Identity.restore(new MemorySecretStore(), phrase.join(' '), 'x'))).toBe(
			'invalid-recovery-phrase'
		);
		expect(await codeOf(Identity.restore(new MemorySecretStore(), 'too short', 'x'))).toBe(
			'invalid-recovery-phrase'
		);
	});

	it('✓ a store holding an identity refuses a second one', async () => {
		const store = new MemorySecretStore();
		await Identity.create(store, 'a');
		expect(await codeOf(Identity.create(store, 'b'))).toBe('identity-exists');
	});
});

describe('device certificates and user cards', () => {
	it('✓ the device certificate verifies under the identity key, and any flipped byte breaks it', async () => {
		const { identity } = await Identity.create(new MemorySecretStore(), 'laptop');
		const cert = await verifyDeviceCertificate(identity.certificate.bytes);
		expect(cert.user).toBe(identity.userId);
		expect(cert.device).toBe(identity.deviceId);
		for (let i = 0; i < identity.certificate.bytes.length; i++) {
			const tampered = Uint8Array.from(identity.certificate.bytes);
			tampered[i]! ^= 0x01;
			const code = await codeOf(verifyDeviceCertificate(tampered));
			expect(['bad-signature', 'malformed', 'unsupported-version']).toContain(code);
		}
	});

	it('✓ a user card round-trips as text and rejects tampering', async () => {
		const { identity } = await Identity.create(new MemorySecretStore(), 'laptop');
		const card = await identity.card();
		const text = base64url.encode(card.bytes);
		const parsed = await verifyUserCard(text);
		expect(parsed.user).toBe(identity.userId);
		expect(parsed.devices.map((d) => d.device)).toEqual([identity.deviceId]);
		const tampered = Uint8Array.from(card.bytes);
		tampered[40]! ^= 0xff; // inside the encryption key
		expect(await codeOf(verifyUserCard(tampered))).toBe('bad-signature');
		expect(await codeOf(verifyUserCard('%%%'))).toBe('malformed');
	});
});

describe('file secret store', () => {
	it('✓ keeps secrets in a 0600 file that survives reopening', async () => {
		const dir = await mkdtemp(join(tmpdir(), 'charter-secrets-'));
		const store = new FileSecretStore(dir);
		const { identity } = await Identity.create(store, 'laptop');
		const info = await stat(join(dir, 'secrets.json'));
		expect(info.mode & 0o777).toBe(0o600);
		const again = await Identity.load(new FileSecretStore(dir));
		expect(again?.userId).toBe(identity.userId);
		expect(again?.deviceId).toBe(identity.deviceId);
		const text = await readFile(join(dir, 'secrets.json'), 'utf8');
		expect(text).not.toContain(' '); // never the phrase itself: only derived keys are stored
	});
});
