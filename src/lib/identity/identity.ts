/**
 * A user's keys on one device: the identity key (from the recovery phrase), the current X25519
 * encryption key, and this device's own Ed25519 key with its certificate. Secrets stay inside this
 * object and the SecretStore; everything else in Charter receives only public keys and signatures.
 *
 * After an identity rotation (rotation.ts) the root key K₀ — `userKey`, whose id is the user id and
 * whose hash names the account document — and the current identity key — `identityKey`, the only
 * one this object signs with — differ; the chain between them is kept in the store beside the seed.
 */
import { CharterError } from '../errors.js';
import { cryptoProvider, deriveKey, KEY_BYTES } from '../crypto/primitives.js';
import { KDF } from '../crypto/domains.js';
import { bytesEqual, randomBytes, utf8 } from '../util/bytes.js';
import { deviceId, userId, type DeviceId, type UserId } from './ids.js';
import { createRecoveryPhrase, rootSecretsFromPhrase } from './phrase.js';
import {
	extendsChain,
	MAX_ROTATIONS,
	readChain,
	signRotation,
	verifyChain,
	writeChain,
	type RotationLink
} from './rotation.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';

function deviceEncryptionSecret(deviceSeed: Uint8Array): Uint8Array {
	return deriveKey(deviceSeed, new Uint8Array(), KDF.deviceEncryption);
}

export function deviceEncryptionPublic(
	deviceSeed: Uint8Array,
	provider: { x25519PublicKey(secret: Uint8Array): Uint8Array }
): Uint8Array {
	return provider.x25519PublicKey(deviceEncryptionSecret(deviceSeed));
}
import {
	issueDeviceCertificate,
	issueUserCard,
	verifyDeviceCertificate,
	type DeviceCertificate,
	type UserCard
} from './certificates.js';
import type { SecretStore } from './secret-store.js';
import type { RecoveryKit } from './friend-recovery.js';
import type { LinkBundle } from './device-link.js';
import { openFollow } from './rotation-follow.js';

const SLOT = {
	identitySeed: 'identity/seed',
	recoveryPublic: 'identity/recovery-public',
	encryptionGeneration: 'identity/encryption-generation',
	encryption: (generation: number) => `identity/encryption/${generation}`,
	deviceSeed: 'device/seed',
	deviceCertificate: 'device/certificate',
	/** root key (32) ‖ rotation chain (rotation.ts); absent while the identity was never rotated */
	rotations: 'identity/rotations'
};

async function saveChain(store: SecretStore, root: Uint8Array, links: readonly RotationLink[]) {
	if (links.length)
		await store.set(
			SLOT.rotations,
			writeChain(new BinaryWriter().bytes(root, KEY_BYTES), links).finish()
		);
}

export interface EncryptionKeyPair {
	generation: number;
	secret: Uint8Array;
	publicKey: Uint8Array;
}

export class Identity {
	#recoverySecret: Uint8Array | undefined;
	// what a rotation replaces (`rotate`): the current identity seed, and what it certified
	#identitySeed: Uint8Array;
	#identityKey: Uint8Array;
	#rotations: RotationLink[];
	#certificate: DeviceCertificate;
	#recoveryPublic: Uint8Array;

	private constructor(
		readonly userId: UserId,
		readonly userKey: Uint8Array,
		identitySeed: Uint8Array,
		identityKey: Uint8Array,
		rotations: RotationLink[],
		readonly deviceId: DeviceId,
		readonly deviceKey: Uint8Array,
		private readonly deviceSeed: Uint8Array,
		certificate: DeviceCertificate,
		private readonly encryptionKeys: EncryptionKeyPair[],
		recoveryPublic: Uint8Array
	) {
		this.#identitySeed = identitySeed;
		this.#identityKey = identityKey;
		this.#rotations = rotations;
		this.#certificate = certificate;
		this.#recoveryPublic = recoveryPublic;
	}

	private get identitySeed(): Uint8Array {
		return this.#identitySeed;
	}

