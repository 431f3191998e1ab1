/**
 * Compacted fragments: many sealed entries of one document, verbatim, compressed together and sealed
 * again, so a new device downloads a handful of values instead of one envelope change per message.
 *
 *   fragment = header ‖ u32 ciphertext length ‖ ciphertext ‖ signature
 *   header   = 'CHF' ‖ version (1) ‖ space id (16) ‖ document id (16) ‖ generation (u32) ‖
 *              epoch id (16) ‖ compactor device key (32) ‖ entry count (u32) ‖ nonce (24)
 *   plaintext  = deflate-raw( (u32 length ‖ sealed entry)* )
 *   ciphertext = XChaCha20-Poly1305(epoch key, nonce, plaintext, aad = header)
 *   signature  = Ed25519(compactor device key, DOMAIN.fragment ‖ header ‖ u32 length ‖ ciphertext)
 *
 * The compactor vouches for nothing inside: every entry keeps its author's own signature and is
 * verified exactly as if it had arrived alone, so a compactor can leave entries out but never invent
 * or alter one. The fragment's own signature only names who compacted (and lets a sync server admit
 * the new envelope generation without a key); the epoch key hides even the entry headers from it.
 */
import { CharterError } from '../errors.js';
import { DOMAIN, MAGIC } from '../crypto/domains.js';
import { aeadOpen, aeadSeal, KEY_BYTES, newNonce, NONCE_BYTES } from '../crypto/primitives.js';
import { ID_BYTES } from '../identity/ids.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { readSealedTail, signSealed, verifySealed, type SealedParts } from './sealed.js';
import { bytesEqual, concatBytes } from '../util/bytes.js';
import { MAX_ENTRY_BYTES } from './entry.js';

/** The fragment's magic (crypto/domains.ts). */
export const FRAGMENT_MAGIC = MAGIC.fragment;
export const FRAGMENT_VERSION = 1;
/** Upper bound on one sealed fragment (compactors aim well below it). */
export const MAX_FRAGMENT_BYTES = 8 * 1024 * 1024;
/** Upper bound on a fragment's inflated contents: a hostile fragment cannot make a reader inflate more. */
export const MAX_FRAGMENT_CONTENTS = 32 * 1024 * 1024;
/** Upper bound on entries in one fragment. */
export const MAX_FRAGMENT_ENTRIES = 50_000;

export interface FragmentHeader {
	space: Uint8Array;
	document: Uint8Array;
	generation: number;
	epoch: Uint8Array;
	compactor: Uint8Array;
	count: number;
	nonce: Uint8Array;
}

export interface ParsedFragment extends SealedParts {
	header: FragmentHeader;
}

export function isFragment(bytes: Uint8Array): boolean {
	return bytes.length >= 3 && bytesEqual(bytes.subarray(0, 3), FRAGMENT_MAGIC);
}

/** Structural parse only (no crypto). Throws `malformed`, `too-large` or `unsupported-version`. */
export function parseFragment(bytes: Uint8Array): ParsedFragment {
	if (!(bytes instanceof Uint8Array)) throw new CharterError('malformed', 'fragment is not bytes');
	if (bytes.length > MAX_FRAGMENT_BYTES)
		throw new CharterError('too-large', `fragment over ${MAX_FRAGMENT_BYTES} bytes`);
	const r = new BinaryReader(bytes, 'fragment');
	if (!bytesEqual(r.bytes(3), FRAGMENT_MAGIC))
		throw new CharterError('malformed', 'not a compacted fragment');
	const version = r.u8();
	if (version !== FRAGMENT_VERSION)
		throw new CharterError('unsupported-version', `fragment version ${version}`);
	const header: FragmentHeader = {
		space: r.bytes(ID_BYTES),
		document: r.bytes(ID_BYTES),
		generation: r.u32(),
		epoch: r.bytes(ID_BYTES),
		compactor: r.bytes(KEY_BYTES),
		count: r.u32(),
		nonce: r.bytes(NONCE_BYTES)
	};
	if (header.count > MAX_FRAGMENT_ENTRIES)
		throw new CharterError('too-large', `fragment of over ${MAX_FRAGMENT_ENTRIES} entries`);
	return { header, ...readSealedTail(r, bytes, MAX_FRAGMENT_BYTES) };
}

