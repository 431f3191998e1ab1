/**
 * Lockboxes: an epoch key sealed to one recipient's X25519 encryption key, signed by the device that
 * wrote it (an unauthenticated lockbox would let any member hand others a bogus key — Quiet's audit).
 *
 *   lockbox = header ‖ u32 length ‖ ciphertext ‖ signature
 *   header  = 'CHL' ‖ version (1) ‖ space id (16) ‖ document id (16) ‖ epoch id (16) ‖
 *             recipient X25519 key (32) ‖ ephemeral X25519 key (32) ‖ author device key (32) ‖ nonce (24)
 *   wrapping key = HKDF-SHA-256(ikm = X25519(ephemeral, recipient), salt = ephemeral ‖ recipient,
 *                               info = "charter/v1/kdf/lockbox")
 *   ciphertext   = XChaCha20-Poly1305(wrapping key, nonce, epoch key, aad = header)
 *   signature    = Ed25519(author device key, DOMAIN.lockbox ‖ header ‖ u32 length ‖ ciphertext)
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
	NONCE_BYTES
} from '../crypto/primitives.js';
import { ID_BYTES } from '../identity/ids.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { readSealedTail, signSealed, verifySealed, type SealedParts } from './sealed.js';
import { bytesEqual, concatBytes } from '../util/bytes.js';

/** The lockbox's magic (crypto/domains.ts). */
export const LOCKBOX_MAGIC = MAGIC.lockbox;
const VERSION = 1;
const MAX_LOCKBOX_BYTES = 1024;

export interface LockboxHeader {
	space: Uint8Array;
	document: Uint8Array;
	epoch: Uint8Array;
	recipient: Uint8Array;
	ephemeral: Uint8Array;
	author: Uint8Array;
	nonce: Uint8Array;
}

export interface ParsedLockbox extends SealedParts {
	header: LockboxHeader;
}

export function parseLockbox(bytes: Uint8Array): ParsedLockbox {
	if (!(bytes instanceof Uint8Array)) throw new CharterError('malformed', 'lockbox is not bytes');
	if (bytes.length > MAX_LOCKBOX_BYTES) throw new CharterError('too-large', 'lockbox too large');
	const r = new BinaryReader(bytes, 'lockbox');
	if (!bytesEqual(r.bytes(3), LOCKBOX_MAGIC)) throw new CharterError('malformed', 'not a lockbox');
	const version = r.u8();
	if (version !== VERSION)
		throw new CharterError('unsupported-version', `lockbox version ${version}`);
	const header: LockboxHeader = {
		space: r.bytes(ID_BYTES),
		document: r.bytes(ID_BYTES),
		epoch: r.bytes(ID_BYTES),
		recipient: r.bytes(KEY_BYTES),
		ephemeral: r.bytes(KEY_BYTES),
		author: r.bytes(KEY_BYTES),
		nonce: r.bytes(NONCE_BYTES)
	};
	return { header, ...readSealedTail(r, bytes, MAX_LOCKBOX_BYTES) };
}

export interface SealLockboxInput {
	space: Uint8Array;
	document: Uint8Array;
	epoch: Uint8Array;
	epochKey: Uint8Array;
	recipient: Uint8Array;
	author: Uint8Array;
	sign: (message: Uint8Array) => Promise<Uint8Array>;
}

function wrappingKey(shared: Uint8Array, ephemeral: Uint8Array, recipient: Uint8Array) {
	return deriveKey(shared, concatBytes(ephemeral, recipient), KDF.lockbox);
}

export async function sealLockbox(input: SealLockboxInput): Promise<ParsedLockbox> {
	if (input.epochKey.length !== KEY_BYTES)
		throw new CharterError('invalid-argument', 'epoch key must be 32 bytes');
	const provider = await cryptoProvider();
	let ephemeral: Uint8Array;
	let shared: Uint8Array;
	try {
		({ ephemeralPublic: ephemeral, shared } = await provider.x25519Ephemeral(input.recipient));
	} catch (cause) {
		throw new CharterError('invalid-argument', 'recipient is not a usable X25519 key', { cause });
	}
	const nonce = newNonce();
	const headerBytes = new BinaryWriter()
		.bytes(LOCKBOX_MAGIC)
		.u8(VERSION)
		.bytes(input.space, ID_BYTES)
		.bytes(input.document, ID_BYTES)
		.bytes(input.epoch, ID_BYTES)
		.bytes(input.recipient, KEY_BYTES)
		.bytes(ephemeral, KEY_BYTES)
		.bytes(input.author, KEY_BYTES)
		.bytes(nonce, NONCE_BYTES)
		.finish();
	const ciphertext = aeadSeal(
		wrappingKey(shared, ephemeral, input.recipient),
		nonce,
		input.epochKey,
		headerBytes
	);
	const sealed = await signSealed(DOMAIN.lockbox, headerBytes, ciphertext, input.sign);
	return parseLockbox(sealed);
}

export async function verifyLockboxSignature(lockbox: ParsedLockbox): Promise<boolean> {
	return verifySealed(DOMAIN.lockbox, lockbox, lockbox.header.author);
}

/**
 * Verifies the author's signature, checks it is addressed to `recipientPublic` in `space`, then
 * unwraps the epoch key. Throws `bad-signature`, `wrong-space`, `wrong-recipient`, `decryption-failed`.
 * Whether the author was *allowed* to write it is the authority layer's question.
 */
export async function openLockbox(
	lockbox: ParsedLockbox,
	context: { space: Uint8Array; recipientSecret: Uint8Array; recipientPublic: Uint8Array }
): Promise<Uint8Array> {
	if (!bytesEqual(lockbox.header.space, context.space))
		throw new CharterError('wrong-space', 'lockbox belongs to another space');
	if (!bytesEqual(lockbox.header.recipient, context.recipientPublic))
		throw new CharterError('wrong-recipient', 'lockbox is addressed to another key');
	if (!(await verifyLockboxSignature(lockbox)))
		throw new CharterError('bad-signature', 'lockbox signature does not verify');
	const provider = await cryptoProvider();
	try {
		const shared = await provider.x25519SharedSecret(
			context.recipientSecret,
			lockbox.header.ephemeral
		);
		const key = aeadOpen(
			wrappingKey(shared, lockbox.header.ephemeral, lockbox.header.recipient),
			lockbox.header.nonce,
			lockbox.ciphertext,
			lockbox.headerBytes
		);
		if (key.length !== KEY_BYTES) throw new Error('wrong key length');
		return key;
	} catch (cause) {
		throw new CharterError('decryption-failed', 'lockbox does not open with this key', { cause });
	}
}
