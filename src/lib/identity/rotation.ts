/**
 * Identity rotation: a user moves from identity key Kₛ₋₁ to a new key Kₛ, certified by the old one,
 * and keeps their user id — the encoding of the first key K₀, the chain's **root**. The chain
 * K₀ → K₁ → … → Kₛ is checked link by link; its last key is the **current identity key**, the only
 * one that signs cards, device certificates, profiles and geneses from then on (docs/protocol.md §11.2).
 *
 *   link   = 'CHT' ‖ 1 ‖ root K₀ (32) ‖ seq s (u32 ≥ 1) ‖ next key Kₛ (32) ‖ generation g (u32) ‖
 *            issuedAt (u64 ms) ‖ sig by Kₛ₋₁ (64) ‖ sig by Kₛ (64)
 *   g: the encryption-key generation the new phrase derives (phrase.ts) and the user moves to, so a
 *   restore from the new phrase knows which generation its phrase gives (the earlier ones it finds
 *   sealed to the new phrase's recovery key).
 *   both   = Ed25519(key, DOMAIN.identityRotation ‖ body)   (body: everything before the signatures)
 *   chain  = u8 count ‖ count × link                 (in cards v2 and geneses v2; count 0: no rotation)
 *   record = 'CHN' ‖ 1 ‖ root K₀ (32) ‖ chain        (published at the chain's pointers)
 *
 * A link names its root, so it cannot be spliced into another user's chain, and its seq, so a chain
 * with a gap, a repeat or a reordering is refused. The new key signs too (proof of possession): else
 * anyone could publish a chain from a key of their own to someone else's new key, and a restore from
 * that user's new phrase would not know which root is theirs. Two chains that differ at some seq are a fork;
 * `extendsChain` tells a chain that continues another from one that forks or rolls it back.
 */
import { CharterError } from '../errors.js';
import { DOMAIN, MAGIC } from '../crypto/domains.js';
import { cryptoProvider, KEY_BYTES, SIGNATURE_BYTES } from '../crypto/primitives.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { bytesEqual, concatBytes, hex } from '../util/bytes.js';

const LINK_MAGIC = MAGIC.identityRotation;
const RECORD_MAGIC = MAGIC.rotationChain;
const VERSION = 1;

/**
 * At most this many rotations in one user's chain. A rotation is a rare, deliberate act (a phrase
 * believed leaked); 32 keeps a card's chain under 7 KiB (32 × 212 bytes) and fits the u8 count.
 */
export const MAX_ROTATIONS = 32;

/** Bytes of one link: magic 3, version 1, root 32, seq 4, next key 32, generation 4, issuedAt 8, two signatures. */
export const ROTATION_LINK_BYTES = 3 + 1 + KEY_BYTES + 4 + KEY_BYTES + 4 + 8 + 2 * SIGNATURE_BYTES;
const LINK_BODY_BYTES = ROTATION_LINK_BYTES - 2 * SIGNATURE_BYTES;

export interface RotationLink {
	/** K₀: the user id's key, the same in every link of a chain. */
	root: Uint8Array;
	/** 1 for the first rotation, then 2, 3, … */
	seq: number;
	/** Kₛ, certified by Kₛ₋₁. */
	next: Uint8Array;
	/** The encryption-key generation the new phrase derives and the user moves to. */
	generation: number;
	issuedAt: number;
	bytes: Uint8Array;
}

type Signer = (message: Uint8Array) => Promise<Uint8Array>;

/**
 * Kₛ₋₁ (`signWithPrevious`) certifies `next` as the user's identity key number `seq`, and `next`
 * (`signWithNext`) accepts it.
 */
export async function signRotation(
	root: Uint8Array,
	seq: number,
	next: Uint8Array,
	generation: number,
	signWithPrevious: Signer,
	signWithNext: Signer,
	issuedAt = Date.now()
): Promise<RotationLink> {
	if (!Number.isInteger(seq) || seq < 1 || seq > MAX_ROTATIONS)
		throw new CharterError('invalid-argument', `a rotation's seq is 1 to ${MAX_ROTATIONS}`);
	const body = new BinaryWriter()
		.bytes(LINK_MAGIC)
		.u8(VERSION)
		.bytes(root, KEY_BYTES)
		.u32(seq)
		.bytes(next, KEY_BYTES)
		.u32(generation)
		.u64(issuedAt)
		.finish();
	const message = concatBytes(DOMAIN.identityRotation, body);
	return parseLink(concatBytes(body, await signWithPrevious(message), await signWithNext(message)));
}

/** Structural parse of one link (no signature check). Throws `malformed` or `unsupported-version`. */
export function parseLink(bytes: Uint8Array): RotationLink {
	const r = new BinaryReader(bytes, 'identity rotation');
	if (!bytesEqual(r.bytes(3), LINK_MAGIC))
		throw new CharterError('malformed', 'not an identity rotation');
	if (r.u8() !== VERSION)
		throw new CharterError('unsupported-version', 'unsupported identity rotation version');
	const root = r.bytes(KEY_BYTES);
	const seq = r.u32();
	const next = r.bytes(KEY_BYTES);
	const generation = r.u32();
	const issuedAt = r.u64();
	r.bytes(2 * SIGNATURE_BYTES);
	r.end();
	if (seq < 1 || seq > MAX_ROTATIONS)
		throw new CharterError('malformed', 'identity rotation seq out of range');
	return { root, seq, next, generation, issuedAt, bytes };
}

