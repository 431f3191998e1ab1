/**
 * Trusted-friend recovery: the formats. A user picks n friends and a threshold k; a random 32-byte
 * **friend key** W is split k-of-n with Shamir's scheme (the audited `shamir-secret-sharing`, over
 * GF(2^8)), and everything else is derived from W:
 *
 *   recovery X25519 secret = HKDF(W, "charter/v1/kdf/friend-recovery")   (later encryption-key
 *                            generations are sealed to its public key, as to the phrase's recovery key)
 *   kit key                = HKDF(W, "charter/v1/kdf/friend-kit")
 *   setup id               = SHA-256(DOMAIN.friendSetup ‖ recovery public key)[0..16]
 *   kit                    = a sealed entry (entry.ts) in envelopeDocumentId(setup id, 0…0), under the
 *                            kit key: 'CHV' ‖ 1 ‖ identity seed (32) ‖ u8 n ‖ n × (u32 generation ‖
 *                            X25519 secret (32)) ‖ phrase recovery public key (32) ‖ [root key (32) ‖
 *                            rotation chain (rotation.ts) — only for an identity that was rotated]
 *   share i                = Shamir share (32 bytes y ‖ 1 byte x): y travels as the key of a lockbox
 *                            (lockbox.ts) sealed to friend i's encryption key, in the user's account
 *                            envelope; x, k and n travel in its document field (they are public in
 *                            Shamir's scheme), the setup id in its epoch field
 *   share document         = 0xFF 0xFF 0xFF 0xFF ‖ 'FR' ‖ x ‖ k ‖ n ‖ 0…0   (16 bytes; generation
 *                            lockboxes carry u32 generation ‖ 0…0 there, so the two never mix up)
 *
 * A new device shows a **request code**: 'charter-recover:' ‖ base64url('CHW' ‖ 1 ‖ one-time X25519
 * public key (32) ‖ u8 m ‖ m × endpoint). Each approving friend opens their share and seals y again, in
 * a lockbox, to that one-time key, into envelopeDocumentId(SHA-256(DOMAIN.friendRequest ‖ one-time
 * key)[0..16], 0…0). With k shares of one setup the device recombines W — checked at once, since a
 * wrong W gives another setup id — opens the kit and installs the identity as a new device of it.
 * Fewer than k shares say nothing about W (Shamir), and without W the kit is ciphertext.
 */
import { combine, split } from 'shamir-secret-sharing';
import { CharterError } from '../errors.js';
import { DOMAIN, KDF, LINK_PREFIX, MAGIC, SHARE_DOCUMENT_MAGIC } from '../crypto/domains.js';
import { cryptoProvider, deriveKey, hash, KEY_BYTES } from '../crypto/primitives.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { base64url, bytesEqual, randomBytes } from '../util/bytes.js';
import { ID_BYTES } from './ids.js';
import { readChain, writeChain, type RotationLink } from './rotation.js';

/** At least two friends must approve (one would be a single point of betrayal: use a device link). */
export const MIN_FRIEND_THRESHOLD = 2;
/** At most this many friends: a recovering device tries subsets of what arrives, so n stays small. */
export const MAX_RECOVERY_FRIENDS = 10;

const KIT_MAGIC = MAGIC.friendKit;
const REQUEST_MAGIC = MAGIC.friendRequest;
const VERSION = 1;
const REQUEST_PREFIX = LINK_PREFIX.friendRecovery;

export interface FriendKeys {
	/** X25519 secret: opens encryption-key generations made after the setup. */
	recoverySecret: Uint8Array;
	recoveryPublic: Uint8Array;
	/** Seals the kit. */
	kitKey: Uint8Array;
	/** Names the setup (lockbox epoch field, kit envelope). */
	setup: Uint8Array;
}

export const newFriendKey = () => randomBytes(KEY_BYTES);

export async function friendKeys(friendKey: Uint8Array): Promise<FriendKeys> {
	const provider = await cryptoProvider();
	const recoverySecret = deriveKey(friendKey, new Uint8Array(), KDF.friendRecovery);
	const recoveryPublic = provider.x25519PublicKey(recoverySecret);
	return {
		recoverySecret,
		recoveryPublic,
		kitKey: deriveKey(friendKey, new Uint8Array(), KDF.friendKit),
		setup: setupIdOf(recoveryPublic)
	};
}

