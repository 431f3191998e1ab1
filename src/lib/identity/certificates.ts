/**
 * Signed statements made by an identity key: device certificates and the user's public card.
 *
 * DeviceCertificate = 'CHC' ‖ v1 ‖ user key (32) ‖ device key (32) ‖ device X25519 key (32) ‖
 *                     issuedAt (u64 ms) ‖ name ‖ sig (64)
 *   (the device's own X25519 key receives the user's new encryption key when another device is revoked)
 * UserCard v1       = 'CHU' ‖ 1 ‖ user key (32) ‖ encryption key (32) ‖ generation (u32) ‖
 *                     issuedAt (u64) ‖ n (u8) ‖ n × (u16 length ‖ certificate) ‖ sig (64)
 * UserCard v2       = 'CHU' ‖ 2 ‖ root key K₀ (32) ‖ encryption key (32) ‖ generation (u32) ‖
 *                     issuedAt (u64) ‖ rotation chain (rotation.ts) ‖ n (u8) ‖ n × (u16 ‖ certificate) ‖ sig (64)
 * Signatures are Ed25519 by the (current) identity key over DOMAIN tag ‖ everything before the
 * signature. A v1 card is a card whose chain has no link: its current key is its user key. On a v2
 * card the signature and every device certificate are by the chain's last key, and `user` stays the
 * root's id (identity rotation, docs/protocol.md §11.2). A card with no rotation is written as v1.
 */
import { CharterError } from '../errors.js';
import { DOMAIN, MAGIC } from '../crypto/domains.js';
import { cryptoProvider, KEY_BYTES, SIGNATURE_BYTES } from '../crypto/primitives.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { base64url, bytesEqual, concatBytes } from '../util/bytes.js';
import { deviceId, userId, type DeviceId, type UserId } from './ids.js';
import { readChain, verifyChain, writeChain, type RotationLink } from './rotation.js';

const CERT_MAGIC = MAGIC.deviceCertificate;
const CARD_MAGIC = MAGIC.userCard;
const VERSION = 1;
/** A card carrying an identity-rotation chain. */
const CARD_VERSION_ROTATED = 2;
const MAX_DEVICE_NAME = 64;
const MAX_DEVICES_ON_CARD = 32;

export interface DeviceCertificate {
	user: UserId;
	device: DeviceId;
	userKey: Uint8Array;
	deviceKey: Uint8Array;
	deviceEncryptionKey: Uint8Array;
	issuedAt: number;
	name: string;
	bytes: Uint8Array;
}

export interface UserCard {
	/** The root's id: the same before and after any rotation. */
	user: UserId;
	/** The root key K₀ (the user id's key). */
	userKey: Uint8Array;
	/** The current identity key: the chain's last key, the root when there is no rotation. */
	identityKey: Uint8Array;
	/** The identity-rotation chain K₀ → … → current (empty on a v1 card). */
	rotations: RotationLink[];
	encryptionKey: Uint8Array;
	encryptionGeneration: number;
	issuedAt: number;
	devices: DeviceCertificate[];
	bytes: Uint8Array;
}

type Signer = (message: Uint8Array) => Promise<Uint8Array>;

export async function issueDeviceCertificate(
	userKeyBytes: Uint8Array,
	signWithIdentity: Signer,
	deviceKeyBytes: Uint8Array,
	deviceEncryptionKey: Uint8Array,
	name: string,
	issuedAt = Date.now()
): Promise<DeviceCertificate> {
	const trimmed = name.trim().slice(0, MAX_DEVICE_NAME);
	const body = new BinaryWriter()
		.bytes(CERT_MAGIC)
		.u8(VERSION)
		.bytes(userKeyBytes, KEY_BYTES)
		.bytes(deviceKeyBytes, KEY_BYTES)
		.bytes(deviceEncryptionKey, KEY_BYTES)
		.u64(issuedAt)
		.string(trimmed)
		.finish();
	const sig = await signWithIdentity(concatBytes(DOMAIN.deviceCertificate, body));
	return parseCertificateBody(concatBytes(body, sig));
}

function parseCertificateBody(bytes: Uint8Array): DeviceCertificate {
	const r = new BinaryReader(bytes, 'device certificate');
	if (!bytesEqual(r.bytes(3), CERT_MAGIC))
		throw new CharterError('malformed', 'not a device certificate');
	if (r.u8() !== VERSION)
		throw new CharterError('unsupported-version', 'unsupported device certificate version');
	const userKey = r.bytes(KEY_BYTES);
	const deviceKey = r.bytes(KEY_BYTES);
	const deviceEncryptionKey = r.bytes(KEY_BYTES);
	const issuedAt = r.u64();
	const name = r.string();
	if (name.length > MAX_DEVICE_NAME) throw new CharterError('malformed', 'device name too long');
	r.bytes(SIGNATURE_BYTES);
	r.end();
	return {
		user: userId(userKey),
		device: deviceId(deviceKey),
		userKey,
		deviceKey,
		deviceEncryptionKey,
		issuedAt,
		name,
		bytes
	};
}

