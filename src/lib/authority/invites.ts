/**
 * Invites. An invite link carries a one-time secret; from it derive an Ed25519 key (proves the
 * newcomer holds the secret, in a signature bound to the newcomer's own identity — an intercepted
 * proof admits nobody else) and an X25519 key (the inviter seals the space's and the readable
 * channels' epoch keys to it, so the newcomer can join with every member offline).
 *
 *   link     = 'charter-invite:' ‖ base64url('CHI' ‖ 2 ‖ space id (16) ‖ secret (32) ‖ check (4) ‖ u8 n ‖ n × (u16 len ‖ endpoint))
 *   check    = SHA-256(DOMAIN.inviteCheck ‖ space id ‖ secret)[0..4]
 *   (version 1, without the check, is still read)
 *   invite id = 'inv_' ‖ base58(SHA-256(DOMAIN.inviteId ‖ invite signing key)[0..12])
 *   proof    = Ed25519(invite signing key, DOMAIN.inviteProof ‖ space id ‖ invite id ‖ newcomer identity key)
 */
import * as nobleEd from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { CharterError } from '../errors.js';
import { DOMAIN, KDF, LINK_PREFIX, MAGIC, SALT } from '../crypto/domains.js';
import { deriveKey, hash } from '../crypto/primitives.js';
import { ID_BYTES, spaceId, spaceIdBytes, type SpaceId } from '../identity/ids.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { isSyncServerUrl } from '../util/url.js';
import { base58, base64url, bytesEqual, concatBytes, randomBytes, utf8 } from '../util/bytes.js';

nobleEd.hashes.sha512 = sha512;

const INVITE_MAGIC = MAGIC.invite;
const PREFIX = LINK_PREFIX.invite;
const SECRET_BYTES = 32;
/**
 * Bytes of a link's check: a changed or lost character of the space id or secret is caught when the
 * link is read (a random change passes with odds 2⁻³²), instead of looking for an invite that was
 * never made. The server addresses are not covered: a link whose address is damaged still joins
 * through the user's own servers.
 */
const CHECK_BYTES = 4;

export interface InviteLink {
	space: SpaceId;
	secret: Uint8Array;
	endpoints: string[];
	/**
	 * The link carried a check and it held (every link made since version 2): its secret is the one
	 * an invite was made with, so a space that lacks the invite has not received it yet.
	 */
	checked: boolean;
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
	const salt = SALT.invite;
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

function linkCheck(space: Uint8Array, secret: Uint8Array): Uint8Array {
	return hash(DOMAIN.inviteCheck, space, secret).subarray(0, CHECK_BYTES);
}

export function encodeInviteLink(link: Omit<InviteLink, 'checked'>): string {
	const space = spaceIdBytes(link.space);
	const w = new BinaryWriter()
		.bytes(INVITE_MAGIC)
		.u8(2)
		.bytes(space, ID_BYTES)
		.bytes(link.secret, SECRET_BYTES)
		.bytes(linkCheck(space, link.secret), CHECK_BYTES)
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
		if (!bytesEqual(r.bytes(3), INVITE_MAGIC))
			throw new CharterError('invalid-invite', 'this is not an invite link');
		const version = r.u8();
		if (version !== 1 && version !== 2)
			throw new CharterError(
				'invalid-invite',
				`this invite link is of a newer version (${version}) than this app reads: update the app`
			);
		const spaceBytes = r.bytes(ID_BYTES);
		const space = spaceId(spaceBytes);
		const secret = r.bytes(SECRET_BYTES);
		const checked = version === 2;
		if (checked && !bytesEqual(r.bytes(CHECK_BYTES), linkCheck(spaceBytes, secret)))
			throw new CharterError(
				'invalid-invite',
				'this invite link is damaged (a character was changed or lost), so it opens nothing: ask for the link again'
			);
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
		return { space, secret: Uint8Array.from(secret), endpoints, checked };
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
