/**
 * A rotation hand-over: after an identity rotation (rotation.ts), the rotating device hands each
 * device the user chose to keep what it needs to go on as the same user under the new key — the
 * new identity seed, the new encryption-key generation, the new phrase's recovery public key, the
 * chain, and a certificate of the new key for that device (the layout of a device-link bundle,
 * device-link.ts):
 *
 *   follow  = header ‖ nonce (24) ‖ XChaCha20-Poly1305(K, nonce, bundle, aad = DOMAIN.rotationFollow ‖ header)
 *   header  = 'CHD' ‖ 1 ‖ device key D (32, Ed25519) ‖ ephemeral X25519 key E (32)
 *   K       = HKDF(X25519(e, X(D)), salt = E ‖ X(D), "charter/v1/kdf/rotation-follow")
 *   X(D)    = the X25519 form of the Ed25519 device key (crypto/primitives.ts `x25519OfEd25519`)
 *
 * Why X(D) and not the X25519 key a device certificate names: whoever held the leaked phrase could
 * have issued a certificate naming the kept device's key beside an X25519 key of their own, and a
 * hand-over sealed to it would give them the new identity. X(D) is fixed by the device id alone; only
 * the holder of D's seed opens it. It is written in plaintext beside the user's account entries
 * (sync/account.ts); a sync server sees ciphertext and which device key it is for (a device key is
 * public on every card of the user anyway). Anyone can write one: a device follows a hand-over only
 * when its chain continues its own and a space it is in shows a card with that chain (Charter).
 */
import { CharterError } from '../errors.js';
import { DOMAIN, KDF, MAGIC } from '../crypto/domains.js';
import {
	aeadOpen,
	aeadSeal,
	cryptoProvider,
	deriveKey,
	KEY_BYTES,
	newNonce,
	NONCE_BYTES,
	x25519OfEd25519,
	x25519SecretOfEd25519Seed
} from '../crypto/primitives.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { bytesEqual, concatBytes } from '../util/bytes.js';
import { decodeBundle, encodeBundle, type LinkBundle } from './device-link.js';

const FOLLOW_MAGIC = MAGIC.rotationFollow;
const VERSION = 1;
const HEADER_BYTES = 3 + 1 + KEY_BYTES + KEY_BYTES;
/**
 * A hand-over holds at most a chain of MAX_ROTATIONS links (32 × 212 bytes) beside a certificate
 * and three keys: under 8 KiB. Anything larger is junk and is not opened.
 */
export const MAX_FOLLOW_BYTES = 8192;

/** Whether `bytes` is a hand-over (by its magic: the account envelope carries other records too). */
export function isFollow(bytes: Uint8Array): boolean {
	return bytes.length > HEADER_BYTES && bytesEqual(bytes.subarray(0, 3), FOLLOW_MAGIC);
}

/** The Ed25519 device key a hand-over is for (undefined when it is not a hand-over). */
export function followRecipient(bytes: Uint8Array): Uint8Array | undefined {
	if (!isFollow(bytes) || bytes[3] !== VERSION) return undefined;
	return bytes.subarray(4, 4 + KEY_BYTES);
}

function followKey(shared: Uint8Array, ephemeral: Uint8Array, recipient: Uint8Array) {
	return deriveKey(shared, concatBytes(ephemeral, recipient), KDF.rotationFollow);
}

/** Seals `bundle` to the device whose Ed25519 key is `deviceKey`. */
export async function sealFollow(deviceKey: Uint8Array, bundle: LinkBundle): Promise<Uint8Array> {
	let recipient: Uint8Array;
	try {
		recipient = x25519OfEd25519(deviceKey);
	} catch {
		throw new CharterError('invalid-argument', 'not a device key');
	}
	const { ephemeralPublic, shared } = await (await cryptoProvider()).x25519Ephemeral(recipient);
	const header = new BinaryWriter()
		.bytes(FOLLOW_MAGIC)
		.u8(VERSION)
		.bytes(deviceKey, KEY_BYTES)
		.bytes(ephemeralPublic, KEY_BYTES)
		.finish();
	const nonce = newNonce();
	const sealed = aeadSeal(
		followKey(shared, ephemeralPublic, recipient),
		nonce,
		encodeBundle(bundle),
		concatBytes(DOMAIN.rotationFollow, header)
	);
	const bytes = concatBytes(header, nonce, sealed);
	if (bytes.length > MAX_FOLLOW_BYTES) throw new CharterError('too-large', 'hand-over too large');
	return bytes;
}

/**
 * Opens a hand-over with the device's own seed: the bundle (its structure parsed, nothing verified —
 * Identity.follow checks it), or undefined when it is not for this device, damaged or junk.
 */
export async function openFollow(
	deviceSeed: Uint8Array,
	deviceKey: Uint8Array,
	bytes: Uint8Array
): Promise<LinkBundle | undefined> {
	if (bytes.length > MAX_FOLLOW_BYTES) return undefined;
	const to = followRecipient(bytes);
	if (!to || !bytesEqual(to, deviceKey)) return undefined;
	try {
		const r = new BinaryReader(bytes, 'rotation hand-over');
		const header = r.bytes(HEADER_BYTES);
		const ephemeral = header.subarray(4 + KEY_BYTES);
		const nonce = r.bytes(NONCE_BYTES);
		const sealed = bytes.subarray(HEADER_BYTES + NONCE_BYTES);
		const secret = x25519SecretOfEd25519Seed(deviceSeed);
		const shared = await (await cryptoProvider()).x25519SharedSecret(secret, ephemeral);
		const body = aeadOpen(
			followKey(shared, ephemeral, x25519OfEd25519(deviceKey)),
			nonce,
			sealed,
			concatBytes(DOMAIN.rotationFollow, header)
		);
		return decodeBundle(body);
	} catch {
		return undefined;
	}
}
