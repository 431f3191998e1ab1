/**
 * Ephemeral signals: "typing" and "online", sent over automerge-repo's ephemeral channel and never
 * stored. Sealed and signed exactly like an entry (entry.ts), so a relay learns no more from a
 * signal than from an entry: which document's envelope it travels on, under which epoch id, which
 * device signed it, when, and how big it is — never who the user is, what channel it is, or what
 * kind of signal it is.
 *
 *   signal     = header ‖ u32 ciphertext length ‖ ciphertext ‖ signature
 *   header     = 'CHS' ‖ version (1) ‖ space id (16) ‖ document id (16) ‖ epoch id (16) ‖
 *                author device key (32) ‖ session (8) ‖ nonce (24)
 *   body       = kind (u8) ‖ sent at (u64, ms since 1970)
 *   ciphertext = XChaCha20-Poly1305(epoch key, nonce, body, aad = header)
 *   signature  = Ed25519(device key, DOMAIN.signal ‖ header ‖ u32 length ‖ ciphertext)
 *
 * The sending time is inside the body (authenticated, unreadable to relays); receivers judge it
 * (client/presence.ts). Pure format code: no clocks, no network.
 */
import { CharterError } from '../errors.js';
import { DOMAIN, MAGIC } from '../crypto/domains.js';
import { aeadOpen, aeadSeal, KEY_BYTES, newNonce, NONCE_BYTES } from '../crypto/primitives.js';
import { ID_BYTES } from '../identity/ids.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { bytesEqual } from '../util/bytes.js';
import { readSealedTail, signSealed, verifySealed, type SealedParts } from './sealed.js';
import { SESSION_BYTES } from './entry.js';

export const SIGNAL_VERSION = 1;
/** Largest ciphertext a signal may carry: today's body is 9 bytes (+16 of tag); room to grow. */
export const MAX_SIGNAL_CIPHERTEXT = 256;
/** Largest signal accepted: header (116) + length (4) + ciphertext + signature (64), rounded up. */
export const MAX_SIGNAL_BYTES = 512;

/** What a signal says, once opened. */
export const SIGNAL_KIND = {
	/** The signer is typing in the channel the signal's document is. */
	typing: 1,
	/** The signer stopped typing (sent, or cleared the composer). */
	stopped: 2,
	/** The signer is online in the space (a heartbeat). */
	online: 3,
	/** The signer went offline (closed, or chose to appear offline). */
	offline: 4
} as const;

export type SignalKind = (typeof SIGNAL_KIND)[keyof typeof SIGNAL_KIND];
const KINDS = new Set<number>(Object.values(SIGNAL_KIND));

export interface SignalHeader {
	space: Uint8Array;
	document: Uint8Array;
	epoch: Uint8Array;
	author: Uint8Array;
	session: Uint8Array;
	nonce: Uint8Array;
}

export interface ParsedSignal extends SealedParts {
	header: SignalHeader;
}

export interface SignalBody {
	kind: SignalKind;
	/** When the signer sent it (ms since 1970, by the signer's clock). */
	sentAt: number;
}

/** Structural parse only (no crypto). Throws `malformed`, `too-large` or `unsupported-version`. */
export function parseSignal(bytes: unknown): ParsedSignal {
	if (!(bytes instanceof Uint8Array)) throw new CharterError('malformed', 'signal is not bytes');
	if (bytes.length > MAX_SIGNAL_BYTES)
		throw new CharterError('too-large', `signal over ${MAX_SIGNAL_BYTES} bytes`);
	const r = new BinaryReader(bytes, 'signal');
	if (!bytesEqual(r.bytes(3), MAGIC.signal)) throw new CharterError('malformed', 'not a signal');
	const version = r.u8();
	if (version !== SIGNAL_VERSION)
		throw new CharterError('unsupported-version', `signal version ${version}`);
	const header: SignalHeader = {
		space: r.bytes(ID_BYTES),
		document: r.bytes(ID_BYTES),
		epoch: r.bytes(ID_BYTES),
		author: r.bytes(KEY_BYTES),
		session: r.bytes(SESSION_BYTES),
		nonce: r.bytes(NONCE_BYTES)
	};
	return { header, ...readSealedTail(r, bytes, MAX_SIGNAL_CIPHERTEXT) };
}

export function verifySignalSignature(signal: ParsedSignal): Promise<boolean> {
	return verifySealed(DOMAIN.signal, signal, signal.header.author);
}

export interface SealSignalInput {
	space: Uint8Array;
	document: Uint8Array;
	epoch: Uint8Array;
	epochKey: Uint8Array;
	author: Uint8Array;
	session: Uint8Array;
	body: SignalBody;
	sign: (message: Uint8Array) => Promise<Uint8Array>;
}

export async function sealSignal(input: SealSignalInput): Promise<Uint8Array> {
	if (input.epochKey.length !== KEY_BYTES)
		throw new CharterError('invalid-argument', 'epoch key must be 32 bytes');
	if (!KINDS.has(input.body.kind))
		throw new CharterError('invalid-argument', `not a signal kind: ${input.body.kind}`);
	const nonce = newNonce();
	const headerBytes = new BinaryWriter()
		.bytes(MAGIC.signal)
		.u8(SIGNAL_VERSION)
		.bytes(input.space, ID_BYTES)
		.bytes(input.document, ID_BYTES)
		.bytes(input.epoch, ID_BYTES)
		.bytes(input.author, KEY_BYTES)
		.bytes(input.session, SESSION_BYTES)
		.bytes(nonce, NONCE_BYTES)
		.finish();
	const body = new BinaryWriter().u8(input.body.kind).u64(input.body.sentAt).finish();
	const ciphertext = aeadSeal(input.epochKey, nonce, body, headerBytes);
	return signSealed(DOMAIN.signal, headerBytes, ciphertext, input.sign);
}

/**
 * Decrypts a signal whose signature the caller has verified. Throws `decryption-failed` (wrong key,
 * tampered) or `malformed` (a body that is not a known kind and a time).
 */
export function openSignal(signal: ParsedSignal, key: Uint8Array): SignalBody {
	let plain: Uint8Array;
	try {
		plain = aeadOpen(key, signal.header.nonce, signal.ciphertext, signal.headerBytes);
	} catch (cause) {
		throw new CharterError('decryption-failed', 'signal does not decrypt under the epoch key', {
			cause
		});
	}
	const r = new BinaryReader(plain, 'signal body');
	const kind = r.u8();
	const sentAt = r.u64();
	r.end();
	if (!KINDS.has(kind)) throw new CharterError('malformed', `unknown signal kind ${kind}`);
	return { kind: kind as SignalKind, sentAt };
}
