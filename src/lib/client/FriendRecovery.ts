/**
 * Trusted-friend recovery, the three steps (formats in identity/friend-recovery.ts):
 *
 * - `setUp` (a device of the user): split a fresh friend key k-of-n, seal each share to a friend's
 *   encryption key in a lockbox signed by the user's current identity key (after a rotation, the
 *   chain's last: a friend finds it on the user's card), put them in the user's account
 *   envelope (any friend can find it from the user id), the kit in its own envelope, and the setup
 *   (friends, k, recovery public key) in the account document for the user's other devices.
 * - `approve` (a friend's device): find the shares of that user sealed to this friend, open them, and
 *   seal them again to the one-time key of the request code.
 * - `collect` (the new device): gather what friends sealed to its one-time key until some k shares of
 *   one setup recombine into its friend key, then open the kit.
 *
 * Everything that travels is a lockbox or a sealed entry: a sync server sees ciphertext only.
 */
import * as A from '@automerge/automerge';
import type { DocHandle } from '@automerge/automerge-repo';
import type { Wire } from '../sync/wire.js';
import { CharterError } from '../errors.js';
import type { Identity } from '../identity/identity.js';
import { userKey as userKeyOf, type UserId } from '../identity/ids.js';
import {
	checkThreshold,
	combineShares,
	decodeKit,
	encodeKit,
	friendKeys,
	MAX_RECOVERY_FRIENDS,
	MIN_FRIEND_THRESHOLD,
	newFriendKey,
	parseShareDocument,
	requestRendezvousId,
	shareDocument,
	splitFriendKey,
	type RecoveryKit,
	type RecoveryRequest,
	type Share
} from '../identity/friend-recovery.js';
import {
	LOCKBOX_MAGIC,
	openLockbox,
	parseLockbox,
	sealLockbox,
	type ParsedLockbox
} from '../encryption/lockbox.js';
import { decryptEntry, entryKey, HASH_BYTES, parseEntry, sealEntry } from '../encryption/entry.js';
import { epochIdOf } from '../encryption/keyring.js';
import { hash } from '../crypto/primitives.js';
import { ID_BYTES } from '../identity/ids.js';
import { bytesWrittenBy, envelopeDocumentId, type EnvelopeDoc } from '../sync/envelope.js';
import { accountIdOf, type AccountDocument, type FriendRecoveryRecord } from '../sync/account.js';
import { caughtUpWithStoringPeer } from '../sync/peer-status.js';
import { base58, bytesEqual, hex, randomBytes } from '../util/bytes.js';

const ZERO_DOCUMENT = new Uint8Array(ID_BYTES);
/** A friend forwards the shares of at most this many setups of one user (old setups stay valid). */
const MAX_SETUPS_FORWARDED = 8;
/** Recombination attempts per new share, when junk shares make the obvious set fail. */
const MAX_COMBINATIONS = 2_000;
/** How often a waiting step looks at its envelope again (besides its heads-changed events). */
const POLL_MS = 200;

export const kitEnvelopeId = (setup: Uint8Array) => envelopeDocumentId(setup, ZERO_DOCUMENT);
export const accountEnvelopeId = (user: Uint8Array) =>
	envelopeDocumentId(accountIdOf(user), ZERO_DOCUMENT);
export const requestEnvelopeId = (ephemeral: Uint8Array) =>
	envelopeDocumentId(requestRendezvousId(ephemeral), ZERO_DOCUMENT);

/** Waits for `ready` to return a value, re-checking on every change of `handle` and every POLL_MS. */
async function watch<T>(
	handle: DocHandle<EnvelopeDoc>,
	ready: () => Promise<T | undefined>,
	deadline: number,
	signal?: AbortSignal
): Promise<T | undefined> {
	for (;;) {
		const value = await ready();
		if (value !== undefined) return value;
		if (Date.now() > deadline || signal?.aborted) return undefined;
		await new Promise<void>((resolve) => {
			const done = () => {
				clearTimeout(timer);
				handle.off('heads-changed', done);
				signal?.removeEventListener('abort', done);
				resolve();
			};
			const timer = setTimeout(done, POLL_MS);
			handle.on('heads-changed', done);
			signal?.addEventListener('abort', done);
		});
	}
}