	/** The current identity key: the one this device signs cards, certificates and profiles with. */
	get identityKey(): Uint8Array {
		return this.#identityKey;
	}

	/** The rotation chain from the root `userKey` to `identityKey` (empty: never rotated). */
	get rotations(): readonly RotationLink[] {
		return this.#rotations;
	}

	/** This device's certificate, issued by the current identity key. */
	get certificate(): DeviceCertificate {
		return this.#certificate;
	}

	/** The public half of the recovery key of the current phrase (later generations are sealed to it). */
	get recoveryPublic(): Uint8Array {
		return this.#recoveryPublic;
	}

	/** A fresh identity: returns it with the phrase, which is shown to the user once and never stored. */
	static async create(
		store: SecretStore,
		deviceName: string
	): Promise<{ identity: Identity; phrase: string }> {
		const phrase = createRecoveryPhrase();
		return { identity: await Identity.restore(store, phrase, deviceName), phrase };
	}

	/**
	 * Rebuilds the identity from its phrase and certifies this device as a new device of it.
	 * `chain`: when the phrase is a rotated one, the published chain from the root to its key
	 * (sync/rotation-pointer.ts) — it must end at the phrase's key.
	 */
	static async restore(
		store: SecretStore,
		phrase: string,
		deviceName: string,
		chain?: { root: Uint8Array; links: readonly RotationLink[] }
	): Promise<Identity> {
		if (await store.get(SLOT.identitySeed))
			throw new CharterError('identity-exists', 'this data directory already holds an identity');
		const root = await rootSecretsFromPhrase(phrase);
		const provider = await cryptoProvider();
		if (chain?.links.length) {
			const current = await verifyChain(chain.root, chain.links);
			if (!bytesEqual(current, await provider.ed25519PublicKey(root.identitySeed)))
				throw new CharterError('bad-signature', 'that rotation chain does not end at this phrase');
			await saveChain(store, chain.root, chain.links);
		}
		// a rotated phrase gives the generation its rotation moved to; the earlier ones are sealed
		// to its recovery key in the account document
		const generation = chain?.links.at(-1)?.generation ?? 0;
		const loaded = await Identity.#install(
			store,
			{
				identitySeed: root.identitySeed,
				encryption: [{ generation, secret: root.encryptionSecret(generation) }],
				recoveryPublic: provider.x25519PublicKey(root.recoverySecret)
			},
			deviceName
		);
		// held in memory for this session only: it opens the generations sealed for recovery
		loaded.#recoverySecret = root.recoverySecret;
		return loaded;
	}

	/**
	 * Installs the identity a friend-recovery kit holds and certifies this device as a new device of
	 * it. `friendRecoverySecret` (derived from the recombined friend key, never stored) opens, for this
	 * session, the encryption-key generations made after the kit was.
	 */
	static async installRecovered(
		store: SecretStore,
		kit: RecoveryKit,
		deviceName: string,
		friendRecoverySecret: Uint8Array
	): Promise<Identity> {
		if (await store.get(SLOT.identitySeed))
			throw new CharterError('identity-exists', 'this data directory already holds an identity');
		// a kit made after a rotation carries the chain from the root to its seed's key
		if (kit.chain?.links.length) {
			const key = await (await cryptoProvider()).ed25519PublicKey(kit.identitySeed);
			if (!bytesEqual(await verifyChain(kit.chain.root, kit.chain.links), key))
				throw new CharterError('bad-signature', "the kit's rotation chain does not end at its key");
			await saveChain(store, kit.chain.root, kit.chain.links);
		}
		const loaded = await Identity.#install(store, kit, deviceName);
		loaded.#recoverySecret = friendRecoverySecret;
		return loaded;
	}

	static async #install(store: SecretStore, kit: RecoveryKit, deviceName: string) {
		const generations = [...kit.encryption].sort((a, b) => b.generation - a.generation);
		await store.set(SLOT.identitySeed, kit.identitySeed);
		for (const e of generations) await store.set(SLOT.encryption(e.generation), e.secret);
		await store.set(SLOT.encryptionGeneration, utf8.encode(String(generations[0]!.generation)));
		const provider = await cryptoProvider();
		const identityKey = await provider.ed25519PublicKey(kit.identitySeed);
		const deviceSeed = randomBytes(KEY_BYTES);
		const deviceKey = await provider.ed25519PublicKey(deviceSeed);
		const certificate = await issueDeviceCertificate(
			identityKey,
			(m) => provider.sign(kit.identitySeed, m),
			deviceKey,
			deviceEncryptionPublic(deviceSeed, provider),
			deviceName
		);
		await store.set(SLOT.deviceSeed, deviceSeed);
		await store.set(SLOT.deviceCertificate, certificate.bytes);
		await store.set(SLOT.recoveryPublic, kit.recoveryPublic);
		const loaded = await Identity.load(store);
		if (!loaded)
			throw new CharterError('no-identity', 'identity could not be read back from its store');
		return loaded;
	}

	/** What a friend-recovery kit holds: the identity seed, every encryption generation, the recovery public key. */
	recoveryKit(): RecoveryKit {
		return {
			identitySeed: this.identitySeed,
			encryption: this.encryptionKeys.map((k) => ({ generation: k.generation, secret: k.secret })),
			recoveryPublic: this.recoveryPublic,
			...(this.rotations.length
				? { chain: { root: this.userKey, links: [...this.rotations] } }
				: {})
		};
	}

	/** Loads the identity kept in a store, or undefined when the store holds none. */
	static async load(store: SecretStore): Promise<Identity | undefined> {
		const identitySeed = await store.get(SLOT.identitySeed);
		const deviceSeed = await store.get(SLOT.deviceSeed);
		const certBytes = await store.get(SLOT.deviceCertificate);
		if (!identitySeed || !deviceSeed || !certBytes) return undefined;
		const provider = await cryptoProvider();
		const identityKey = await provider.ed25519PublicKey(identitySeed);
		let userKey = identityKey;
		let rotations: RotationLink[] = [];
		const chainBytes = await store.get(SLOT.rotations);
		if (chainBytes) {
			const r = new BinaryReader(chainBytes, 'stored rotation chain');
			userKey = r.bytes(KEY_BYTES);
			rotations = readChain(r, userKey).links;
			r.end();
			await verifyChain(userKey, rotations);
			// a rotation interrupted after its chain was stored and before its seed was: the chain
			// is cut back to the stored seed's key
			const at = bytesEqual(userKey, identityKey)
				? 0
				: rotations.findIndex((l) => bytesEqual(l.next, identityKey)) + 1;
			if (at === 0 && !bytesEqual(userKey, identityKey))
				throw new CharterError(
					'bad-signature',
					'the stored rotation chain does not reach this key'
				);
			rotations = rotations.slice(0, at);
		}
		const deviceKey = await provider.ed25519PublicKey(deviceSeed);
		const certificate = await verifyDeviceCertificate(certBytes);
		const encryptionKeys: EncryptionKeyPair[] = [];
		for (const name of await store.list('identity/encryption/')) {
			const generation = Number(name.slice('identity/encryption/'.length));
			const secret = await store.get(name);
			if (secret && Number.isInteger(generation))
				encryptionKeys.push({ generation, secret, publicKey: provider.x25519PublicKey(secret) });
		}
		encryptionKeys.sort((a, b) => b.generation - a.generation);
		if (encryptionKeys.length === 0) return undefined;
		return new Identity(
			userId(userKey),
			userKey,
			identitySeed,
			identityKey,
			rotations,
			deviceId(deviceKey),
			deviceKey,
			deviceSeed,
			certificate,
			encryptionKeys,
			(await store.get(SLOT.recoveryPublic)) ?? new Uint8Array(0)
		);
	}

	get encryptionKey(): EncryptionKeyPair {
		return this.encryptionKeys[0]!;
	}

	/** Every generation this user has held, newest first (old lockboxes stay openable). */
	get allEncryptionKeys(): readonly EncryptionKeyPair[] {
		return this.encryptionKeys;
	}

	encryptionKeyFor(publicKey: Uint8Array): EncryptionKeyPair | undefined {
		return this.encryptionKeys.find((k) => k.publicKey.every((b, i) => b === publicKey[i]));
	}

	async signAsDevice(message: Uint8Array): Promise<Uint8Array> {
		return (await cryptoProvider()).sign(this.deviceSeed, message);
	}

	async signAsIdentity(message: Uint8Array): Promise<Uint8Array> {
		return (await cryptoProvider()).sign(this.identitySeed, message);
	}

	/**
	 * Installs the keys a linked device received (identity seed, encryption generations) with its own
	 * device seed and the certificate the existing device issued for it.
	 */
	static async installLinked(
		store: SecretStore,
		received: {
			identitySeed: Uint8Array;
			certificate: Uint8Array;
			encryption: { generation: number; secret: Uint8Array }[];
			recoveryPublic: Uint8Array;
			/** The rotation chain, when the identity was rotated (root key and links). */
			chain?: { root: Uint8Array; links: readonly RotationLink[] };
		},
		deviceSeed: Uint8Array
	): Promise<Identity> {
		if (await store.get(SLOT.identitySeed))
			throw new CharterError('identity-exists', 'this data directory already holds an identity');
		const provider = await cryptoProvider();
		const certificate = await verifyDeviceCertificate(received.certificate);
		const deviceKey = await provider.ed25519PublicKey(deviceSeed);
		const userKey = await provider.ed25519PublicKey(received.identitySeed);
		if (received.chain?.links.length) {
			if (!bytesEqual(await verifyChain(received.chain.root, received.chain.links), userKey))
				throw new CharterError(
					'bad-signature',
					'the linked rotation chain does not end at that key'
				);
			await saveChain(store, received.chain.root, received.chain.links);
		}
		if (
			!certificate.deviceKey.every((b, i) => b === deviceKey[i]) ||
			!certificate.userKey.every((b, i) => b === userKey[i])
		)
			throw new CharterError(
				'bad-signature',
				'the link did not certify this device for that identity'
			);
		await store.set(SLOT.identitySeed, received.identitySeed);
		for (const e of received.encryption) await store.set(SLOT.encryption(e.generation), e.secret);
		await store.set(SLOT.deviceSeed, deviceSeed);
		await store.set(SLOT.deviceCertificate, received.certificate);
		await store.set(SLOT.recoveryPublic, received.recoveryPublic);
		const loaded = await Identity.load(store);
		if (!loaded)
			throw new CharterError('no-identity', 'identity could not be read back from its store');
		return loaded;
	}

	/** What a device being linked receives: the identity seed, a certificate for it, the encryption keys. */
	async bundleFor(deviceKey: Uint8Array, deviceEncryptionKey: Uint8Array, name: string) {
		const provider = await cryptoProvider();
		const certificate = await issueDeviceCertificate(
			this.identityKey,
			(m) => provider.sign(this.identitySeed, m),
			deviceKey,
			deviceEncryptionKey,
			name
		);
		return {
			identitySeed: this.identitySeed,
			certificate: certificate.bytes,
			encryption: this.encryptionKeys.map((k) => ({ generation: k.generation, secret: k.secret })),
			recoveryPublic: this.recoveryPublic,
			...(this.rotations.length
				? { chain: { root: this.userKey, links: [...this.rotations] } }
				: {})
		};
	}

	/** This device's own X25519 key pair (in its certificate): receives new encryption generations. */
	async deviceEncryption(): Promise<{ secret: Uint8Array; publicKey: Uint8Array }> {
		const provider = await cryptoProvider();
		const secret = deviceEncryptionSecret(this.deviceSeed);
		return { secret, publicKey: provider.x25519PublicKey(secret) };
	}

	/**
	 * The recovery secret, when this session restored from the phrase — or the friend-recovery
	 * secret, when friends restored it (never stored).
	 */
	get recoverySecret(): Uint8Array | undefined {
		return this.#recoverySecret;
	}

	/** Adds (and keeps) a new encryption-key generation; it becomes the current one if newest. */
	async addEncryptionGeneration(
		store: SecretStore,
		generation: number,
		secret: Uint8Array
	): Promise<boolean> {
		if (this.encryptionKeys.some((k) => k.generation === generation)) return false;
		const provider = await cryptoProvider();
		await store.set(SLOT.encryption(generation), secret);
		this.encryptionKeys.push({ generation, secret, publicKey: provider.x25519PublicKey(secret) });
		this.encryptionKeys.sort((a, b) => b.generation - a.generation);
		return true;
	}

	/** The key of the user's private account document (derived from the identity seed). */
	accountKey(accountId: Uint8Array): Uint8Array {
		return deriveKey(this.identitySeed, accountId, KDF.account);
	}

	/** The public card another member needs to add this user to a space. */
	async card(): Promise<UserCard> {
		return this.cardWith([]);
	}

	/** A card listing `others` (this user's other devices, e.g. from a space's record) and this one. */
	async cardWith(others: readonly DeviceCertificate[]): Promise<UserCard> {
		// only devices the current identity key certified (after a rotation, not the old key's)
		const devices = [
			...others.filter(
				(d) => d.device !== this.deviceId && bytesEqual(d.userKey, this.identityKey)
			),
			this.certificate
		];
		return issueUserCard(
			this.userKey,
			(m) => this.signAsIdentity(m),
			this.encryptionKey.publicKey,
			this.encryptionKey.generation,
			devices,
			Date.now(),
			this.rotations
		);
	}

	/**
	 * Identity rotation: a new recovery phrase whose identity key, certified by the current one,
	 * becomes the current identity key; this device is certified again by it (same device key, same
	 * name), and the new phrase's recovery key replaces the old one. The user id stays (the root's).
	 * Returns the new phrase (shown once, never stored) and the new link. The user moves to a new
	 * encryption-key generation, derived from the new phrase (the link names it); sealing the earlier
	 * ones to the new recovery key is the caller's (Charter.rotateIdentity).
	 */
	async rotate(
		store: SecretStore,
		keep: readonly DeviceCertificate[] = []
	): Promise<{
		phrase: string;
		link: RotationLink;
		/** Per kept device: its certificate by the new key, and what it is handed (rotation-follow.ts). */
		kept: { certificate: DeviceCertificate; handOver: LinkBundle }[];
	}> {
		if (this.rotations.length >= MAX_ROTATIONS)
			throw new CharterError('too-large', `an identity rotates at most ${MAX_ROTATIONS} times`);
		const phrase = createRecoveryPhrase();
		const next = await rootSecretsFromPhrase(phrase);
		const provider = await cryptoProvider();
		const nextKey = await provider.ed25519PublicKey(next.identitySeed);
		// the new phrase's own encryption key, at a generation after every one held: nobody holding
		// the old phrase can derive it
		const generation = Math.max(...this.encryptionKeys.map((k) => k.generation)) + 1;
		const link = await signRotation(
			this.userKey,
			this.rotations.length + 1,
			nextKey,
			generation,
			(m) => this.signAsIdentity(m),
			(m) => provider.sign(next.identitySeed, m)
		);
		const rotations = [...this.rotations, link];
		const certificate = await issueDeviceCertificate(
			nextKey,
			(m) => provider.sign(next.identitySeed, m),
			this.deviceKey,
			this.certificate.deviceEncryptionKey,
			this.certificate.name
		);
		const recoveryPublic = provider.x25519PublicKey(next.recoverySecret);
		// the chain first: a crash before the seed is written leaves the old identity, which loads
		// (`load` cuts the chain back to the stored seed's key)
		await saveChain(store, this.userKey, rotations);
		await store.set(SLOT.identitySeed, next.identitySeed);
		await store.set(SLOT.deviceCertificate, certificate.bytes);
		await store.set(SLOT.recoveryPublic, recoveryPublic);
		this.#identitySeed = next.identitySeed;
		this.#identityKey = nextKey;
		this.#rotations = rotations;
		this.#certificate = certificate;
		this.#recoveryPublic = recoveryPublic;
		this.#recoverySecret = next.recoverySecret;
		await this.addEncryptionGeneration(store, generation, next.encryptionSecret(generation));
		const kept: { certificate: DeviceCertificate; handOver: LinkBundle }[] = [];
		for (const device of keep) {
			if (device.device === this.deviceId) continue;
			const certified = await issueDeviceCertificate(
				nextKey,
				(m) => provider.sign(next.identitySeed, m),
				device.deviceKey,
				device.deviceEncryptionKey,
				device.name
			);
			kept.push({
				certificate: certified,
				handOver: {
					identitySeed: next.identitySeed,
					certificate: certified.bytes,
					encryption: [{ generation, secret: next.encryptionSecret(generation) }],
					recoveryPublic,
					chain: { root: this.userKey, links: rotations }
				}
			});
		}
		return { phrase, link, kept };
	}

	/** Opens a rotation hand-over (rotation-follow.ts) with this device's own key, if it is for it. */
	async openHandOver(bytes: Uint8Array): Promise<LinkBundle | undefined> {
		return openFollow(this.deviceSeed, this.deviceKey, bytes);
	}

	/**
	 * A kept device follows its user's rotation: `handOver` (opened by `openHandOver`) must carry a
	 * chain of this user that continues this device's own, one link or more longer, ending at the key
	 * of the identity seed it holds. This device then signs with the new identity key, holds the new
	 * encryption-key generation and recovery public key; its certificate is the new key's — the one
	 * handed over when it names this device's own X25519 key, else one it issues itself (a forged
	 * certificate on some card might have named another). Resolves to false when the hand-over does
	 * not continue this identity (nothing changes). The caller checks the chain stands in a space.
	 */
	async follow(store: SecretStore, handOver: LinkBundle): Promise<boolean> {
		const chain = handOver.chain;
		if (
			!chain ||
			!bytesEqual(chain.root, this.userKey) ||
			chain.links.length <= this.rotations.length ||
			!extendsChain(this.rotations, chain.links)
		)
			return false;
		const provider = await cryptoProvider();
		const nextKey = await provider.ed25519PublicKey(handOver.identitySeed);
		try {
			if (!bytesEqual(await verifyChain(chain.root, chain.links), nextKey)) return false;
		} catch {
			return false;
		}
		const own = await this.deviceEncryption();
		let certificate: DeviceCertificate | undefined;
		try {
			const given = await verifyDeviceCertificate(handOver.certificate);
			if (
				bytesEqual(given.userKey, nextKey) &&
				bytesEqual(given.deviceKey, this.deviceKey) &&
				bytesEqual(given.deviceEncryptionKey, own.publicKey)
			)
				certificate = given;
		} catch {
			/* issued again below */
		}
		certificate ??= await issueDeviceCertificate(
			nextKey,
			(m) => provider.sign(handOver.identitySeed, m),
			this.deviceKey,
			own.publicKey,
			this.certificate.name
		);
		const links = [...chain.links];
		await saveChain(store, this.userKey, links);
		await store.set(SLOT.identitySeed, handOver.identitySeed);
		await store.set(SLOT.deviceCertificate, certificate.bytes);
		if (handOver.recoveryPublic.length === KEY_BYTES)
			await store.set(SLOT.recoveryPublic, handOver.recoveryPublic);
		this.#identitySeed = handOver.identitySeed;
		this.#identityKey = nextKey;
		this.#rotations = links;
		this.#certificate = certificate;
		if (handOver.recoveryPublic.length === KEY_BYTES)
			this.#recoveryPublic = handOver.recoveryPublic;
		this.#recoverySecret = undefined;
		for (const e of handOver.encryption)
			await this.addEncryptionGeneration(store, e.generation, e.secret);
		return true;
	}
}
