/**
 * The crypto provider seam. Signatures and key agreement prefer the platform's native WebCrypto
 * (Ed25519 verifies ~14× faster than pure JS on the reference machine, X25519 ~40×) and fall back to
 * the audited noble implementations where the platform lacks them. Under Node, Ed25519 checks go
 * through node:crypto (the same OpenSSL), synchronously where that is on a reader's path (see
 * SYNC_CHECKS_PER_TASK); signing stays on WebCrypto; SHA-256 goes through node:crypto too (see
 * `hash`). Symmetric encryption and HKDF are always noble: they are fast enough in JS for
 * chat-sized payloads and behave identically everywhere.
 */
import * as nobleEd from '@noble/ed25519';
import { ed25519 as nobleCurve, x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import type * as NodeCryptoModule from 'node:crypto';
import { concatBytes, hex, randomBytes, utf8 } from '../util/bytes.js';
import { SELF_TEST } from './domains.js';

type NodeCrypto = typeof NodeCryptoModule;
type KeyObject = NodeCryptoModule.KeyObject;

export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;

export type CryptoBackend = 'node' | 'webcrypto' | 'noble';

export interface CryptoProvider {
	readonly signatureBackend: CryptoBackend;
	readonly keyAgreementBackend: CryptoBackend;
	ed25519PublicKey(seed: Uint8Array): Promise<Uint8Array>;
	sign(seed: Uint8Array, message: Uint8Array): Promise<Uint8Array>;
	verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean>;
	x25519PublicKey(secret: Uint8Array): Uint8Array;
	x25519SharedSecret(secret: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array>;
	/** A fresh ephemeral key pair agreed with `publicKey` (ECIES sender side); the secret never leaves. */
	x25519Ephemeral(
		publicKey: Uint8Array
	): Promise<{ ephemeralPublic: Uint8Array; shared: Uint8Array }>;
}

// PKCS#8 wrappers for raw 32-byte private keys (RFC 8410): WebCrypto imports OKP private keys only so.
const ED25519_PKCS8_PREFIX = hex.decode('302e020100300506032b657004220420');
const X25519_PKCS8_PREFIX = hex.decode('302e020100300506032b656e04220420');

type Subtle = SubtleCrypto;

/** WebCrypto's typings want ArrayBuffer-backed views; Charter never uses SharedArrayBuffer. */
const view = (bytes: Uint8Array) => bytes as Uint8Array<ArrayBuffer>;

function subtle(): Subtle | undefined {
	return globalThis.crypto?.subtle;
}

/** Bounded cache of imported public keys: verifying a chat history hits the same few keys repeatedly. */
class KeyCache<V> {
	#map = new Map<string, V>();
	constructor(private readonly limit: number) {}
	get(key: string): V | undefined {
		return this.#map.get(key);
	}
	set(key: string, value: V): void {
		if (this.#map.size >= this.limit) {
			const oldest = this.#map.keys().next().value;
			if (oldest !== undefined) this.#map.delete(oldest);
		}
		this.#map.set(key, value);
	}
}

const nobleSigning = {
	ed25519PublicKey: (seed: Uint8Array) => nobleEd.getPublicKeyAsync(seed),
	sign: (seed: Uint8Array, message: Uint8Array) => nobleEd.signAsync(message, seed),
	verify: async (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => {
		try {
			return await nobleEd.verifyAsync(signature, message, publicKey);
		} catch {
			return false;
		}
	}
};

function makeNativeSigning(s: Subtle) {
	const privateKeys = new KeyCache<Promise<CryptoKey>>(64);
	const publicKeys = new KeyCache<Promise<CryptoKey>>(4096);
	const privateKey = (seed: Uint8Array) => {
		const id = hex.encode(sha256(seed));
		let key = privateKeys.get(id);
		if (!key) {
			key = s.importKey(
				'pkcs8',
				view(concatBytes(ED25519_PKCS8_PREFIX, seed)),
				{ name: 'Ed25519' },
				false,
				['sign']
			);
			privateKeys.set(id, key);
		}
		return key;
	};
	const publicKey = (raw: Uint8Array) => {
		const id = hex.encode(raw);
		let key = publicKeys.get(id);
		if (!key) {
			key = s.importKey('raw', view(raw), { name: 'Ed25519' }, false, ['verify']);
			publicKeys.set(id, key);
		}
		return key;
	};
	return {
		ed25519PublicKey: nobleSigning.ed25519PublicKey,
		sign: async (seed: Uint8Array, message: Uint8Array) =>
			new Uint8Array(await s.sign({ name: 'Ed25519' }, await privateKey(seed), view(message))),
		verify: async (signature: Uint8Array, message: Uint8Array, raw: Uint8Array) => {
			if (signature.length !== SIGNATURE_BYTES || raw.length !== KEY_BYTES) return false;
			try {
				return await s.verify(
					{ name: 'Ed25519' },
					await publicKey(raw),
					view(signature),
					view(message)
				);
			} catch {
				return false;
			}
		}
	};
}

/**
 * Node's own crypto module (the same OpenSSL as Node's WebCrypto), or undefined outside Node. Found
 * through `process.getBuiltinModule` (Node ≥ 20.16), so no bundle made for a browser imports it.
 */
function nodeCrypto(): NodeCrypto | undefined {
	const host = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
	try {
		return host?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
	} catch {
		return undefined;
	}
}

// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): node:crypto imports raw public keys so.
const ED25519_SPKI_PREFIX = hex.decode('302a300506032b6570032100');

/**
 * Signature checks made on the spot, per task, before the rest go to the thread pool. WebCrypto's
 * asynchronous Ed25519 costs each check a trip to the pool and back (~0.5–0.8 ms of wall time on the
 * reference machine, and more CPU than the check itself); node:crypto's synchronous one costs
 * ~130 µs of the main thread. A delivered message needs two checks (its publication seal, then its
 * entry), on the path a reader waits on; a batch (a cold sync's sessions, a space's member cards) is
 * better spread over the cores. So the first few checks of a task are synchronous and the rest
 * asynchronous.
 *
 * Signing stays on WebCrypto. Signing synchronously too was tried twice. The first time a home
 * node's join by invite over a direct peer never completed (a race since fixed: the echo bot now
 * joins either way). The second time (2026-12-02) it passed every test but made 20 members
 * chatting in one process slower, not faster: `npm run bench -- chat` delivered 6.3 msg/s instead of
 * 9.4, with 112 s of client CPU instead of 72 s and half again as many sync messages (the cause is
 * not found: a signature made on the spot changes how sync rounds interleave under load).
 */
export const SYNC_CHECKS_PER_TASK = 4;

/**
 * Native signatures through node:crypto: the first SYNC_CHECKS_PER_TASK checks of a task
 * synchronously, the rest and every signing through WebCrypto (`pooled`).
 */
function makeNodeSigning(node: NodeCrypto, pooled: ReturnType<typeof makeNativeSigning>) {
	const publicKeys = new KeyCache<KeyObject>(4096);
	let thisTask = 0;
	const onTheSpot = () => {
		if (thisTask++ === 0) setImmediate(() => (thisTask = 0));
		return thisTask <= SYNC_CHECKS_PER_TASK;
	};
	return {
		ed25519PublicKey: nobleSigning.ed25519PublicKey,
		// signing stays on WebCrypto: see SYNC_CHECKS_PER_TASK
		sign: pooled.sign,
		verify: async (signature: Uint8Array, message: Uint8Array, raw: Uint8Array) => {
			if (signature.length !== SIGNATURE_BYTES || raw.length !== KEY_BYTES) return false;
			if (!onTheSpot()) return pooled.verify(signature, message, raw);
			try {
				const id = hex.encode(raw);
				let key = publicKeys.get(id);
				if (!key) {
					key = node.createPublicKey({
						key: Buffer.from(concatBytes(ED25519_SPKI_PREFIX, raw)),
						format: 'der',
						type: 'spki'
					});
					publicKeys.set(id, key);
				}
				return node.verify(null, message, key, signature);
			} catch {
				return false;
			}
		}
	};
}

function makeNativeAgreement(s: Subtle) {
	return async (secret: Uint8Array, peer: Uint8Array): Promise<Uint8Array> => {
		const priv = await s.importKey(
			'pkcs8',
			view(concatBytes(X25519_PKCS8_PREFIX, secret)),
			{ name: 'X25519' },
			false,
			['deriveBits']
		);
		const pub = await s.importKey('raw', view(peer), { name: 'X25519' }, false, []);
		return new Uint8Array(await s.deriveBits({ name: 'X25519', public: pub }, priv, 256));
	};
}

const nobleAgreement = async (secret: Uint8Array, peer: Uint8Array) =>
	nobleX25519.getSharedSecret(secret, peer);

function makeNativeEphemeral(s: Subtle) {
	return async (peer: Uint8Array) => {
		const pair = (await s.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
		const ephemeralPublic = new Uint8Array(await s.exportKey('raw', pair.publicKey));
		const pub = await s.importKey('raw', view(peer), { name: 'X25519' }, false, []);
		const shared = new Uint8Array(
			await s.deriveBits({ name: 'X25519', public: pub }, pair.privateKey, 256)
		);
		return { ephemeralPublic, shared };
	};
}

const nobleEphemeral = async (peer: Uint8Array) => {
	const secret = nobleX25519.utils.randomSecretKey();
	return {
		ephemeralPublic: nobleX25519.getPublicKey(secret),
		shared: nobleX25519.getSharedSecret(secret, peer)
	};
};

async function nativeSigningWorks(native: ReturnType<typeof makeNativeSigning>): Promise<boolean> {
	try {
		const seed = sha256(utf8.encode(SELF_TEST.signingSeed));
		const msg = utf8.encode(SELF_TEST.signingMessage);
		const sig = await native.sign(seed, msg);
		const pub = await nobleSigning.ed25519PublicKey(seed);
		return (await native.verify(sig, msg, pub)) && (await nobleSigning.verify(sig, msg, pub));
	} catch {
		return false;
	}
}

async function nativeAgreementWorks(s: Subtle): Promise<boolean> {
	try {
		const a = sha256(utf8.encode(SELF_TEST.agreementA));
		const b = sha256(utf8.encode(SELF_TEST.agreementB));
		const shared = await makeNativeAgreement(s)(a, nobleX25519.getPublicKey(b));
		const expected = nobleX25519.getSharedSecret(b, nobleX25519.getPublicKey(a));
		return hex.encode(shared) === hex.encode(expected);
	} catch {
		return false;
	}
}

/**
 * Builds a provider. `prefer: 'noble'` forces the pure-JS path (used by tests and benchmarks to
 * compare backends); the default probes WebCrypto once and uses it when it round-trips correctly.
 */
export async function createCryptoProvider(
	options: { prefer?: CryptoBackend } = {}
): Promise<CryptoProvider> {
	const s = options.prefer === 'noble' ? undefined : subtle();
	const webSign = s && makeNativeSigning(s);
	const node = s && options.prefer !== 'webcrypto' ? nodeCrypto() : undefined;
	const nodeSign = node && webSign && makeNodeSigning(node, webSign);
	const nativeSign =
		nodeSign && (await nativeSigningWorks(nodeSign))
			? nodeSign
			: webSign && (await nativeSigningWorks(webSign))
				? webSign
				: undefined;
	const nativeAgree = s && (await nativeAgreementWorks(s)) ? makeNativeAgreement(s) : undefined;
	const signing = nativeSign ?? nobleSigning;
	const agreement = nativeAgree ?? nobleAgreement;
	return {
		signatureBackend:
			nodeSign && nativeSign === nodeSign ? 'node' : nativeSign ? 'webcrypto' : 'noble',
		keyAgreementBackend: nativeAgree ? 'webcrypto' : 'noble',
		ed25519PublicKey: signing.ed25519PublicKey,
		sign: signing.sign,
		verify: signing.verify,
		x25519PublicKey: (secret) => nobleX25519.getPublicKey(secret),
		x25519SharedSecret: async (secret, publicKey) => {
			if (publicKey.length !== KEY_BYTES)
				throw new RangeError('X25519 public key must be 32 bytes');
			return agreement(secret, publicKey);
		},
		x25519Ephemeral: async (publicKey) => {
			if (publicKey.length !== KEY_BYTES)
				throw new RangeError('X25519 public key must be 32 bytes');
			return (nativeAgree && s ? makeNativeEphemeral(s) : nobleEphemeral)(publicKey);
		}
	};
}

let defaultProvider: Promise<CryptoProvider> | undefined;

/** The process-wide provider, probed once. */
export function cryptoProvider(): Promise<CryptoProvider> {
	defaultProvider ??= createCryptoProvider();
	return defaultProvider;
}

export function aeadSeal(
	key: Uint8Array,
	nonce: Uint8Array,
	plaintext: Uint8Array,
	aad: Uint8Array
) {
	return xchacha20poly1305(key, nonce, aad).encrypt(plaintext);
}

/** Throws on authentication failure; callers turn that into a typed error. */
export function aeadOpen(
	key: Uint8Array,
	nonce: Uint8Array,
	ciphertext: Uint8Array,
	aad: Uint8Array
) {
	return xchacha20poly1305(key, nonce, aad).decrypt(ciphertext);
}

/**
 * node:crypto under Node, for SHA-256: OpenSSL's is the same function, 2.5× faster than noble's on
 * an entry-sized input and ~15× on a fragment of a megabyte (a cold sync hashes every entry, change
 * and fragment it reads). Elsewhere (a browser, whose WebCrypto digest is asynchronous) noble's.
 */
const nodeHashing = nodeCrypto();

/** SHA-256 of the parts, concatenated. */
export function hash(...parts: Uint8Array[]): Uint8Array {
	if (nodeHashing) {
		const h = nodeHashing.createHash('sha256');
		for (const part of parts) h.update(part);
		return new Uint8Array(h.digest()); // a copy: the digest may sit in Node's shared buffer pool
	}
	return sha256(concatBytes(...parts));
}

export function deriveKey(ikm: Uint8Array, salt: Uint8Array, info: string, length = KEY_BYTES) {
	return hkdf(sha256, ikm, salt, utf8.encode(info), length);
}

export function newKey(): Uint8Array {
	return randomBytes(KEY_BYTES);
}

export function newNonce(): Uint8Array {
	return randomBytes(NONCE_BYTES);
}

export function newX25519Secret(): Uint8Array {
	return nobleX25519.utils.randomSecretKey();
}

/**
 * The X25519 public key of an Ed25519 public key (the birational map of RFC 7748 §4.1, as
 * libsodium's `crypto_sign_ed25519_pk_to_curve25519`): a recipient fixed by a device's id alone,
 * which no certificate can name differently (identity/rotation-follow.ts). Throws `RangeError` on a
 * point that is not on the curve.
 */
export function x25519OfEd25519(publicKey: Uint8Array): Uint8Array {
	return nobleCurve.utils.toMontgomery(publicKey);
}

/** The X25519 secret matching `x25519OfEd25519` of the Ed25519 key of `seed`. */
export function x25519SecretOfEd25519Seed(seed: Uint8Array): Uint8Array {
	return nobleCurve.utils.toMontgomerySecret(seed);
}