function lockboxesIn(handle: DocHandle<EnvelopeDoc>): ParsedLockbox[] {
	const out: ParsedLockbox[] = [];
	for (const bytes of bytesWrittenBy(A.getAllChanges(handle.doc()))) {
		if (!bytesEqual(bytes.subarray(0, 3), LOCKBOX_MAGIC)) continue;
		try {
			out.push(parseLockbox(bytes));
		} catch {
			/* junk anyone may write: ignored */
		}
	}
	return out;
}

export interface SetUpInput {
	wire: Wire;
	identity: Identity;
	account: AccountDocument;
	friends: { user: UserId; encryptionKey: Uint8Array }[];
	threshold: number;
}

export async function setUp(input: SetUpInput): Promise<FriendRecoveryRecord> {
	const { identity, friends, threshold } = input;
	checkThreshold(threshold, friends.length);
	const friendKey = newFriendKey();
	const keys = await friendKeys(friendKey);
	const shares = await splitFriendKey(friendKey, friends.length, threshold);
	const kit = await sealEntry({
		space: keys.setup,
		document: ZERO_DOCUMENT,
		epoch: epochIdOf(keys.kitKey),
		epochKey: keys.kitKey,
		author: identity.deviceKey,
		session: randomBytes(8),
		seq: 1,
		prev: new Uint8Array(HASH_BYTES),
		body: encodeKit(identity.recoveryKit()),
		sign: (m) => identity.signAsDevice(m)
	});
	const kitHandle = await input.wire.open(kitEnvelopeId(keys.setup));
	await input.wire.append(kitHandle, [{ key: entryKey(kit.hash), bytes: kit.bytes }]);
	// signed by the identity key itself: a friend checks it against the user id alone
	const lockboxes = await Promise.all(
		shares.map((share, i) =>
			sealLockbox({
				space: accountIdOf(identity.userKey),
				document: shareDocument(share),
				epoch: keys.setup,
				epochKey: share.y,
				recipient: friends[i]!.encryptionKey,
				// the current identity key (the root's until a rotation): a friend holds the chain
				author: identity.identityKey,
				sign: (m) => identity.signAsIdentity(m)
			})
		)
	);
	await input.wire.append(
		input.account.envelope,
		lockboxes.map((l) => ({ key: entryKey(hash(l.bytes)), bytes: l.bytes }))
	);
	const record: FriendRecoveryRecord = {
		setup: base58.encode(keys.setup),
		recoveryPublic: keys.recoveryPublic,
		friends: friends.map((f) => f.user),
		threshold,
		at: Date.now()
	};
	await input.account.recordFriendRecovery(record);
	return record;
}

/** Resolves once a storing peer holds every envelope of a setup (false after `timeoutMs`). */
export async function stored(
	wire: Wire,
	identity: Identity,
	record: FriendRecoveryRecord,
	timeoutMs: number
): Promise<boolean> {
	const handles = [
		await wire.open(kitEnvelopeId(base58.decode(record.setup))),
		await wire.open(accountEnvelopeId(identity.userKey))
	];
	const deadline = Date.now() + timeoutMs;
	for (const handle of handles)
		if (
			!(await watch(
				handle,
				async () => caughtUpWithStoringPeer(wire.repo, wire.remote, handle) || undefined,
				deadline
			))
		)
			return false;
	return true;
}

export interface ApproveInput {
	wire: Wire;
	identity: Identity;
	request: RecoveryRequest;
	user: UserId;
	/**
	 * The user's identity keys a share may be signed by: the root and each key their rotations moved
	 * to, as their newest card the friend holds shows (default: the root alone).
	 */
	authors?: readonly Uint8Array[];
	timeoutMs: number;
}

