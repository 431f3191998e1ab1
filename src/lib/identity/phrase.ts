/**
 * Recovery phrases: 24 BIP-39 English words (256 bits of entropy). The phrase is the user's root
 * secret; from its BIP-39 seed we derive, with HKDF and distinct info strings, the Ed25519 identity
 * key and each generation of the X25519 encryption key. Generations let a device revocation rotate the
 * encryption key while recovery from the phrase still finds every generation.
 */
import { generateMnemonic, mnemonicToSeed, validateMnemonic } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { CharterError } from '../errors.js';
import { deriveKey } from '../crypto/primitives.js';
import { KDF, SALT } from '../crypto/domains.js';

export const RECOVERY_PHRASE_WORDS = 24;

export function createRecoveryPhrase(): string {
	return generateMnemonic(wordlist, 256);
}

/** Lower-cases and collapses whitespace so a phrase typed by hand matches the one shown. */
export function normalizeRecoveryPhrase(phrase: string): string {
	if (typeof phrase !== 'string')
		throw new CharterError('invalid-recovery-phrase', 'recovery phrase must be a string');
	return phrase.normalize('NFKD').trim().toLowerCase().split(/\s+/).join(' ');
}

export function isValidRecoveryPhrase(phrase: string): boolean {
	try {
		const normalized = normalizeRecoveryPhrase(phrase);
		return (
			normalized.split(' ').length === RECOVERY_PHRASE_WORDS &&
			validateMnemonic(normalized, wordlist)
		);
	} catch {
		return false;
	}
}

export interface RootSecrets {
	/** Ed25519 seed of the identity key. */
	identitySeed: Uint8Array;
	/** Derives the X25519 secret of one encryption-key generation. */
	encryptionSecret(generation: number): Uint8Array;
	/**
	 * X25519 secret known only to holders of the phrase (never given to linked devices): later
	 * encryption-key generations are sealed to its public key, so a restore finds them and a revoked
	 * linked device cannot.
	 */
	recoverySecret: Uint8Array;
}

const ROOT_SALT = SALT.root;

export async function rootSecretsFromPhrase(phrase: string): Promise<RootSecrets> {
	const normalized = normalizeRecoveryPhrase(phrase);
	if (!isValidRecoveryPhrase(normalized)) {
		const count = normalized ? normalized.split(' ').length : 0;
		throw new CharterError(
			'invalid-recovery-phrase',
			count !== RECOVERY_PHRASE_WORDS
				? `a recovery phrase has ${RECOVERY_PHRASE_WORDS} words, this one has ${count}`
				: 'the recovery phrase has a misspelt word or a wrong checksum'
		);
	}
	const seed = await mnemonicToSeed(normalized);
	return {
		identitySeed: deriveKey(seed, ROOT_SALT, KDF.identitySigning),
		encryptionSecret: (generation) => deriveKey(seed, ROOT_SALT, KDF.userEncryption(generation)),
		recoverySecret: deriveKey(seed, ROOT_SALT, KDF.recovery)
	};
}
