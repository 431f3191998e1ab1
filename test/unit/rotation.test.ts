/**
 * The identity-rotation chain and the cards, geneses and records that carry it: well-formed chains
 * verify; a wrong signer, a gap in seq, a link of another user, a repeated key, a fork or a rollback,
 * and truncated or extended bytes are refused with a typed error — never a crash.
 */
import { describe, expect, it } from 'vitest';
import { isCharterError } from '../../src/lib/errors.js';
import { cryptoProvider } from '../../src/lib/crypto/primitives.js';
import { randomBytes } from '../../src/lib/util/bytes.js';
import { BinaryReader, BinaryWriter } from '../../src/lib/util/binary.js';
import {
	encodeChainRecord,
	extendsChain,
	readChain,
	signRotation,
	verifyChain,
	verifyChainRecord,
	writeChain,
	type RotationLink
} from '../../src/lib/identity/rotation.js';
import {
	decodeUserCard,
	issueDeviceCertificate,
	issueUserCard,
	verifyUserCard
} from '../../src/lib/identity/certificates.js';
import { createGenesis, verifyGenesis } from '../../src/lib/authority/genesis.js';
import { signProfile, verifyProfile } from '../../src/lib/identity/profile.js';
import { judgePointer } from '../../src/lib/sync/rotation-pointer.js';

interface Key {
	seed: Uint8Array;
	pub: Uint8Array;
	sign(m: Uint8Array): Promise<Uint8Array>;
}

async function key(): Promise<Key> {
	const provider = await cryptoProvider();
	const seed = randomBytes(32);
	return {
		seed,
		pub: await provider.ed25519PublicKey(seed),
		sign: (m) => provider.sign(seed, m)
	};
}

/** K₀ → K₁ → … → Kₙ, each link signed by the key before it and the key it certifies. */
async function chainOf(n: number) {
	const keys = [await key()];
	const links: RotationLink[] = [];
	for (let s = 1; s <= n; s++) {
		const next = await key();
		links.push(await signRotation(keys[0]!.pub, s, next.pub, s, keys[s - 1]!.sign, next.sign));
		keys.push(next);
	}
	return { keys, links, root: keys[0]!.pub };
}

async function refusal(run: () => unknown): Promise<string> {
	try {
		await run();
	} catch (error) {
		if (isCharterError(error)) return error.code;
		throw error;
	}
	return 'accepted';
}

describe('identity rotation: the chain', () => {
	it('✓ a chain of two rotations verifies to its last key, and survives its own encoding', async () => {
		const { keys, links, root } = await chainOf(2);
		expect(await verifyChain(root, links)).toEqual(keys[2]!.pub);
		const bytes = writeChain(new BinaryWriter(), links).finish();
		const read = readChain(new BinaryReader(bytes, 'chain'), root);
		expect(read.current).toEqual(keys[2]!.pub);
		expect(read.links.map((l) => l.seq)).toEqual([1, 2]);
		const record = await verifyChainRecord(encodeChainRecord(root, links));
		expect(record.root).toEqual(root);
		expect(record.current).toEqual(keys[2]!.pub);
	});

	it('✓ a link signed by the wrong key is refused: bad-signature', async () => {
		const { keys, root } = await chainOf(0);
		const next = await key();
		const stranger = await key();
		const forged = await signRotation(root, 1, next.pub, 1, stranger.sign, next.sign);
		expect(await refusal(() => verifyChain(root, [forged]))).toBe('bad-signature');
		// nor may anyone point a chain of their own at someone else's new key
		const unaccepted = await signRotation(root, 1, next.pub, 1, keys[0]!.sign, stranger.sign);
		expect(await refusal(() => verifyChain(root, [unaccepted]))).toBe('bad-signature');
	});

	it("✓ a gap in seq, a repeat, another user's link and a rotation back to an earlier key are refused: malformed", async () => {
		const { keys, links, root } = await chainOf(3);
		expect(await refusal(() => verifyChain(root, [links[0]!, links[2]!]))).toBe('malformed');
		expect(await refusal(() => verifyChain(root, [links[1]!]))).toBe('malformed');
		expect(await refusal(() => verifyChain(root, [links[0]!, links[0]!]))).toBe('malformed');
		const other = await chainOf(1);
		expect(await refusal(() => verifyChain(root, other.links))).toBe('malformed');
		const back = await signRotation(root, 2, root, 2, keys[1]!.sign, keys[0]!.sign);
		expect(await refusal(() => verifyChain(root, [links[0]!, back]))).toBe('malformed');
	});

	it('✓ a chain extends its own prefix, never a fork or a rollback', async () => {
		const { keys, links, root } = await chainOf(2);
		expect(extendsChain([], links)).toBe(true);
		expect(extendsChain(links.slice(0, 1), links)).toBe(true);
		expect(extendsChain(links, links)).toBe(true);
		expect(extendsChain(links, links.slice(0, 1))).toBe(false); // rollback
		expect(extendsChain(links, [])).toBe(false);
		const thief = await key();
		const fork = await signRotation(root, 1, thief.pub, 1, keys[0]!.sign, thief.sign);
		expect(extendsChain(links.slice(0, 1), [fork])).toBe(false);
	});

	it('✓ truncated or extended bytes of a record, a card or a genesis are typed errors, never a crash', async () => {
		const { keys, links, root } = await chainOf(1);
		const current = keys[1]!;
		const record = encodeChainRecord(root, links);
		const device = await issueDeviceCertificate(
			current.pub,
			current.sign,
			(await key()).pub,
			randomBytes(32),
			'phone'
		);
		const card = await issueUserCard(
			root,
			current.sign,
			randomBytes(32),
			1,
			[device],
			Date.now(),
			links
		);
		const genesis = await createGenesis(root, current.sign, device, Date.now(), links);
		const cases: [Uint8Array, (b: Uint8Array) => Promise<unknown>][] = [
			[record, verifyChainRecord],
			[card.bytes, verifyUserCard],
			[genesis.bytes, verifyGenesis]
		];
		for (const [bytes, verify] of cases) {
			expect(await refusal(() => verify(bytes))).toBe('accepted');
			for (const cut of [1, 4, 40, 100, 200, bytes.length - 65, bytes.length - 1])
				expect(['malformed', 'too-large']).toContain(
					await refusal(() => verify(bytes.subarray(0, cut)))
				);
			expect(await refusal(() => verify(new Uint8Array([...bytes, 0])))).toBe('malformed');
		}
	});
});