/** Re-seals this friend's shares of `user` to the request's one-time key; returns how many. */
export async function approve(input: ApproveInput): Promise<number> {
	const { identity, request, user } = input;
	if (user === identity.userId)
		throw new CharterError('invalid-argument', 'you cannot approve your own recovery');
	const key = userKeyOf(user);
	const account = accountIdOf(key);
	const authors = input.authors?.length ? input.authors : [key];
	const handle = await input.wire.open(accountEnvelopeId(key));
	const mine = async () => {
		const found = new Map<string, { lockbox: ParsedLockbox; y: Uint8Array }>();
		for (const lockbox of lockboxesIn(handle)) {
			const { header } = lockbox;
			if (found.size >= MAX_SETUPS_FORWARDED) break;
			const own = identity.encryptionKeyFor(header.recipient);
			const setup = hex.encode(header.epoch);
			if (
				!own ||
				found.has(setup) ||
				!bytesEqual(header.space, account) ||
				!authors.some((a) => bytesEqual(header.author, a)) ||
				!parseShareDocument(header.document)
			)
				continue;
			try {
				// openLockbox checks the signature: by one of the user's identity keys (header.author)
				const y = await openLockbox(lockbox, {
					space: account,
					recipientSecret: own.secret,
					recipientPublic: own.publicKey
				});
				found.set(setup, { lockbox, y });
			} catch {
				/* damaged, or not from this user */
			}
		}
		// shares by the user's newest key, when there are any: a setup made before a rotation holds
		// a key rotated away, and would only be refused by the recovering device
		const newest = authors.at(-1)!;
		const current = [...found.values()].filter((f) => bytesEqual(f.lockbox.header.author, newest));
		if (current.length) return current;
		// only older ones (or none) so far: wait until a storing peer has given us all it holds
		if (!caughtUpWithStoringPeer(input.wire.repo, input.wire.remote, handle)) return undefined;
		return [...found.values()]; // (none: no share for us)
	};
	const shares = await watch(handle, mine, Date.now() + input.timeoutMs);
	if (!shares)
		throw new CharterError(
			'unavailable',
			"no sync server answered with this person's account in time (are you online?)"
		);
	if (!shares.length)
		throw new CharterError(
			'not-authorized',
			'you hold no recovery share of this person: they did not choose you as a recovery friend'
		);
	const rendezvous = requestRendezvousId(request.ephemeral);
	const sealed = await Promise.all(
		shares.map(({ lockbox, y }) =>
			sealLockbox({
				space: rendezvous,
				document: lockbox.header.document,
				epoch: lockbox.header.epoch,
				epochKey: y,
				recipient: request.ephemeral,
				author: identity.deviceKey,
				sign: (m) => identity.signAsDevice(m)
			})
		)
	);
	const out = await input.wire.open(requestEnvelopeId(request.ephemeral));
	await input.wire.append(
		out,
		sealed.map((l) => ({ key: entryKey(hash(l.bytes)), bytes: l.bytes }))
	);
	return shares.length;
}

export interface CollectInput {
	wire: Wire;
	ephemeralSecret: Uint8Array;
	ephemeral: Uint8Array;
	deadline: number;
	signal?: AbortSignal;
	progress(approvals: number, needed: number): void;
}

