/**
 * Linking a new device. The existing device shows a one-time code; the new device, holding it,
 * rendezvous with it through any shared peer in a throwaway envelope document:
 *
 *   code      = 'charter-link:' ‖ base64url('CHK' ‖ 1 ‖ secret (32) ‖ u8 n ‖ n × (u16 len ‖ endpoint))
 *   document  = envelopeDocumentId(SHA-256(DOMAIN.deviceLink ‖ secret)[0..16], 0…0)
 *   request   = 'CHQ' ‖ nonce (24) ‖ XChaCha20-Poly1305(K, nonce, device key ‖ device X25519 key ‖ ephemeral X25519 key ‖ name)
 *   response  = 'CHR' ‖ ephemeral X25519 key (32) ‖ nonce (24) ‖ XChaCha20-Poly1305(K', nonce, bundle)
 *   K  = HKDF(secret, "charter/v1/kdf/device-link"),  K' = HKDF(X25519(ephemerals) ‖ secret, same info)
 *   bundle = identity seed ‖ certificate of the new device ‖ the user's encryption-key generations ‖
 *            recovery public key (never the phrase or the recovery secret) ‖
 *            [root key (32) ‖ rotation chain — only when the identity was rotated (rotation.ts)]
 *
 * Only a holder of the code can make a request or read the response; the response is additionally
 * bound to the requester's ephemeral key, so a relay that learns the code afterwards learns nothing.
 */
import { CharterError } from '../errors.js';
import { DOMAIN, KDF, LINK_PREFIX, MAGIC } from '../crypto/domains.js';
import {
	aeadOpen,
	aeadSeal,
	cryptoProvider,
	deriveKey,
	hash,
	newNonce,
	NONCE_BYTES
} from '../crypto/primitives.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { base64url, bytesEqual, concatBytes, randomBytes } from '../util/bytes.js';
import { ID_BYTES } from './ids.js';
import { readChain, writeChain, type RotationLink } from './rotation.js';

const CODE_MAGIC = MAGIC.deviceLinkCode;
const REQUEST = MAGIC.deviceLinkRequest;
const RESPONSE = MAGIC.deviceLinkResponse;
const PREFIX = LINK_PREFIX.deviceLink;

export interface LinkCode {
	secret: Uint8Array;
	endpoints: string[];
}

export interface LinkRequest {
	deviceKey: Uint8Array;
	deviceEncryptionKey: Uint8Array;
	ephemeral: Uint8Array;
	name: string;
}

export interface LinkBundle {
	identitySeed: Uint8Array;
	certificate: Uint8Array;
	encryption: { generation: number; secret: Uint8Array }[];
	recoveryPublic: Uint8Array;
	/** The identity-rotation chain from the root to the seed's key, when the identity was rotated. */
	chain?: { root: Uint8Array; links: readonly RotationLink[] };
}

export const newLinkSecret = () => randomBytes(32);

export function linkRendezvousId(secret: Uint8Array): Uint8Array {
	return hash(DOMAIN.deviceLink, secret).subarray(0, ID_BYTES);
}

export function encodeLinkCode(code: LinkCode): string {
	const w = new BinaryWriter()
		.bytes(CODE_MAGIC)
		.u8(1)
		.bytes(code.secret, 32)
		.u8(code.endpoints.length);
	for (const e of code.endpoints) w.string(e);
	return PREFIX + base64url.encode(w.finish());
}

export function parseLinkCode(text: string): LinkCode {
	try {
		const bytes = base64url.decode(String(text).trim().replace(PREFIX, ''));
		const r = new BinaryReader(bytes, 'device link code');
		if (!bytesEqual(r.bytes(3), CODE_MAGIC) || r.u8() !== 1) throw new Error('magic');
		const secret = Uint8Array.from(r.bytes(32));
		const endpoints: string[] = [];
		for (let i = r.u8(); i > 0; i--) endpoints.push(r.string());
		r.end();
		return { secret, endpoints };
	} catch {
		throw new CharterError('invalid-argument', 'this is not a device link code');
	}
}

const linkKey = (secret: Uint8Array) => deriveKey(secret, new Uint8Array(), KDF.deviceLink);