/** Parses and checks the identity signature. Throws `malformed` or `bad-signature`. */
export async function verifyDeviceCertificate(bytes: Uint8Array): Promise<DeviceCertificate> {
	const cert = parseCertificateBody(bytes);
	const body = bytes.subarray(0, bytes.length - SIGNATURE_BYTES);
	const sig = bytes.subarray(bytes.length - SIGNATURE_BYTES);
	const provider = await cryptoProvider();
	if (!(await provider.verify(sig, concatBytes(DOMAIN.deviceCertificate, body), cert.userKey)))
		throw new CharterError('bad-signature', 'device certificate signature does not verify');
	return cert;
}

/**
 * `userKeyBytes` is the root key; `signWithIdentity` signs with the current identity key, the last
 * key of `rotations` (the root itself when there are none: then the card is written as v1).
 */
export async function issueUserCard(
	userKeyBytes: Uint8Array,
	signWithIdentity: Signer,
	encryptionKey: Uint8Array,
	encryptionGeneration: number,
	devices: DeviceCertificate[],
	issuedAt = Date.now(),
	rotations: readonly RotationLink[] = []
): Promise<UserCard> {
	if (devices.length > MAX_DEVICES_ON_CARD)
		throw new CharterError('too-large', 'too many devices on one card');
	const w = new BinaryWriter()
		.bytes(CARD_MAGIC)
		.u8(rotations.length ? CARD_VERSION_ROTATED : VERSION)
		.bytes(userKeyBytes, KEY_BYTES)
		.bytes(encryptionKey, KEY_BYTES)
		.u32(encryptionGeneration)
		.u64(issuedAt);
	if (rotations.length) writeChain(w, rotations);
	w.u8(devices.length);
	for (const d of devices) w.u16(d.bytes.length).bytes(d.bytes);
	const body = w.finish();
	const sig = await signWithIdentity(concatBytes(DOMAIN.userCard, body));
	return verifyUserCard(concatBytes(body, sig));
}

/** Structural parse of a card, without checking signatures (for cards already verified once). */
export function decodeUserCard(input: Uint8Array | string): UserCard {
	return parseCard(input).card;
}

/**
 * Parses a card (bytes or its base64url text form) and verifies it: its rotation chain link by link,
 * its signature by the chain's last key, and every certificate on it as issued by that key.
 */
export async function verifyUserCard(input: Uint8Array | string): Promise<UserCard> {
	const { card, bodyEnd, sig, certBytes } = parseCard(input);
	if (card.rotations.length) await verifyChain(card.userKey, card.rotations);
	const provider = await cryptoProvider();
	if (
		!(await provider.verify(
			sig,
			concatBytes(DOMAIN.userCard, card.bytes.subarray(0, bodyEnd)),
			card.identityKey
		))
	)
		throw new CharterError('bad-signature', 'user card signature does not verify');
	for (const c of certBytes) {
		const cert = await verifyDeviceCertificate(c);
		if (!bytesEqual(cert.userKey, card.identityKey))
			throw new CharterError(
				'bad-signature',
				'user card lists a device not certified by its current identity key'
			);
	}
	return card;
}

function parseCard(input: Uint8Array | string) {
	let bytes: Uint8Array;
	if (typeof input === 'string') {
		try {
			bytes = base64url.decode(input.trim());
		} catch {
			throw new CharterError('malformed', 'user card text is not base64url');
		}
	} else bytes = input;
	const r = new BinaryReader(bytes, 'user card');
	if (!bytesEqual(r.bytes(3), CARD_MAGIC)) throw new CharterError('malformed', 'not a user card');
	const version = r.u8();
	if (version !== VERSION && version !== CARD_VERSION_ROTATED)
		throw new CharterError('unsupported-version', 'unsupported user card version');
	const userKey = r.bytes(KEY_BYTES);
	const encryptionKey = r.bytes(KEY_BYTES);
	const encryptionGeneration = r.u32();
	const issuedAt = r.u64();
	const chain =
		version === CARD_VERSION_ROTATED ? readChain(r, userKey) : { links: [], current: userKey };
	if (version === CARD_VERSION_ROTATED && chain.links.length === 0)
		throw new CharterError('malformed', 'a card without rotations is written as version 1');
	const count = r.u8();
	if (count > MAX_DEVICES_ON_CARD)
		throw new CharterError('too-large', 'too many devices on one card');
	const certBytes: Uint8Array[] = [];
	for (let i = 0; i < count; i++) certBytes.push(r.bytes(r.u16()));
	const bodyEnd = r.offset;
	const sig = r.bytes(SIGNATURE_BYTES);
	r.end();
	const devices = certBytes.map(parseCertificateBody);
	const card: UserCard = {
		user: userId(userKey),
		userKey,
		identityKey: chain.current,
		rotations: chain.links,
		encryptionKey,
		encryptionGeneration,
		issuedAt,
		devices,
		bytes
	};
	return { card, bodyEnd, sig, certBytes };
}

export function userCardText(card: UserCard): string {
	return base64url.encode(card.bytes);
}