/** The kit and the friend-recovery secret, once k approvals of one setup have arrived. */
export async function collect(
	input: CollectInput
): Promise<{ kit: RecoveryKit; recoverySecret: Uint8Array }> {
	const rendezvous = requestRendezvousId(input.ephemeral);
	const handle = await input.wire.open(requestEnvelopeId(input.ephemeral));
	const seen = new Set<string>();
	/** Per setup (hex): the distinct shares received. */
	const setups = new Map<string, { setup: Uint8Array; shares: Share[] }>();
	let best = { approvals: 0, needed: MIN_FRIEND_THRESHOLD };
	const tried = new Set<string>();
	const friendKey = await watch(
		handle,
		async () => {
			let fresh = false;
			for (const lockbox of lockboxesIn(handle)) {
				const id = hex.encode(hash(lockbox.bytes).subarray(0, 16));
				if (seen.has(id)) continue;
				seen.add(id);
				const meta = parseShareDocument(lockbox.header.document);
				if (
					!meta ||
					!bytesEqual(lockbox.header.space, rendezvous) ||
					!bytesEqual(lockbox.header.recipient, input.ephemeral)
				)
					continue;
				try {
					const y = await openLockbox(lockbox, {
						space: rendezvous,
						recipientSecret: input.ephemeralSecret,
						recipientPublic: input.ephemeral
					});
					const key = hex.encode(lockbox.header.epoch);
					const entry = setups.get(key) ?? { setup: lockbox.header.epoch, shares: [] };
					setups.set(key, entry);
					if (
						entry.shares.length < 3 * MAX_RECOVERY_FRIENDS &&
						!entry.shares.some((s) => s.x === meta.x && bytesEqual(s.y, y))
					) {
						entry.shares.push({ ...meta, y });
						fresh = true;
					}
				} catch {
					/* not sealed to us, or damaged */
				}
			}
			if (!fresh) return undefined;
			for (const [key, { setup, shares }] of setups) {
				const approvals = new Set(shares.map((s) => s.x)).size;
				const needed = majorityThreshold(shares);
				// progress: the setup closest to its threshold
				if (approvals / needed > best.approvals / best.needed)
					best = { approvals: Math.min(approvals, needed), needed };
				if (approvals < needed) continue;
				const found = await recombine(shares, needed, setup, tried, key);
				if (found) return found;
			}
			input.progress(best.approvals, best.needed);
			return undefined;
		},
		input.deadline,
		input.signal
	);
	if (!friendKey)
		throw new CharterError(
			'too-few-approvals',
			`${best.approvals} of ${best.needed} approvals arrived in time: ask more of your recovery friends`
		);
	input.progress(best.needed, best.needed);
	const keys = await friendKeys(friendKey);
	const kitHandle = await input.wire.open(kitEnvelopeId(keys.setup));
	const kit = await watch(
		kitHandle,
		async () => {
			for (const bytes of bytesWrittenBy(A.getAllChanges(kitHandle.doc()))) {
				try {
					const entry = parseEntry(bytes);
					if (
						!bytesEqual(entry.header.space, keys.setup) ||
						!bytesEqual(entry.header.epoch, epochIdOf(keys.kitKey))
					)
						continue;
					// AEAD under the kit key: only a holder of the friend key could have written it
					return decodeKit(decryptEntry(entry, keys.kitKey));
				} catch {
					/* junk */
				}
			}
			return undefined;
		},
		Math.max(input.deadline, Date.now() + 30_000),
		input.signal
	);
	if (!kit)
		throw new CharterError(
			'unavailable',
			'your friends approved, but no sync server answered with your recovery kit'
		);
	return { kit, recoverySecret: keys.recoverySecret };
}

/** The threshold most shares of a setup state (a junk share may lie about it). */
function majorityThreshold(shares: readonly Share[]): number {
	const counts = new Map<number, number>();
	for (const s of shares) counts.set(s.threshold, (counts.get(s.threshold) ?? 0) + 1);
	return [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]![0];
}

/** Tries sets of `size` shares with distinct x (all distinct first), within MAX_COMBINATIONS. */
async function recombine(
	shares: readonly Share[],
	size: number,
	setup: Uint8Array,
	tried: Set<string>,
	setupKey: string
): Promise<Uint8Array | undefined> {
	let budget = MAX_COMBINATIONS;
	const pick: Share[] = [];
	const search = async (from: number): Promise<Uint8Array | undefined> => {
		if (pick.length === size) {
			const id = setupKey + pick.map((s) => `${s.x}:${hex.encode(s.y)}`).join(',');
			if (tried.has(id)) return undefined;
			tried.add(id);
			budget--;
			return combineShares(pick, setup);
		}
		for (let i = from; i < shares.length && budget > 0; i++) {
			if (pick.some((s) => s.x === shares[i]!.x)) continue;
			pick.push(shares[i]!);
			const found = await search(i + 1);
			pick.pop();
			if (found) return found;
		}
		return undefined;
	};
	return search(0);
}
