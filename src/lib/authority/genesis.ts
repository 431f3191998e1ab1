/**
 * The genesis of a space: the owner's identity key signs the space id, a salt and the owner's first
 * device certificate. The space id is SHA-256(DOMAIN.spaceId ‖ owner key ‖ salt)[0..16], so nobody but
 * the owner can write a genesis for it, and anyone (a relay too) can check one without keys.
 *
 *   genesis v1 = 'CHG' ‖ 1 ‖ space id (16) ‖ owner key (32) ‖ salt (16) ‖ createdAt (u64) ‖
 *                u16 length ‖ owner device certificate ‖ signature (64, identity key, DOMAIN.genesis)
 *   genesis v2 = 'CHG' ‖ 2 ‖ space id ‖ owner root key K₀ ‖ salt ‖ createdAt ‖ rotation chain
 *                (identity/rotation.ts) ‖ u16 length ‖ certificate ‖ signature (by the chain's last key)
 *
 * A space created after its owner rotated their identity is v2: the id is still derived from the
 * root (the owner's user id), and the signature and the device certificate are by the current key.
 */
import { CharterError } from '../errors.js';
import { DOMAIN, MAGIC } from '../crypto/domains.js';
import { cryptoProvider, hash, KEY_BYTES, SIGNATURE_BYTES } from '../crypto/primitives.js';
import { verifyDeviceCertificate, type DeviceCertificate } from '../identity/certificates.js';
import { ID_BYTES, spaceId, userId, type SpaceId, type UserId } from '../identity/ids.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { bytesEqual, concatBytes, randomBytes } from '../util/bytes.js';
import { readChain, verifyChain, writeChain, type RotationLink } from '../identity/rotation.js';

/** The genesis record's magic (crypto/domains.ts). */
export const GENESIS_MAGIC = MAGIC.genesis;
const VERSION = 1;
/** A genesis whose owner had rotated their identity key: it carries the chain. */
const VERSION_ROTATED = 2;

export interface Genesis {
	space: SpaceId;
	spaceBytes: Uint8Array;
	owner: UserId;
	ownerKey: Uint8Array;
	createdAt: number;
	ownerDevice: DeviceCertificate;
	bytes: Uint8Array;
}

export function deriveSpaceId(ownerKey: Uint8Array, salt: Uint8Array): Uint8Array {
	return hash(DOMAIN.spaceId, ownerKey, salt).subarray(0, ID_BYTES);
}

export async function createGenesis(
	ownerKey: Uint8Array,
	signWithIdentity: (m: Uint8Array) => Promise<Uint8Array>,
	ownerDevice: DeviceCertificate,
	createdAt = Date.now(),
	rotations: readonly RotationLink[] = []
): Promise<Genesis> {
	const salt = randomBytes(ID_BYTES);
	const w = new BinaryWriter()
		.bytes(GENESIS_MAGIC)
		.u8(rotations.length ? VERSION_ROTATED : VERSION)
		.bytes(deriveSpaceId(ownerKey, salt), ID_BYTES)
		.bytes(ownerKey, KEY_BYTES)
		.bytes(salt, ID_BYTES)
		.u64(createdAt);
	if (rotations.length) writeChain(w, rotations);
	const body = w.u16(ownerDevice.bytes.length).bytes(ownerDevice.bytes).finish();
	const sig = await signWithIdentity(concatBytes(DOMAIN.genesis, body));
	return verifyGenesis(concatBytes(body, sig));
}

/** Parses and fully checks a genesis. Throws `malformed` or `bad-signature`. */
export async function verifyGenesis(bytes: Uint8Array): Promise<Genesis> {
	const r = new BinaryReader(bytes, 'genesis');
	if (!bytesEqual(r.bytes(3), GENESIS_MAGIC)) throw new CharterError('malformed', 'not a genesis');
	const version = r.u8();
	if (version !== VERSION && version !== VERSION_ROTATED)
		throw new CharterError('unsupported-version', 'unsupported genesis version');
	const spaceBytes = r.bytes(ID_BYTES);
	const ownerKey = r.bytes(KEY_BYTES);
	const salt = r.bytes(ID_BYTES);
	const createdAt = r.u64();
	const links = version === VERSION_ROTATED ? readChain(r, ownerKey).links : [];
	if (version === VERSION_ROTATED && links.length === 0)
		throw new CharterError('malformed', 'a genesis without rotations is written as version 1');
	const certBytes = r.bytes(r.u16());
	const bodyEnd = r.offset;
	const sig = r.bytes(SIGNATURE_BYTES);
	r.end();
	if (!bytesEqual(deriveSpaceId(ownerKey, salt), spaceBytes))
		throw new CharterError('bad-signature', 'space id is not derived from the claimed owner');
	const signer = links.length ? await verifyChain(ownerKey, links) : ownerKey;
	const provider = await cryptoProvider();
	if (
		!(await provider.verify(sig, concatBytes(DOMAIN.genesis, bytes.subarray(0, bodyEnd)), signer))
	)
		throw new CharterError('bad-signature', 'genesis signature does not verify');
	const ownerDevice = await verifyDeviceCertificate(certBytes);
	if (!bytesEqual(ownerDevice.userKey, signer))
		throw new CharterError('bad-signature', 'genesis device is not certified by the owner');
	return {
		space: spaceId(spaceBytes),
		spaceBytes,
		owner: userId(ownerKey),
		ownerKey,
		createdAt,
		ownerDevice,
		bytes
	};
}