export function setupIdOf(recoveryPublic: Uint8Array): Uint8Array {
	return hash(DOMAIN.friendSetup, recoveryPublic).subarray(0, ID_BYTES);
}

/** Checks k and n at the boundary: 2 ≤ k ≤ n ≤ MAX_RECOVERY_FRIENDS. */
export function checkThreshold(threshold: number, friends: number): void {
	if (!Number.isInteger(threshold) || threshold < MIN_FRIEND_THRESHOLD)
		throw new CharterError(
			'invalid-argument',
			`at least ${MIN_FRIEND_THRESHOLD} friends must be needed to recover`
		);
	if (!Number.isInteger(friends) || friends > MAX_RECOVERY_FRIENDS)
		throw new CharterError('invalid-argument', `at most ${MAX_RECOVERY_FRIENDS} recovery friends`);
	if (threshold > friends)
		throw new CharterError(
			'invalid-argument',
			`${threshold} approvals needed but only ${friends} friends chosen`
		);
}

export interface Share {
	x: number;
	/** The 32 secret bytes of the share. */
	y: Uint8Array;
	threshold: number;
	friends: number;
}

export async function splitFriendKey(
	friendKey: Uint8Array,
	friends: number,
	threshold: number
): Promise<Share[]> {
	checkThreshold(threshold, friends);
	const shares = await split(friendKey, friends, threshold);
	return shares.map((s) => ({
		x: s[KEY_BYTES]!,
		y: s.slice(0, KEY_BYTES),
		threshold,
		friends
	}));
}

/** W from shares (distinct x), or undefined when they do not make one of `setup`. */
export async function combineShares(
	shares: readonly Share[],
	setup: Uint8Array
): Promise<Uint8Array | undefined> {
	if (shares.length < MIN_FRIEND_THRESHOLD) return undefined;
	try {
		const key = await combine(
			shares.map((s) => {
				const out = new Uint8Array(KEY_BYTES + 1);
				out.set(s.y);
				out[KEY_BYTES] = s.x;
				return out;
			})
		);
		return bytesEqual((await friendKeys(key)).setup, setup) ? key : undefined;
	} catch {
		return undefined;
	}
}

export function shareDocument(share: Pick<Share, 'x' | 'threshold' | 'friends'>): Uint8Array {
	const out = new Uint8Array(ID_BYTES);
	out.set(SHARE_DOCUMENT_MAGIC);
	out[6] = share.x;
	out[7] = share.threshold;
	out[8] = share.friends;
	return out;
}

export function parseShareDocument(
	document: Uint8Array
): Pick<Share, 'x' | 'threshold' | 'friends'> | undefined {
	if (document.length !== ID_BYTES) return undefined;
	if (!bytesEqual(document.subarray(0, SHARE_DOCUMENT_MAGIC.length), SHARE_DOCUMENT_MAGIC))
		return undefined;
	const [x, threshold, friends] = [document[6]!, document[7]!, document[8]!];
	if (
		x === 0 ||
		threshold < MIN_FRIEND_THRESHOLD ||
		threshold > friends ||
		friends > MAX_RECOVERY_FRIENDS ||
		document.subarray(9).some((b) => b !== 0)
	)
		return undefined;
	return { x, threshold, friends };
}

export interface RecoveryKit {
	identitySeed: Uint8Array;
	encryption: { generation: number; secret: Uint8Array }[];
	/** The phrase's recovery public key (later generations keep being sealed to it too). */
	recoveryPublic: Uint8Array;
	/** A kit of a rotated identity: the chain from the root to the seed's key (rotation.ts). */
	chain?: { root: Uint8Array; links: readonly RotationLink[] };
}