export function writeChain(w: BinaryWriter, links: readonly RotationLink[]): BinaryWriter {
	if (links.length > MAX_ROTATIONS)
		throw new CharterError('too-large', 'too many identity rotations');
	w.u8(links.length);
	for (const link of links) w.bytes(link.bytes, ROTATION_LINK_BYTES);
	return w;
}

/**
 * Reads a chain of `root` and checks its structure — every link of this root, seqs 1, 2, 3 … with
 * no gap, no key twice — but not its signatures (`verifyChain`). Returns the links and the current
 * key (the root when there are none).
 */
export function readChain(
	r: BinaryReader,
	root: Uint8Array
): { links: RotationLink[]; current: Uint8Array } {
	const count = r.u8();
	if (count > MAX_ROTATIONS) throw new CharterError('too-large', 'too many identity rotations');
	const links: RotationLink[] = [];
	for (let i = 0; i < count; i++) links.push(parseLink(r.bytes(ROTATION_LINK_BYTES)));
	return { links, current: checkShape(root, links) };
}

function checkShape(root: Uint8Array, links: readonly RotationLink[]): Uint8Array {
	const seen = new Set([hex.encode(root)]);
	let current = root;
	links.forEach((link, i) => {
		if (!bytesEqual(link.root, root))
			throw new CharterError('malformed', 'an identity rotation of another user');
		if (link.seq !== i + 1)
			throw new CharterError('malformed', `identity rotation ${i + 1} is missing or out of order`);
		const key = hex.encode(link.next);
		if (seen.has(key))
			throw new CharterError('malformed', 'an identity rotation back to an earlier key');
		seen.add(key);
		current = link.next;
	});
	return current;
}

/**
 * Checks every signature of a chain: link s is signed by Kₛ₋₁ (the root for s = 1) and by Kₛ.
 * Resolves to the current key; throws `malformed` (shape, see `readChain`) or `bad-signature`.
 */
export async function verifyChain(
	root: Uint8Array,
	links: readonly RotationLink[]
): Promise<Uint8Array> {
	const current = checkShape(root, links);
	const provider = await cryptoProvider();
	let signer = root;
	for (const link of links) {
		const message = concatBytes(DOMAIN.identityRotation, link.bytes.subarray(0, LINK_BODY_BYTES));
		const byPrevious = link.bytes.subarray(LINK_BODY_BYTES, LINK_BODY_BYTES + SIGNATURE_BYTES);
		const byNext = link.bytes.subarray(LINK_BODY_BYTES + SIGNATURE_BYTES);
		if (!(await provider.verify(byPrevious, message, signer)))
			throw new CharterError(
				'bad-signature',
				`identity rotation ${link.seq} is not signed by the key before it`
			);
		if (!(await provider.verify(byNext, message, link.next)))
			throw new CharterError(
				'bad-signature',
				`identity rotation ${link.seq} is not signed by the key it certifies`
			);
		signer = link.next;
	}
	return current;
}

/**
 * Whether `newer` continues `older`: it holds every link of `older`, byte for byte, and maybe more.
 * A shorter chain (a rollback) or one that differs at some seq (a fork) does not.
 */
export function extendsChain(
	older: readonly RotationLink[],
	newer: readonly RotationLink[]
): boolean {
	return (
		newer.length >= older.length && older.every((l, i) => bytesEqual(l.bytes, newer[i]!.bytes))
	);
}

export interface ChainRecord {
	root: Uint8Array;
	links: RotationLink[];
	/** The chain's last key. */
	current: Uint8Array;
	bytes: Uint8Array;
}

export function encodeChainRecord(root: Uint8Array, links: readonly RotationLink[]): Uint8Array {
	return writeChain(
		new BinaryWriter().bytes(RECORD_MAGIC).u8(VERSION).bytes(root, KEY_BYTES),
		links
	).finish();
}

/** Parses and fully checks a published chain record. Throws `malformed` or `bad-signature`. */
export async function verifyChainRecord(bytes: Uint8Array): Promise<ChainRecord> {
	const r = new BinaryReader(bytes, 'rotation chain');
	if (!bytesEqual(r.bytes(3), RECORD_MAGIC))
		throw new CharterError('malformed', 'not a rotation chain');
	if (r.u8() !== VERSION)
		throw new CharterError('unsupported-version', 'unsupported rotation chain version');
	const root = r.bytes(KEY_BYTES);
	const { links } = readChain(r, root);
	r.end();
	if (links.length === 0) throw new CharterError('malformed', 'a published chain has a rotation');
	const current = await verifyChain(root, links);
	return { root, links, current, bytes };
}

/** Recognises a chain record by its magic (an envelope may hold junk beside it). */
export function isChainRecord(bytes: Uint8Array): boolean {
	return bytes.length > 3 && bytesEqual(bytes.subarray(0, 3), RECORD_MAGIC);
}
