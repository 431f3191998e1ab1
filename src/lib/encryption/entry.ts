/**
 * Sealed entries: the only thing that travels. One entry carries one batch of Automerge changes of
 * one document, encrypted under that document's epoch key and signed by the author's device key.
 *
 *   entry  = header ‖ u32 ciphertext length ‖ ciphertext ‖ signature
 *   header = 'CHE' ‖ version (1) ‖ space id (16) ‖ document id (16) ‖ epoch id (16) ‖
 *            author device key (32) ‖ session (8) ‖ seq (u32) ‖ prev (32) ‖ nonce (24)
 *   ciphertext = XChaCha20-Poly1305(epoch key, nonce, body, aad = header)
 *   signature  = Ed25519(device key, DOMAIN.entry ‖ header ‖ u32 length ‖ ciphertext)
 *
 * Encrypt-then-sign: anyone (a relay too) can check who wrote an entry without being able to read
 * it, and readers verify before they decrypt. `session`, `seq` and `prev` (the hash of the previous
 * entry of the same writer session in the same document) form a per-session hash chain.
 */
import { CharterError } from '../errors.js';
import { DOMAIN, MAGIC } from '../crypto/domains.js';
import {
	aeadOpen,
	aeadSeal,
	hash,
	KEY_BYTES,
	newNonce,
	NONCE_BYTES
} from '../crypto/primitives.js';
import { ID_BYTES } from '../identity/ids.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { readSealedTail, signSealed, verifySealed, type SealedParts } from './sealed.js';
import { base58, bytesEqual } from '../util/bytes.js';

/** The sealed entry's magic (crypto/domains.ts). */
export const ENTRY_MAGIC = MAGIC.entry;
export const ENTRY_VERSION = 1;
export const SESSION_BYTES = 8;
export const HASH_BYTES = 32;
/** Upper bound on one sealed entry; larger batches are split by the writer. */
export const MAX_ENTRY_BYTES = 4 * 1024 * 1024;

export interface EntryHeader {
	space: Uint8Array;
	document: Uint8Array;
	epoch: Uint8Array;
	author: Uint8Array;
	session: Uint8Array;
	seq: number;
	prev: Uint8Array;
	nonce: Uint8Array;
}

export interface ParsedEntry extends SealedParts {
	header: EntryHeader;
	/** SHA-256 of the whole entry: its identity in chains and dedup sets. */
	hash: Uint8Array;
}

export function entryHash(bytes: Uint8Array): Uint8Array {
	return hash(DOMAIN.entryId, bytes);
}

/** Short text id used as the key of an entry in an envelope document. */
export function entryKey(entryHashBytes: Uint8Array): string {
	return base58.encode(entryHashBytes.subarray(0, 16));
}

/**
 * Structural parse only (no crypto). Throws `malformed`, `too-large` or `unsupported-version`.
 * `knownHash`: the entry's hash when the caller already computed it (`entryHash(bytes)`).
 */
export function parseEntry(bytes: Uint8Array, knownHash?: Uint8Array): ParsedEntry {
	if (!(bytes instanceof Uint8Array)) throw new CharterError('malformed', 'entry is not bytes');
	if (bytes.length > MAX_ENTRY_BYTES)
		throw new CharterError('too-large', `entry over ${MAX_ENTRY_BYTES} bytes`);
	const r = new BinaryReader(bytes, 'entry');
	if (!bytesEqual(r.bytes(3), ENTRY_MAGIC))
		throw new CharterError('malformed', 'not a sealed entry');
	const version = r.u8();
	if (version !== ENTRY_VERSION)
		throw new CharterError('unsupported-version', `entry version ${version}`);
	const header: EntryHeader = {
		space: r.bytes(ID_BYTES),
		document: r.bytes(ID_BYTES),
		epoch: r.bytes(ID_BYTES),
		author: r.bytes(KEY_BYTES),
		session: r.bytes(SESSION_BYTES),
		seq: r.u32(),
		prev: r.bytes(HASH_BYTES),
		nonce: r.bytes(NONCE_BYTES)
	};
	return {
		header,
		...readSealedTail(r, bytes, MAX_ENTRY_BYTES),
		hash: knownHash ?? entryHash(bytes)
	};
}

export async function verifyEntrySignature(entry: ParsedEntry): Promise<boolean> {
	return verifySealed(DOMAIN.entry, entry, entry.header.author);
}

export interface SealEntryInput {
	space: Uint8Array;
	document: Uint8Array;
	epoch: Uint8Array;
	epochKey: Uint8Array;
	author: Uint8Array;
	session: Uint8Array;
	seq: number;
	prev: Uint8Array;
	body: Uint8Array;
	sign: (message: Uint8Array) => Promise<Uint8Array>;
}

export async function sealEntry(input: SealEntryInput): Promise<ParsedEntry> {
	if (input.epochKey.length !== KEY_BYTES)
		throw new CharterError('invalid-argument', 'epoch key must be 32 bytes');
	const nonce = newNonce();
	const headerBytes = new BinaryWriter()
		.bytes(ENTRY_MAGIC)
		.u8(ENTRY_VERSION)
		.bytes(input.space, ID_BYTES)
		.bytes(input.document, ID_BYTES)
		.bytes(input.epoch, ID_BYTES)
		.bytes(input.author, KEY_BYTES)
		.bytes(input.session, SESSION_BYTES)
		.u32(input.seq)
		.bytes(input.prev, HASH_BYTES)
		.bytes(nonce, NONCE_BYTES)
		.finish();
	const ciphertext = aeadSeal(input.epochKey, nonce, input.body, headerBytes);
	const sealed = await signSealed(DOMAIN.entry, headerBytes, ciphertext, input.sign);
	const bytes = sealed;
	if (bytes.length > MAX_ENTRY_BYTES)
		throw new CharterError('too-large', `entry over ${MAX_ENTRY_BYTES} bytes`);
	return parseEntry(bytes);
}

export interface OpenEntryContext {
	space: Uint8Array;
	document: Uint8Array;
	/** Returns the key of an epoch of this document, or undefined when this reader lacks it. */
	epochKey: (epoch: Uint8Array) => Uint8Array | undefined;
}

/**
 * Checks context, verifies the signature, then decrypts. Every failure is a typed CharterError:
 * `wrong-space`, `wrong-document`, `bad-signature`, `unknown-epoch`, `decryption-failed`.
 */
export async function openEntry(
	entry: ParsedEntry,
	context: OpenEntryContext
): Promise<Uint8Array> {
	if (!bytesEqual(entry.header.space, context.space))
		throw new CharterError('wrong-space', 'entry belongs to another space');
	if (!bytesEqual(entry.header.document, context.document))
		throw new CharterError('wrong-document', 'entry belongs to another document');
	if (!(await verifyEntrySignature(entry)))
		throw new CharterError('bad-signature', 'entry signature does not verify');
	const key = context.epochKey(entry.header.epoch);
	if (!key) throw new CharterError('unknown-epoch', 'no key for this epoch');
	return decryptEntry(entry, key);
}

/** Decrypts an entry whose signature the caller has already verified. */
export function decryptEntry(entry: ParsedEntry, key: Uint8Array): Uint8Array {
	try {
		return aeadOpen(key, entry.header.nonce, entry.ciphertext, entry.headerBytes);
	} catch (cause) {
		throw new CharterError('decryption-failed', 'entry does not decrypt under the epoch key', {
			cause
		});
	}
}