export function encodeKit(kit: RecoveryKit): Uint8Array {
	const w = new BinaryWriter()
		.bytes(KIT_MAGIC)
		.u8(VERSION)
		.bytes(kit.identitySeed, KEY_BYTES)
		.u8(kit.encryption.length);
	for (const e of kit.encryption) w.u32(e.generation).bytes(e.secret, KEY_BYTES);
	// (an identity linked before recovery keys existed has none: 32 zero bytes say so)
	const recovery =
		kit.recoveryPublic.length === KEY_BYTES ? kit.recoveryPublic : new Uint8Array(32);
	w.bytes(recovery, KEY_BYTES);
	// v1 ends here; a rotated identity's kit goes on with root key ‖ chain (still version 1: a kit
	// of an identity never rotated is byte for byte what it was)
	if (kit.chain?.links.length) writeChain(w.bytes(kit.chain.root, KEY_BYTES), kit.chain.links);
	return w.finish();
}

export function decodeKit(bytes: Uint8Array): RecoveryKit {
	const r = new BinaryReader(bytes, 'recovery kit');
	if (!bytesEqual(r.bytes(3), KIT_MAGIC) || r.u8() !== VERSION)
		throw new CharterError('malformed', 'not a recovery kit');
	const identitySeed = Uint8Array.from(r.bytes(KEY_BYTES));
	const encryption: RecoveryKit['encryption'] = [];
	for (let i = r.u8(); i > 0; i--)
		encryption.push({ generation: r.u32(), secret: Uint8Array.from(r.bytes(KEY_BYTES)) });
	const recovery = Uint8Array.from(r.bytes(KEY_BYTES));
	const recoveryPublic = recovery.some((b) => b !== 0) ? recovery : new Uint8Array(0);
	let chain: RecoveryKit['chain'];
	if (r.offset < bytes.length) {
		const root = Uint8Array.from(r.bytes(KEY_BYTES));
		chain = { root, links: readChain(r, root).links };
	}
	r.end();
	if (encryption.length === 0) throw new CharterError('malformed', 'a kit without encryption keys');
	return { identitySeed, encryption, recoveryPublic, ...(chain ? { chain } : {}) };
}

export interface RecoveryRequest {
	/** The recovering device's one-time X25519 public key: approvals are sealed to it. */
	ephemeral: Uint8Array;
	endpoints: string[];
}

export function encodeRecoveryRequest(request: RecoveryRequest): string {
	const w = new BinaryWriter()
		.bytes(REQUEST_MAGIC)
		.u8(VERSION)
		.bytes(request.ephemeral, KEY_BYTES)
		.u8(request.endpoints.length);
	for (const e of request.endpoints) w.string(e);
	return REQUEST_PREFIX + base64url.encode(w.finish());
}

export function parseRecoveryRequest(text: string): RecoveryRequest {
	try {
		const bytes = base64url.decode(String(text).trim().replace(REQUEST_PREFIX, ''));
		const r = new BinaryReader(bytes, 'recovery request');
		if (!bytesEqual(r.bytes(3), REQUEST_MAGIC) || r.u8() !== VERSION) throw new Error('magic');
		const ephemeral = Uint8Array.from(r.bytes(KEY_BYTES));
		const endpoints: string[] = [];
		for (let i = r.u8(); i > 0; i--) endpoints.push(r.string());
		r.end();
		return { ephemeral, endpoints };
	} catch {
		throw new CharterError('invalid-argument', 'this is not a recovery request code');
	}
}

/** Where approvals for a request are written. */
export function requestRendezvousId(ephemeral: Uint8Array): Uint8Array {
	return hash(DOMAIN.friendRequest, ephemeral).subarray(0, ID_BYTES);
}

/**
 * Six digits both screens show (the new device and each approving friend): read them to each other
 * on the phone, so a friend approves the device of the person they are talking to and not a code
 * someone else slipped in.
 */
/** The check digits of a request code (what the friend's screen shows): see `requestCheck`. */
export function recoveryRequestCheck(code: string): string {
	return requestCheck(parseRecoveryRequest(code).ephemeral);
}

export function requestCheck(ephemeral: Uint8Array): string {
	const h = hash(DOMAIN.friendRequestCheck, ephemeral);
	const n = ((h[0]! << 16) | (h[1]! << 8) | h[2]!) % 1_000_000;
	return String(n)
		.padStart(6, '0')
		.replace(/^(\d{3})/, '$1 ');
}