export async function verifyFragmentSignature(fragment: ParsedFragment): Promise<boolean> {
	return verifySealed(DOMAIN.fragment, fragment, fragment.header.compactor);
}

export interface SealFragmentInput {
	space: Uint8Array;
	document: Uint8Array;
	generation: number;
	epoch: Uint8Array;
	epochKey: Uint8Array;
	compactor: Uint8Array;
	/** Sealed entries, verbatim. */
	entries: Uint8Array[];
	sign: (message: Uint8Array) => Promise<Uint8Array>;
}

export async function sealFragment(input: SealFragmentInput): Promise<ParsedFragment> {
	if (input.epochKey.length !== KEY_BYTES)
		throw new CharterError('invalid-argument', 'epoch key must be 32 bytes');
	if (input.entries.length === 0 || input.entries.length > MAX_FRAGMENT_ENTRIES)
		throw new CharterError(
			'invalid-argument',
			`a fragment holds 1 to ${MAX_FRAGMENT_ENTRIES} entries`
		);
	const contents = new BinaryWriter();
	for (const entry of input.entries) contents.blob(entry);
	const nonce = newNonce();
	const headerBytes = new BinaryWriter()
		.bytes(FRAGMENT_MAGIC)
		.u8(FRAGMENT_VERSION)
		.bytes(input.space, ID_BYTES)
		.bytes(input.document, ID_BYTES)
		.u32(input.generation)
		.bytes(input.epoch, ID_BYTES)
		.bytes(input.compactor, KEY_BYTES)
		.u32(input.entries.length)
		.bytes(nonce, NONCE_BYTES)
		.finish();
	const compressed = await deflate(contents.finish());
	const ciphertext = aeadSeal(input.epochKey, nonce, compressed, headerBytes);
	const sealed = await signSealed(DOMAIN.fragment, headerBytes, ciphertext, input.sign);
	return parseFragment(sealed);
}

/**
 * Decrypts and inflates a fragment whose signature the caller checked. Returns the sealed entries it
 * carries — still to be verified one by one. Throws `decryption-failed` or `malformed`.
 */
export async function openFragment(
	fragment: ParsedFragment,
	epochKey: Uint8Array
): Promise<Uint8Array[]> {
	let compressed: Uint8Array;
	try {
		compressed = aeadOpen(
			epochKey,
			fragment.header.nonce,
			fragment.ciphertext,
			fragment.headerBytes
		);
	} catch (cause) {
		throw new CharterError('decryption-failed', 'fragment does not decrypt under the epoch key', {
			cause
		});
	}
	const contents = await inflate(compressed, MAX_FRAGMENT_CONTENTS);
	const r = new BinaryReader(contents, 'fragment contents');
	const entries: Uint8Array[] = [];
	for (let i = 0; i < fragment.header.count; i++) entries.push(r.blob(MAX_ENTRY_BYTES));
	r.end();
	return entries;
}

async function deflate(data: Uint8Array): Promise<Uint8Array> {
	const stream = new Blob([data as Uint8Array<ArrayBuffer>])
		.stream()
		.pipeThrough(new CompressionStream('deflate-raw'));
	return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Inflates at most `limit` bytes: a small hostile input cannot expand without bound. */
async function inflate(data: Uint8Array, limit: number): Promise<Uint8Array> {
	const reader = new Blob([data as Uint8Array<ArrayBuffer>])
		.stream()
		.pipeThrough(new DecompressionStream('deflate-raw'))
		.getReader();
	const chunks: Uint8Array[] = [];
	let total = 0;
	try {
		for (;;) {
			const { done, value } = await reader.read();
			if (done) break;
			total += value.length;
			if (total > limit) {
				await reader.cancel();
				throw new CharterError('too-large', `fragment contents over ${limit} bytes`);
			}
			chunks.push(value);
		}
	} catch (cause) {
		if (cause instanceof CharterError) throw cause;
		throw new CharterError('malformed', 'fragment contents do not inflate', { cause });
	}
	return concatBytes(...chunks);
}
