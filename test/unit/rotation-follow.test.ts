/**
 * Rotation hand-overs (identity/rotation-follow.ts) and a kept device following one (Identity.follow):
 * Ada's laptop rotates and keeps her phone. The hand-over opens only with the phone's own device
 * seed (sealed to the X25519 form of its device key); the phone then signs with the new key. A
 * certificate naming another X25519 key is replaced by one the phone issues itself; a fork of the
 * chain (the thief rotating the old key) or a hand-over of another user is not followed.
 */
import { describe, expect, it } from 'vitest';
import { cryptoProvider } from '../../src/lib/crypto/primitives.js';
import { bytesEqual, randomBytes } from '../../src/lib/util/bytes.js';
import { deviceEncryptionPublic, Identity } from '../../src/lib/identity/identity.js';
import { MemorySecretStore } from '../../src/lib/identity/secret-store.js';
import { issueDeviceCertificate } from '../../src/lib/identity/certificates.js';
import {
	followRecipient,
	openFollow,
	sealFollow,
	MAX_FOLLOW_BYTES
} from '../../src/lib/identity/rotation-follow.js';

/** Ada's laptop (phrase kept) and a phone linked to it, each with its own secret store. */
async function adaWithPhone() {
	const provider = await cryptoProvider();
	const { identity: laptop, phrase } = await Identity.create(new MemorySecretStore(), 'laptop');
	const phoneSeed = randomBytes(32);
	const phoneKey = await provider.ed25519PublicKey(phoneSeed);
	const bundle = await laptop.bundleFor(
		phoneKey,
		deviceEncryptionPublic(phoneSeed, provider),
		'phone'
	);
	const phoneStore = new MemorySecretStore();
	const phone = await Identity.installLinked(phoneStore, bundle, phoneSeed);
	return { laptop, laptopStore: new MemorySecretStore(), phone, phoneStore, phoneSeed, phrase };
}

describe('rotation hand-over', () => {
	it('✓ opens only with the kept device’s own seed; another device, damaged or oversized bytes give nothing', async () => {
		const { laptop, phone, phoneSeed } = await adaWithPhone();
		const { kept } = await laptop.rotate(new MemorySecretStore(), [phone.certificate]);
		const sealed = await sealFollow(phone.deviceKey, kept[0]!.handOver);
		// ✓ it names the device it is for, and only that device's seed opens it
		expect(followRecipient(sealed)).toEqual(phone.deviceKey);
		const opened = await openFollow(phoneSeed, phone.deviceKey, sealed);
		expect(opened?.identitySeed).toEqual(kept[0]!.handOver.identitySeed);
		const other = randomBytes(32);
		const otherKey = await (await cryptoProvider()).ed25519PublicKey(other);
		expect(await openFollow(other, otherKey, sealed)).toBeUndefined();
		expect(await openFollow(other, phone.deviceKey, sealed)).toBeUndefined();
		// ✓ a flipped byte, a truncation or junk past the limit: nothing, never a throw
		const flipped = Uint8Array.from(sealed);
		flipped[flipped.length - 5]! ^= 1;
		expect(await openFollow(phoneSeed, phone.deviceKey, flipped)).toBeUndefined();
		expect(
			await openFollow(phoneSeed, phone.deviceKey, sealed.subarray(0, sealed.length - 20))
		).toBeUndefined();
		const huge = new Uint8Array(MAX_FOLLOW_BYTES + 1);
		huge.set(sealed);
		expect(await openFollow(phoneSeed, phone.deviceKey, huge)).toBeUndefined();
		// ✓ the laptop's own hand-over call through the phone's Identity
		expect((await phone.openHandOver(sealed))?.chain?.links).toHaveLength(1);
	});

	it('✓ the phone follows: it signs with the new key, holds the new encryption key; a fork afterwards is not followed', async () => {
		const { laptop, phone, phoneStore, phrase } = await adaWithPhone();
		const { kept } = await laptop.rotate(new MemorySecretStore(), [phone.certificate]);
		const handOver = (await phone.openHandOver(
			await sealFollow(phone.deviceKey, kept[0]!.handOver)
		))!;
		// meanwhile the thief restores the old phrase and rotates it too: a fork for the phone
		const thief = await Identity.restore(new MemorySecretStore(), phrase, 'thief');
		const fork = (await thief.rotate(new MemorySecretStore(), [phone.certificate])).kept[0]!;

		expect(await phone.follow(phoneStore, handOver)).toBe(true);
		// ✓ the same user and device, under the laptop's new key and encryption generation
		expect(phone.userId).toBe(laptop.userId);
		expect(phone.identityKey).toEqual(laptop.identityKey);
		expect(phone.rotations).toHaveLength(1);
		expect(phone.encryptionKey.publicKey).toEqual(laptop.encryptionKey.publicKey);
		expect(phone.certificate.userKey).toEqual(laptop.identityKey);
		expect(phone.recoverySecret).toBeUndefined();
		// ✓ it survives a reload from its store
		const reloaded = (await Identity.load(phoneStore))!;
		expect(reloaded.identityKey).toEqual(laptop.identityKey);
		expect(reloaded.rotations).toHaveLength(1);
		// ✓ its cards are the new key's, with the chain
		const card = await phone.card();
		expect(card.identityKey).toEqual(laptop.identityKey);
		expect(card.user).toBe(laptop.userId);
		// ✓ the thief's fork does not continue the phone's chain: not followed, nothing changes
		expect(await phone.follow(phoneStore, fork.handOver)).toBe(false);
		expect(phone.identityKey).toEqual(laptop.identityKey);
		// ✓ nor does the same hand-over again, or one without a chain
		expect(await phone.follow(phoneStore, handOver)).toBe(false);
		const { chain: _chain, ...unchained } = handOver;
		void _chain;
		expect(await phone.follow(phoneStore, unchained)).toBe(false);
	});

	it('✓ a certificate naming another X25519 key is replaced by one the phone issues itself', async () => {
		const { laptop, phone, phoneStore } = await adaWithPhone();
		const provider = await cryptoProvider();
		// a certificate the leaked phrase could have put on a card: the phone's key, the thief's X25519
		const forged = await issueDeviceCertificate(
			phone.certificate.userKey,
			(m) => laptop.signAsIdentity(m),
			phone.deviceKey,
			provider.x25519PublicKey(randomBytes(32)),
			'phone'
		);
		const { kept } = await laptop.rotate(new MemorySecretStore(), [forged]);
		expect(
			bytesEqual(kept[0]!.certificate.deviceEncryptionKey, phone.certificate.deviceEncryptionKey)
		).toBe(false);
		// ✓ sealed to the phone's device key, so the phone opens it (not whoever owns that X25519 key)
		const handOver = (await phone.openHandOver(
			await sealFollow(phone.deviceKey, kept[0]!.handOver)
		))!;
		const own = (await phone.deviceEncryption()).publicKey;
		expect(await phone.follow(phoneStore, handOver)).toBe(true);
		// ✓ its certificate is by the new key and names its own X25519 key
		expect(phone.certificate.userKey).toEqual(laptop.identityKey);
		expect(phone.certificate.deviceEncryptionKey).toEqual(own);
	});

	it('✓ a hand-over of another user is not followed', async () => {
		const { phone, phoneStore } = await adaWithPhone();
		const { identity: eve } = await Identity.create(new MemorySecretStore(), 'eve');
		const { kept } = await eve.rotate(new MemorySecretStore(), [phone.certificate]);
		expect(await phone.follow(phoneStore, kept[0]!.handOver)).toBe(false);
		expect(phone.rotations).toHaveLength(0);
	});
});