describe('identity rotation: what carries the chain', () => {
	it('✓ a card v2 keeps the root user id, is signed by the last key and lists only devices it certified', async () => {
		const { keys, links, root } = await chainOf(1);
		const [old, current] = [keys[0]!, keys[1]!];
		const device = await issueDeviceCertificate(
			current.pub,
			current.sign,
			(await key()).pub,
			randomBytes(32),
			'laptop'
		);
		const card = await verifyUserCard(
			(await issueUserCard(root, current.sign, randomBytes(32), 1, [device], Date.now(), links))
				.bytes
		);
		const v1 = await issueUserCard(root, old.sign, randomBytes(32), 0, []);
		// ✓ the same user before and after; the current key is the chain's last
		expect(card.user).toBe(v1.user);
		expect(card.identityKey).toEqual(current.pub);
		expect(card.rotations).toHaveLength(1);
		expect(v1.bytes[3]).toBe(1);
		expect(card.bytes[3]).toBe(2);
		expect(decodeUserCard(card.bytes).identityKey).toEqual(current.pub);
		// ✓ a card signed by the old key while claiming the chain is refused
		const signedByOld = await refusal(async () =>
			verifyUserCard(
				(await issueUserCard(root, old.sign, randomBytes(32), 1, [], Date.now(), links)).bytes
			)
		);
		expect(signedByOld).toBe('bad-signature');
		// ✓ a device only the old key certified cannot ride on the new card
		const oldDevice = await issueDeviceCertificate(
			old.pub,
			old.sign,
			(await key()).pub,
			randomBytes(32),
			'stolen'
		);
		const withOld = await refusal(async () =>
			verifyUserCard(
				(
					await issueUserCard(
						root,
						current.sign,
						randomBytes(32),
						1,
						[oldDevice],
						Date.now(),
						links
					)
				).bytes
			)
		);
		expect(withOld).toBe('bad-signature');
	});

	it('✓ a profile v2 names the root user and the key that signed it', async () => {
		const { keys, root } = await chainOf(1);
		const profile = verifyProfile(
			(await signProfile(root, keys[1]!.sign, { displayName: 'Ada' }, Date.now(), keys[1]!.pub))
				.bytes
		);
		const v1 = await signProfile(root, keys[0]!.sign, { displayName: 'Ada' });
		expect(profile.user).toBe(v1.user);
		expect(profile.signingKey).toEqual(keys[1]!.pub);
		expect(v1.signingKey).toEqual(root);
	});

	it('✓ a pointer tells a current key from one rotated away, and ignores junk', async () => {
		const { keys, links, root } = await chainOf(2);
		const record = encodeChainRecord(root, links);
		const junk = [randomBytes(80), new Uint8Array([0x43, 0x48, 0x4e, 1, 2, 3])];
		expect((await judgePointer([...junk, record], keys[2]!.pub)).kind).toBe('current');
		expect((await judgePointer([record, ...junk], keys[1]!.pub)).kind).toBe('rotated');
		expect((await judgePointer([record], root)).kind).toBe('rotated');
		expect((await judgePointer(junk, root)).kind).toBe('none');
		expect((await judgePointer([record], (await key()).pub)).kind).toBe('none');
	});
});
