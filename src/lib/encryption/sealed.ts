/**
 * What every sealed format (entries, lockboxes, fragments) shares after its own header:
 *
 *   sealed    = header ‖ u32 ciphertext length ‖ ciphertext ‖ signature (64)
 *   signature = Ed25519(signer, domain tag ‖ header ‖ u32 length ‖ ciphertext)
 *
 * Encrypt-then-sign: anyone can check who sealed the bytes; only key holders can read them.
 */
import { cryptoProvider, SIGNATURE_BYTES } from '../crypto/primitives.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { concatBytes } from '../util/bytes.js';

export interface SealedParts {
	headerBytes: Uint8Array;
	ciphertext: Uint8Array;
	signature: Uint8Array;
	/** Everything the signature covers, without the domain tag. */
	signedBytes: Uint8Array;
	bytes: Uint8Array;
}

/** Reads the length-prefixed ciphertext and the signature that follow a header `r` just read. */
export function readSealedTail(
	r: BinaryReader,
	bytes: Uint8Array,
	maxCiphertext: number
): SealedParts {
	const headerBytes = bytes.subarray(0, r.offset);
	const ciphertext = r.blob(maxCiphertext);
	const signedEnd = r.offset;
	const signature = r.bytes(SIGNATURE_BYTES);
	r.end();
	return { headerBytes, ciphertext, signature, signedBytes: bytes.subarray(0, signedEnd), bytes };
}

/** Appends the ciphertext and the signer's signature to a header: the sealed bytes. */
export async function signSealed(
	domain: Uint8Array,
	headerBytes: Uint8Array,
	ciphertext: Uint8Array,
	sign: (message: Uint8Array) => Promise<Uint8Array>
): Promise<Uint8Array> {
	const signed = new BinaryWriter().bytes(headerBytes).blob(ciphertext).finish();
	return concatBytes(signed, await sign(concatBytes(domain, signed)));
}

export async function verifySealed(
	domain: Uint8Array,
	parts: Pick<SealedParts, 'signature' | 'signedBytes'>,
	signer: Uint8Array
): Promise<boolean> {
	const provider = await cryptoProvider();
	return provider.verify(parts.signature, concatBytes(domain, parts.signedBytes), signer);
}
