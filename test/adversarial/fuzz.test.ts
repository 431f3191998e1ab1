/**
 * Fuzzing every public parser with random and mutated inputs: nothing may escape but CharterError.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as A from '@automerge/automerge';
import { Charter, CharterError } from '../../src/lib/index.js';
import { openEntry, parseEntry, sealEntry } from '../../src/lib/encryption/entry.js';
import { openLockbox, parseLockbox, sealLockbox } from '../../src/lib/encryption/lockbox.js';
import {
	openFragment,
	parseFragment,
	sealFragment,
	verifyFragmentSignature
} from '../../src/lib/encryption/fragment.js';
import { verifyDeviceCertificate, verifyUserCard } from '../../src/lib/identity/certificates.js';
import { createGenesis, verifyGenesis } from '../../src/lib/authority/genesis.js';
import { decodeChangeBatch, encodeChangeBatch } from '../../src/lib/sync/body.js';
import { Identity } from '../../src/lib/identity/identity.js';
import { MemorySecretStore } from '../../src/lib/identity/secret-store.js';
import { newKey } from '../../src/lib/crypto/primitives.js';
import { randomBytes } from '../../src/lib/util/bytes.js';
import { x25519 } from '@noble/curves/ed25519.js';

async function onlyTypedErrors(fn: () => unknown | Promise<unknown>) {
	try {
		await fn();
	} catch (error) {
		if (!(error instanceof CharterError)) throw error;
	}
}

/** Random bytes, or a valid sample with a few bytes flipped, truncated or extended. */
function mutations(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
	return fc.oneof(
		fc.uint8Array({ maxLength: 600 }),
		fc
			.tuple(
				fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })), {
					minLength: 1,
					maxLength: 4
				})
			)
			.map(([flips]) => {
				const out = Uint8Array.from(valid);
				for (const [i, x] of flips) out[i]! ^= x;
				return out;
			}),
		fc.nat(valid.length).map((n) => valid.subarray(0, n)),
		fc
			.uint8Array({ minLength: 1, maxLength: 64 })
			.map((tail) => Uint8Array.from([...valid, ...tail]))
	);
}

