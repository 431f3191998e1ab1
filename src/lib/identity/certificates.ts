/**
 * Signed statements made by an identity key: device certificates and the user's public card.
 *
 * DeviceCertificate = 'CHC' ‖ v1 ‖ user key (32) ‖ device key (32) ‖ device X25519 key (32) ‖
 *                     issuedAt (u64 ms) ‖ name ‖ sig (64)
 *   (the device's own X25519 key receives the user's new encryption key when another device is revoked)
 * UserCard          = 'CHU' ‖ v1 ‖ user key (32) ‖ encryption key (32) ‖ generation (u32) ‖
 *                     issuedAt (u64) ‖ n (u8) ‖ n × (u16 length ‖ certificate) ‖ sig (64)
 * Signatures are Ed25519 by the identity key over DOMAIN tag ‖ everything before the signature.
 */
import { CharterError } from '../errors.js';
import { DOMAIN, MAGIC } from '../crypto/domains.js';
import { cryptoProvider, KEY_BYTES, SIGNATURE_BYTES } from '../crypto/primitives.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { base64url, bytesEqual, concatBytes } from '../util/bytes.js';
import { deviceId, userId, type DeviceId, type UserId } from './ids.js';

const CERT_MAGIC = MAGIC.deviceCertificate;
const CARD_MAGIC = MAGIC.userCard;
const VERSION = 1;
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
	user: UserId;
	userKey: Uint8Array;
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

export async function issueUserCard(
	userKeyBytes: Uint8Array,
	signWithIdentity: Signer,
	encryptionKey: Uint8Array,
	encryptionGeneration: number,
	devices: DeviceCertificate[],
	issuedAt = Date.now()
): Promise<UserCard> {
	if (devices.length > MAX_DEVICES_ON_CARD)
		throw new CharterError('too-large', 'too many devices on one card');
	const w = new BinaryWriter()
		.bytes(CARD_MAGIC)
		.u8(VERSION)
		.bytes(userKeyBytes, KEY_BYTES)
		.bytes(encryptionKey, KEY_BYTES)
		.u32(encryptionGeneration)
		.u64(issuedAt)
		.u8(devices.length);
	for (const d of devices) w.u16(d.bytes.length).bytes(d.bytes);
	const body = w.finish();
	const sig = await signWithIdentity(concatBytes(DOMAIN.userCard, body));
	return verifyUserCard(concatBytes(body, sig));
}

/** Structural parse of a card, without checking signatures (for cards already verified once). */
export function decodeUserCard(input: Uint8Array | string): UserCard {
	return parseCard(input).card;
}

/** Parses a card (bytes or its base64url text form) and verifies it and every certificate on it. */
export async function verifyUserCard(input: Uint8Array | string): Promise<UserCard> {
	const { card, bodyEnd, sig, certBytes } = parseCard(input);
	const provider = await cryptoProvider();
	if (
		!(await provider.verify(
			sig,
			concatBytes(DOMAIN.userCard, card.bytes.subarray(0, bodyEnd)),
			card.userKey
		))
	)
		throw new CharterError('bad-signature', 'user card signature does not verify');
	for (const c of certBytes) {
		const cert = await verifyDeviceCertificate(c);
		if (!bytesEqual(cert.userKey, card.userKey))
			throw new CharterError('bad-signature', 'user card lists a device certified by someone else');
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
	if (r.u8() !== VERSION)
		throw new CharterError('unsupported-version', 'unsupported user card version');
	const userKey = r.bytes(KEY_BYTES);
	const encryptionKey = r.bytes(KEY_BYTES);
	const encryptionGeneration = r.u32();
	const issuedAt = r.u64();
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
