/**
 * Invites. An invite link carries a one-time secret; from it derive an Ed25519 key (proves the
 * newcomer holds the secret, in a signature bound to the newcomer's own identity — an intercepted
 * proof admits nobody else) and an X25519 key (the inviter seals the space's and the readable
 * channels' epoch keys to it, so the newcomer can join with every member offline).
 *
 *   link     = 'charter-invite:' ‖ base64url('CHI' ‖ 1 ‖ space id (16) ‖ secret (32) ‖ u8 n ‖ n × (u16 len ‖ endpoint))
 *   invite id = 'inv_' ‖ base58(SHA-256(DOMAIN.inviteId ‖ invite signing key)[0..12])
 *   proof    = Ed25519(invite signing key, DOMAIN.inviteProof ‖ space id ‖ invite id ‖ newcomer identity key)
 */
import * as nobleEd from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { CharterError } from '../errors.js';
import { DOMAIN, KDF } from '../crypto/domains.js';
import { deriveKey, hash } from '../crypto/primitives.js';
import { ID_BYTES, spaceId, spaceIdBytes, type SpaceId } from '../identity/ids.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { isSyncServerUrl } from '../util/url.js';
import { base58, base64url, bytesEqual, concatBytes, randomBytes, utf8 } from '../util/bytes.js';

nobleEd.hashes.sha512 = sha512;

const MAGIC = utf8.encode('CHI');
const PREFIX = 'charter-invite:';
const SECRET_BYTES = 32;

export interface InviteLink {
	space: SpaceId;
	secret: Uint8Array;
	endpoints: string[];
}

export interface InviteKeys {
	id: string;
	signingSeed: Uint8Array;
	signingKey: Uint8Array;
	encryptionSecret: Uint8Array;
	encryptionKey: Uint8Array;
}

export function newInviteSecret(): Uint8Array {
	return randomBytes(SECRET_BYTES);
}

export function inviteKeys(secret: Uint8Array): InviteKeys {
	const salt = utf8.encode('charter/v1/invite');
	const signingSeed = deriveKey(secret, salt, KDF.inviteSigning);
	const encryptionSecret = deriveKey(secret, salt, KDF.inviteEncryption);
	const signingKey = nobleEd.getPublicKey(signingSeed);
	return {
		id: inviteIdOf(signingKey),
		signingSeed,
		signingKey,
		encryptionSecret,
		encryptionKey: x25519.getPublicKey(encryptionSecret)
	};
}

export function inviteIdOf(signingKey: Uint8Array): string {
	return `inv_${base58.encode(hash(DOMAIN.inviteId, signingKey).subarray(0, 12))}`;
}

export function encodeInviteLink(link: InviteLink): string {
	const w = new BinaryWriter()
		.bytes(MAGIC)
		.u8(1)
		.bytes(spaceIdBytes(link.space), ID_BYTES)
		.bytes(link.secret, SECRET_BYTES)
		.u8(link.endpoints.length);
	for (const e of link.endpoints) w.string(e);
	return PREFIX + base64url.encode(w.finish());
}

/** Accepts the link, a web URL ending in `#/join/<payload>`, or the bare payload. */
export function parseInviteLink(text: string): InviteLink {
	if (typeof text !== 'string') throw new CharterError('invalid-invite', 'an invite is text');
	const trimmed = text.trim();
	const payload = trimmed.startsWith(PREFIX)
		? trimmed.slice(PREFIX.length)
		: (/[#/]join\/([A-Za-z0-9_-]+)$/.exec(trimmed)?.[1] ?? trimmed);
	let bytes: Uint8Array;
	try {
		bytes = base64url.decode(payload);
	} catch {
		throw new CharterError('invalid-invite', 'this is not an invite link');
	}
	try {
		const r = new BinaryReader(bytes, 'invite');
		if (!bytesEqual(r.bytes(3), MAGIC) || r.u8() !== 1)
			throw new CharterError('invalid-invite', 'this is not an invite link');
		const space = spaceId(r.bytes(ID_BYTES));
		const secret = r.bytes(SECRET_BYTES);
		const n = r.u8();
		const endpoints: string[] = [];
		for (let i = 0; i < n; i++) endpoints.push(r.string());
		r.end();
		for (const e of endpoints)
			if (!isSyncServerUrl(e))
				throw new CharterError(
					'invalid-invite',
					`the invite names an invalid server address (${e.slice(0, 80)}): the link is damaged`
				);
		return { space, secret: Uint8Array.from(secret), endpoints };
	} catch (error) {
		if (error instanceof CharterError && error.code === 'invalid-invite') throw error;
		throw new CharterError('invalid-invite', 'the invite link is damaged');
	}
}

function proofMessage(space: Uint8Array, inviteId: string, userKey: Uint8Array) {
	return concatBytes(DOMAIN.inviteProof, space, utf8.encode(inviteId), userKey);
}

export function signInviteProof(
	keys: InviteKeys,
	space: Uint8Array,
	userKey: Uint8Array
): Uint8Array {
	return nobleEd.sign(proofMessage(space, keys.id, userKey), keys.signingSeed);
}

/** Synchronous (rules are): a join is rare, and noble verifies one signature in about a millisecond. */
export function verifyInviteProof(
	proof: Uint8Array,
	inviteKey: Uint8Array,
	space: Uint8Array,
	inviteId: string,
	userKey: Uint8Array
): boolean {
	try {
		return (
			inviteIdOf(inviteKey) === inviteId &&
			nobleEd.verify(proof, proofMessage(space, inviteId, userKey), inviteKey)
		);
	} catch {
		return false;
	}
}
