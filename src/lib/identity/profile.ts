/**
 * Profiles: a display name and a small avatar, signed by the identity key. Metadata, not authority.
 * They travel inside each space document (so only co-members can read them), written by the user.
 *
 *   profile v1 = 'CHP' ‖ 1 ‖ user key (32) ‖ updatedAt (u64) ‖ u16 len ‖ display name ‖ u32 len ‖ avatar ‖ sig (64)
 *   profile v2 = 'CHP' ‖ 2 ‖ root key K₀ (32) ‖ signing key (32) ‖ updatedAt ‖ display name ‖ avatar ‖ sig (64)
 *   sig        = Ed25519(signing key — in v1 the user key, DOMAIN.profile ‖ everything before sig)
 *
 * v2 is written by a user who rotated their identity (rotation.ts): `user` is the root's id, and
 * the space rule checks that the signing key is the member's current identity key.
 */
import * as nobleEd from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { CharterError } from '../errors.js';
import { DOMAIN, MAGIC } from '../crypto/domains.js';
import { KEY_BYTES, SIGNATURE_BYTES } from '../crypto/primitives.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { bytesEqual, concatBytes } from '../util/bytes.js';
import { userId, type UserId } from './ids.js';

nobleEd.hashes.sha512 = sha512;

const PROFILE_MAGIC = MAGIC.profile;
export const MAX_DISPLAY_NAME = 64;
export const MAX_AVATAR_BYTES = 64 * 1024;

export interface Profile {
	user: UserId;
	/** The identity key that signed it (the user's current key when it was written). */
	signingKey: Uint8Array;
	displayName: string;
	avatar?: Uint8Array;
	updatedAt: number;
	bytes: Uint8Array;
}

/** `signingKey`: the current identity key `sign` signs with, when it is not the root `userKey`. */
export async function signProfile(
	userKey: Uint8Array,
	sign: (m: Uint8Array) => Promise<Uint8Array>,
	input: { displayName: string; avatar?: Uint8Array },
	updatedAt = Date.now(),
	signingKey: Uint8Array = userKey
): Promise<Profile> {
	const displayName = String(input.displayName ?? '').trim();
	if (!displayName || displayName.length > MAX_DISPLAY_NAME)
		throw new CharterError(
			'invalid-argument',
			`a display name has 1 to ${MAX_DISPLAY_NAME} characters`
		);
	const avatar = input.avatar ?? new Uint8Array(0);
	if (avatar.length > MAX_AVATAR_BYTES)
		throw new CharterError('too-large', `an avatar is at most ${MAX_AVATAR_BYTES} bytes`);
	const rotated = !bytesEqual(signingKey, userKey);
	const w = new BinaryWriter()
		.bytes(PROFILE_MAGIC)
		.u8(rotated ? 2 : 1)
		.bytes(userKey, KEY_BYTES);
	if (rotated) w.bytes(signingKey, KEY_BYTES);
	const body = w.u64(updatedAt).string(displayName).blob(avatar).finish();
	return verifyProfile(concatBytes(body, await sign(concatBytes(DOMAIN.profile, body))));
}

/** Parses and checks a profile (synchronously: rules call it). Throws `malformed` or `bad-signature`. */
export function verifyProfile(bytes: Uint8Array): Profile {
	const r = new BinaryReader(bytes, 'profile');
	if (!bytesEqual(r.bytes(3), PROFILE_MAGIC)) throw new CharterError('malformed', 'not a profile');
	const version = r.u8();
	if (version !== 1 && version !== 2) throw new CharterError('malformed', 'not a profile');
	const root = r.bytes(KEY_BYTES);
	const key = version === 2 ? r.bytes(KEY_BYTES) : root;
	const updatedAt = r.u64();
	const displayName = r.string();
	const avatar = r.blob(MAX_AVATAR_BYTES);
	const bodyEnd = r.offset;
	const sig = r.bytes(SIGNATURE_BYTES);
	r.end();
	if (!displayName || displayName.length > MAX_DISPLAY_NAME)
		throw new CharterError('malformed', 'bad display name');
	let ok = false;
	try {
		ok = nobleEd.verify(sig, concatBytes(DOMAIN.profile, bytes.subarray(0, bodyEnd)), key);
	} catch {
		ok = false;
	}
	if (!ok) throw new CharterError('bad-signature', 'profile signature does not verify');
	return {
		user: userId(root),
		signingKey: key,
		displayName,
		...(avatar.length ? { avatar: Uint8Array.from(avatar) } : {}),
		updatedAt,
		bytes
	};
}