describe('fuzzing the parsers', async () => {
	const { identity } = await Identity.create(new MemorySecretStore(), 'fuzz');
	const card = await identity.card();
	const genesis = await createGenesis(
		identity.userKey,
		(m) => identity.signAsIdentity(m),
		identity.certificate
	);
	const space = randomBytes(16);
	const document = randomBytes(16);
	const epochKey = newKey();
	const entry = await sealEntry({
		space,
		document,
		epoch: randomBytes(16),
		epochKey,
		author: identity.deviceKey,
		session: randomBytes(8),
		seq: 1,
		prev: new Uint8Array(32),
		body: encodeChangeBatch({
			context: [],
			changes: [
				A.getLastLocalChange(
					A.change(A.init<{ a?: number }>(), (d) => {
						d.a = 1;
					})
				)!
			]
		}),
		sign: (m) => identity.signAsDevice(m)
	});
	const recipient = x25519.utils.randomSecretKey();
	const lockbox = await sealLockbox({
		space,
		document,
		epoch: randomBytes(16),
		epochKey,
		recipient: x25519.getPublicKey(recipient),
		author: identity.deviceKey,
		sign: (m) => identity.signAsDevice(m)
	});
	const fragment = await sealFragment({
		space,
		document,
		generation: 1,
		epoch: randomBytes(16),
		epochKey,
		compactor: identity.deviceKey,
		entries: [entry.bytes, entry.bytes],
		sign: (m) => identity.signAsDevice(m)
	});
	const runs = { numRuns: 200 };

	it('✓ compacted fragments', async () => {
		await fc.assert(
			fc.asyncProperty(mutations(fragment.bytes), async (bytes) => {
				await onlyTypedErrors(async () => {
					const parsed = parseFragment(bytes);
					await verifyFragmentSignature(parsed);
					await openFragment(parsed, epochKey);
				});
			}),
			runs
		);
	});

	it('✓ sealed entries', async () => {
		await fc.assert(
			fc.asyncProperty(mutations(entry.bytes), async (bytes) => {
				await onlyTypedErrors(async () =>
					openEntry(parseEntry(bytes), { space, document, epochKey: () => epochKey })
				);
			}),
			runs
		);
	});

	it('✓ lockboxes', async () => {
		await fc.assert(
			fc.asyncProperty(mutations(lockbox.bytes), async (bytes) => {
				await onlyTypedErrors(async () =>
					openLockbox(parseLockbox(bytes), {
						space,
						recipientSecret: recipient,
						recipientPublic: x25519.getPublicKey(recipient)
					})
				);
			}),
			runs
		);
	});

	it('✓ user cards (bytes and text), device certificates and genesis records', async () => {
		await fc.assert(
			fc.asyncProperty(mutations(card.bytes), async (bytes) => {
				await onlyTypedErrors(() => verifyUserCard(bytes));
			}),
			runs
		);
		await fc.assert(
			fc.asyncProperty(fc.string({ maxLength: 300 }), async (text) => {
				await onlyTypedErrors(() => verifyUserCard(text));
			}),
			runs
		);
		await fc.assert(
			fc.asyncProperty(mutations(identity.certificate.bytes), async (bytes) => {
				await onlyTypedErrors(() => verifyDeviceCertificate(bytes));
			}),
			runs
		);
		await fc.assert(
			fc.asyncProperty(mutations(genesis.bytes), async (bytes) => {
				await onlyTypedErrors(() => verifyGenesis(bytes));
			}),
			runs
		);
	});

	it('✓ change batches (the decrypted body)', async () => {
		const body = encodeChangeBatch({ context: ['ab'.repeat(32)], changes: [randomBytes(40)] });
		await fc.assert(
			fc.asyncProperty(mutations(body), async (bytes) => {
				await onlyTypedErrors(() => decodeChangeBatch(bytes));
			}),
			runs
		);
	});

	it('✓ change batches of a later history segment (body version 2) round-trip, and mutations are typed errors', async () => {
		const segment = randomBytes(16);
		const batch = { context: ['ab'.repeat(32)], changes: [randomBytes(40)], segment };
		const body = encodeChangeBatch(batch);
		expect(decodeChangeBatch(body)).toEqual(batch);
		// a batch of the first segment is written as before (version 1, no segment)
		const first = encodeChangeBatch({ context: batch.context, changes: batch.changes });
		expect(first[3]).toBe(1);
		expect(body.length).toBe(first.length + 16);
		expect(decodeChangeBatch(first).segment).toBeUndefined();
		await fc.assert(
			fc.asyncProperty(mutations(body), async (bytes) => {
				await onlyTypedErrors(() => decodeChangeBatch(bytes));
			}),
			runs
		);
	});

	it('✓ invite links, device-link codes and profiles', async () => {
		const { encodeInviteLink, parseInviteLink } =
			await import('../../src/lib/authority/invites.js');
		const { encodeLinkCode, parseLinkCode } = await import('../../src/lib/identity/device-link.js');
		const { signProfile, verifyProfile } = await import('../../src/lib/identity/profile.js');
		const invite = encodeInviteLink({
			space: genesis.space,
			secret: randomBytes(32),
			endpoints: ['ws://127.0.0.1:3030']
		});
		const link = encodeLinkCode({ secret: randomBytes(32), endpoints: ['ws://127.0.0.1:3030'] });
		const profile = await signProfile(identity.userKey, (m) => identity.signAsIdentity(m), {
			displayName: 'Fuzz',
			avatar: randomBytes(40)
		});
		const mutateText = (text: string) =>
			fc.oneof(
				fc.string({ maxLength: 200 }),
				fc
					.tuple(fc.nat(text.length - 1), fc.constantFrom('A', '-', '_', '0', '%', ' '))
					.map(([i, c]) => text.slice(0, i) + c + text.slice(i + 1)),
				fc.nat(text.length).map((n) => text.slice(0, n))
			);
		await fc.assert(
			fc.asyncProperty(mutateText(invite), async (text) =>
				onlyTypedErrors(() => parseInviteLink(text))
			),
			runs
		);
		await fc.assert(
			fc.asyncProperty(mutateText(link), async (text) =>
				onlyTypedErrors(() => parseLinkCode(text))
			),
			runs
		);
		await fc.assert(
			fc.asyncProperty(mutations(profile.bytes), async (bytes) =>
				onlyTypedErrors(() => verifyProfile(bytes))
			),
			runs
		);
	});

	it('✓ the client API: phrases, space ids and member cards', async () => {
		const client = await Charter.open({ inMemory: true });
		await client.createIdentity();
		const space = await client.createSpace({ name: 'fuzz' });
		await fc.assert(
			fc.asyncProperty(fc.string({ maxLength: 200 }), async (text) => {
				await onlyTypedErrors(() => client.openSpace(text));
				await onlyTypedErrors(() => space.addMember(text));
				const other = await Charter.open({ inMemory: true });
				await onlyTypedErrors(() => other.restoreIdentity(text));
				await other.close();
			}),
			{ numRuns: 60 }
		);
		await expect(client.openSpace('space_nope')).rejects.toBeInstanceOf(CharterError);
		await client.close();
	});
});