export function sealLinkRequest(secret: Uint8Array, request: LinkRequest): Uint8Array {
	const nonce = newNonce();
	const body = new BinaryWriter()
		.bytes(request.deviceKey, 32)
		.bytes(request.deviceEncryptionKey, 32)
		.bytes(request.ephemeral, 32)
		.string(request.name.slice(0, 64))
		.finish();
	return concatBytes(REQUEST, nonce, aeadSeal(linkKey(secret), nonce, body, REQUEST));
}

export function openLinkRequest(secret: Uint8Array, bytes: Uint8Array): LinkRequest | undefined {
	if (!bytesEqual(bytes.subarray(0, 3), REQUEST)) return undefined;
	try {
		const body = aeadOpen(
			linkKey(secret),
			bytes.subarray(3, 3 + NONCE_BYTES),
			bytes.subarray(3 + NONCE_BYTES),
			REQUEST
		);
		const r = new BinaryReader(body, 'link request');
		const request = {
			deviceKey: r.bytes(32),
			deviceEncryptionKey: r.bytes(32),
			ephemeral: r.bytes(32),
			name: r.string()
		};
		r.end();
		return request;
	} catch {
		return undefined;
	}
}

/** The bundle's plaintext layout (the header comment's `bundle`); shared with rotation-follow.ts. */
export function encodeBundle(bundle: LinkBundle): Uint8Array {
	const w = new BinaryWriter()
		.bytes(bundle.identitySeed, 32)
		.u16(bundle.certificate.length)
		.bytes(bundle.certificate)
		.u8(bundle.encryption.length);
	for (const e of bundle.encryption) w.u32(e.generation).bytes(e.secret, 32);
	w.bytes(bundle.recoveryPublic, 32);
	if (bundle.chain?.links.length) writeChain(w.bytes(bundle.chain.root, 32), bundle.chain.links);
	return w.finish();
}

/** Parses `encodeBundle`'s layout (structure only). Throws `malformed`. */
export function decodeBundle(body: Uint8Array): LinkBundle {
	const r = new BinaryReader(body, 'device bundle');
	const identitySeed = Uint8Array.from(r.bytes(32));
	const certificate = Uint8Array.from(r.bytes(r.u16()));
	const encryption: LinkBundle['encryption'] = [];
	for (let i = r.u8(); i > 0; i--)
		encryption.push({ generation: r.u32(), secret: Uint8Array.from(r.bytes(32)) });
	const recoveryPublic = Uint8Array.from(r.bytes(32));
	let chain: LinkBundle['chain'];
	if (r.offset < body.length) {
		const root = Uint8Array.from(r.bytes(32));
		chain = { root, links: readChain(r, root).links };
	}
	r.end();
	return { identitySeed, certificate, encryption, recoveryPublic, ...(chain ? { chain } : {}) };
}

export async function sealLinkResponse(
	secret: Uint8Array,
	requesterEphemeral: Uint8Array,
	bundle: LinkBundle
): Promise<Uint8Array> {
	const provider = await cryptoProvider();
	const { ephemeralPublic, shared } = await provider.x25519Ephemeral(requesterEphemeral);
	const nonce = newNonce();
	const key = deriveKey(concatBytes(shared, secret), new Uint8Array(), KDF.deviceLink);
	return concatBytes(
		RESPONSE,
		ephemeralPublic,
		nonce,
		aeadSeal(key, nonce, encodeBundle(bundle), concatBytes(RESPONSE, requesterEphemeral))
	);
}

export async function openLinkResponse(
	secret: Uint8Array,
	ephemeralSecret: Uint8Array,
	ephemeralPublic: Uint8Array,
	bytes: Uint8Array
): Promise<LinkBundle | undefined> {
	if (!bytesEqual(bytes.subarray(0, 3), RESPONSE)) return undefined;
	try {
		const provider = await cryptoProvider();
		const shared = await provider.x25519SharedSecret(ephemeralSecret, bytes.subarray(3, 35));
		const key = deriveKey(concatBytes(shared, secret), new Uint8Array(), KDF.deviceLink);
		const body = aeadOpen(
			key,
			bytes.subarray(35, 35 + NONCE_BYTES),
			bytes.subarray(35 + NONCE_BYTES),
			concatBytes(RESPONSE, ephemeralPublic)
		);
		return decodeBundle(body);
	} catch {
		return undefined;
	}
}
