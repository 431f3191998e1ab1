/**
 * A user's keys on one device: the identity key (from the recovery phrase), the current X25519
 * encryption key, and this device's own Ed25519 key with its certificate. Secrets stay inside this
 * object and the SecretStore; everything else in Charter receives only public keys and signatures.
 */
import { CharterError } from '../errors.js';
import { cryptoProvider, deriveKey, KEY_BYTES } from '../crypto/primitives.js';
import { KDF } from '../crypto/domains.js';
import { randomBytes, utf8 } from '../util/bytes.js';
import { deviceId, userId, type DeviceId, type UserId } from './ids.js';
import { createRecoveryPhrase, rootSecretsFromPhrase } from './phrase.js';

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

const SLOT = {
	identitySeed: 'identity/seed',
	recoveryPublic: 'identity/recovery-public',
	encryptionGeneration: 'identity/encryption-generation',
	encryption: (generation: number) => `identity/encryption/${generation}`,
	deviceSeed: 'device/seed',
	deviceCertificate: 'device/certificate'
};

export interface EncryptionKeyPair {
	generation: number;
	secret: Uint8Array;
	publicKey: Uint8Array;
}

export class Identity {
	#recoverySecret: Uint8Array | undefined;

	private constructor(
		readonly userId: UserId,
		readonly userKey: Uint8Array,
		private readonly identitySeed: Uint8Array,
		readonly deviceId: DeviceId,
		readonly deviceKey: Uint8Array,
		private readonly deviceSeed: Uint8Array,
		readonly certificate: DeviceCertificate,
		private readonly encryptionKeys: EncryptionKeyPair[],
		readonly recoveryPublic: Uint8Array
	) {}

	/** A fresh identity: returns it with the phrase, which is shown to the user once and never stored. */
	static async create(
		store: SecretStore,
		deviceName: string
	): Promise<{ identity: Identity; phrase: string }> {
		const phrase = createRecoveryPhrase();
		return { identity: await Identity.restore(store, phrase, deviceName), phrase };
	}

	/** Rebuilds the identity from its phrase and certifies this device as a new device of it. */
	static async restore(store: SecretStore, phrase: string, deviceName: string): Promise<Identity> {
		if (await store.get(SLOT.identitySeed))
			throw new CharterError('identity-exists', 'this data directory already holds an identity');
		const root = await rootSecretsFromPhrase(phrase);
		const provider = await cryptoProvider();
		const loaded = await Identity.#install(
			store,
			{
				identitySeed: root.identitySeed,
				encryption: [{ generation: 0, secret: root.encryptionSecret(0) }],
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
		const userKey = await provider.ed25519PublicKey(kit.identitySeed);
		const deviceSeed = randomBytes(KEY_BYTES);
		const deviceKey = await provider.ed25519PublicKey(deviceSeed);
		const certificate = await issueDeviceCertificate(
			userKey,
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
			recoveryPublic: this.recoveryPublic
		};
	}

	/** Loads the identity kept in a store, or undefined when the store holds none. */
	static async load(store: SecretStore): Promise<Identity | undefined> {
		const identitySeed = await store.get(SLOT.identitySeed);
		const deviceSeed = await store.get(SLOT.deviceSeed);
		const certBytes = await store.get(SLOT.deviceCertificate);
		if (!identitySeed || !deviceSeed || !certBytes) return undefined;
		const provider = await cryptoProvider();
		const userKey = await provider.ed25519PublicKey(identitySeed);
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
		},
		deviceSeed: Uint8Array
	): Promise<Identity> {
		if (await store.get(SLOT.identitySeed))
			throw new CharterError('identity-exists', 'this data directory already holds an identity');
		const provider = await cryptoProvider();
		const certificate = await verifyDeviceCertificate(received.certificate);
		const deviceKey = await provider.ed25519PublicKey(deviceSeed);
		const userKey = await provider.ed25519PublicKey(received.identitySeed);
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
			this.userKey,
			(m) => provider.sign(this.identitySeed, m),
			deviceKey,
			deviceEncryptionKey,
			name
		);
		return {
			identitySeed: this.identitySeed,
			certificate: certificate.bytes,
			encryption: this.encryptionKeys.map((k) => ({ generation: k.generation, secret: k.secret })),
			recoveryPublic: this.recoveryPublic
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
		const devices = [
			...others.filter((d) => d.device !== this.deviceId && d.user === this.userId),
			this.certificate
		];
		return issueUserCard(
			this.userKey,
			(m) => this.signAsIdentity(m),
			this.encryptionKey.publicKey,
			this.encryptionKey.generation,
			devices
		);
	}
}
