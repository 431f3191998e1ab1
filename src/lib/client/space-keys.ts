/**
 * The key custody of one space on this device: the key ring of its epochs, the lockboxes that
 * arrived for this user (or for the invite being joined with) and wait until their author may hand
 * out that key, and the sealing of new lockboxes. `Space` decides what to seal (a plan's handouts,
 * authority/plans.ts) and when; this class only holds keys, opens and seals.
 */
import * as A from '@automerge/automerge';
import type { SpaceDoc } from '../authority/schema.js';
import type { SpaceState } from '../authority/state.js';
import { READS_HISTORY, type Handout } from '../authority/plans.js';
import { Permission } from '../authority/permissions.js';
import type { InviteKeys } from '../authority/invites.js';
import { KeyRing, type EpochKey } from '../encryption/keyring.js';
import {
	openLockbox,
	parseLockbox,
	sealLockbox,
	type ParsedLockbox
} from '../encryption/lockbox.js';
import { entryHash } from '../encryption/entry.js';
import type { Identity } from '../identity/identity.js';
import { channelId, type ChannelId, type UserId } from '../identity/ids.js';
import type { SecretStore } from '../identity/secret-store.js';
import { base58, bytesEqual, hex } from '../util/bytes.js';

export interface SpaceKeysOptions {
	/** The space id (bytes). */
	space: Uint8Array;
	identity: Identity;
	secrets: SecretStore;
	/** The invite this client joins with, if any: lockboxes sealed to its key are opened too. */
	invite?: InviteKeys;
	/** The space as it is now: whose lockboxes count is decided against it. */
	view(): { state: SpaceState | undefined; doc: A.Doc<SpaceDoc> | undefined };
	/** Appends sealed lockboxes to the space envelope. */
	append(entries: Uint8Array[]): Promise<void>;
	/** The set of waiting lockboxes changed (the space saves it with its local record). */
	changed(): Promise<void>;
}

export class SpaceKeys {
	#waiting = new Map<string, ParsedLockbox>();
	#drops = 0;
	#inviteSealed = false;
	#named: { heads: string; epochs: Set<string> } | undefined;
	/** Every lockbox read from the envelope or sealed here, as document, epoch and recipient. */
	#sealedTo = new Set<string>();

	private constructor(
		readonly ring: KeyRing,
		private readonly o: SpaceKeysOptions
	) {}

	static async load(options: SpaceKeysOptions): Promise<SpaceKeys> {
		return new SpaceKeys(await KeyRing.load(options.secrets, options.space), options);
	}

	/** The invite this client joins with, if any. */
	get invite(): InviteKeys | undefined {
		return this.o.invite;
	}

	/** A lockbox sealed to the invite's key has arrived: the secret opens something here. */
	get inviteSealed(): boolean {
		return this.#inviteSealed;
	}

	/** Lockboxes (and genesis records) dropped as malformed or unopenable. */
	get drops(): number {
		return this.#drops;
	}

	countDrop(): void {
		this.#drops++;
	}

	/** Lockboxes for this user whose author is not (yet) allowed to hand out that key. */
	get waiting(): number {
		return this.#waiting.size;
	}

	/** The waiting lockboxes' bytes, as the space saves them. */
	waitingBytes(): Uint8Array[] {
		return [...this.#waiting.values()].map((l) => l.bytes);
	}

	/** Restores lockboxes saved as waiting (a corrupt one is ignored). */
	restoreWaiting(saved: readonly Uint8Array[]): void {
		for (const bytes of saved) {
			try {
				this.#waiting.set(hex.encode(entryHash(bytes)), parseLockbox(bytes));
			} catch {
				/* ignore */
			}
		}
	}

	/** A lockbox read from the space envelope: kept if it is for this user or the invite, then tried. */
	async receive(bytes: Uint8Array): Promise<void> {
		let lockbox: ParsedLockbox;
		try {
			lockbox = parseLockbox(bytes);
		} catch {
			this.#drops++;
			return;
		}
		const { document, epoch, recipient } = lockbox.header;
		this.#sealedTo.add(sealedKey(document, epoch, recipient));
		if (!this.#recipientKey(lockbox.header.recipient)) return;
		if (this.#forInvite(lockbox)) this.#inviteSealed = true;
		this.#waiting.set(hex.encode(entryHash(bytes)), lockbox);
		await this.openWaiting();
	}

	#forInvite(lockbox: ParsedLockbox): boolean {
		const invite = this.o.invite;
		return !!invite && bytesEqual(invite.encryptionKey, lockbox.header.recipient);
	}

	#recipientKey(publicKey: Uint8Array): { secret: Uint8Array; publicKey: Uint8Array } | undefined {
		const own = this.o.identity.encryptionKeyFor(publicKey);
		if (own) return own;
		const invite = this.o.invite;
		if (invite && bytesEqual(invite.encryptionKey, publicKey))
			return { secret: invite.encryptionSecret, publicKey: invite.encryptionKey };
		return undefined;
	}

	/**
	 * Every epoch id a valid space entry ever named, for any document: the values ever set in the
	 * valid space document's `epochs` map. Epoch ids are hashes of their keys, so a lockbox for one
	 * of them can only deliver the genuine key.
	 */
	#namedEpochs(doc: A.Doc<SpaceDoc>): Set<string> {
		const heads = A.getHeads(doc).join(',');
		if (this.#named?.heads === heads) return this.#named.epochs;
		const epochs = new Set<string>();
		const map = A.getObjectId(doc, 'epochs');
		if (map)
			for (const change of A.getAllChanges(doc))
				for (const op of A.decodeChange(change).ops)
					if (op.obj === map && op.action === 'set' && typeof op.value === 'string')
						epochs.add(op.value);
		this.#named = { heads, epochs };
		return epochs;
	}

	/**
	 * Opens the waiting lockboxes that count now. A lockbox is used only when its author may read the
	 * document it is for, and so may this user, in the current state. Before the space document can
	 * be read at all, a lockbox for the space document's own key is used tentatively: epoch ids are
	 * hashes of their keys, so a key can only be the real one, and what it decrypts is validated from
	 * the genesis on regardless of who sent it — and so is one while this user is not a member in what
	 * this device has read so far (its admission may be sealed under an epoch it has no key for yet).
	 */
	async openWaiting(): Promise<void> {
		let changed = false;
		const { state, doc } = this.o.view();
		const { space, identity } = this.o;
		for (const [id, lockbox] of this.#waiting) {
			const forSpaceDoc = bytesEqual(lockbox.header.document, space);
			// not (yet) a member in what this device can read: the entry admitting it may be sealed
			// under a later epoch of the space document (one a rotation made before the admission),
			// whose lockbox is then used tentatively too, for the same reason as before any state
			const outside = !!state && !state.isMember(identity.userId) && !this.#forInvite(lockbox);
			if (state && !(forSpaceDoc && outside)) {
				const author = state.userOfDevice(lockbox.header.author);
				const channel = forSpaceDoc ? undefined : channelId(lockbox.header.document);
				const canRead = (user: UserId | undefined) =>
					!!user &&
					(channel ? state.can(user, Permission.VIEW_CHANNEL, channel) : state.isMember(user));
				if (!this.#forInvite(lockbox) && !canRead(identity.userId)) continue;
				// an invite sealed a channel's keys while its roles could read the channel's history; if
				// they cannot now, those keys are of the time before this newcomer: not used (the first
				// key of that channel will be of an epoch named after the join)
				if (this.#forInvite(lockbox) && channel) {
					const readsPast = this.#inviteReadsPast(state, doc, channel);
					if (readsPast === undefined) continue; // its record has not arrived: wait for it
					if (!readsPast) {
						this.#waiting.delete(id);
						changed = true;
						continue;
					}
				}
				// an author who may not read the document now may have handed out the key while they
				// could (a rotation by an admin banned since): its key is used if a valid entry named
				// that epoch, so which keys a device holds depends on the entries, not on their order
				if (
					!canRead(author) &&
					!(doc && this.#namedEpochs(doc).has(base58.encode(lockbox.header.epoch)))
				)
					continue;
			} else if (!forSpaceDoc) continue;
			const pair = this.#recipientKey(lockbox.header.recipient);
			this.#waiting.delete(id);
			changed = true;
			if (!pair) continue;
			try {
				const key = await openLockbox(lockbox, {
					space,
					recipientSecret: pair.secret,
					recipientPublic: pair.publicKey
				});
				await this.ring.add(lockbox.header.document, lockbox.header.epoch, key);
			} catch {
				this.#drops++;
			}
		}
		if (changed) await this.o.changed();
	}

	/** Whether the roles of the invite being joined with may read `channel`'s history now. */
	#inviteReadsPast(
		state: SpaceState,
		doc: A.Doc<SpaceDoc> | undefined,
		channel: ChannelId
	): boolean | undefined {
		const record = this.o.invite && doc?.invites?.[this.o.invite.id];
		if (!record) return undefined;
		return state.rolesCan(Object.keys(record.roles ?? {}), READS_HISTORY, channel);
	}

	/** Whether a lockbox of `epoch` of `document` sealed to `recipient` is in the envelope. */
	isSealedTo(document: Uint8Array, epoch: Uint8Array, recipient: Uint8Array): boolean {
		return this.#sealedTo.has(sealedKey(document, epoch, recipient));
	}

	/** Seals every one of `epochs` to every recipient and appends the lockboxes to the envelope. */
	async seal(
		recipients: readonly { encryptionKey: Uint8Array }[],
		epochs: EpochKey[]
	): Promise<void> {
		await this.sealEach(
			recipients.flatMap((r) => epochs.map((epoch) => ({ recipient: r.encryptionKey, epoch })))
		);
	}

	/** Seals each epoch to its recipient and appends the lockboxes to the envelope. */
	async sealEach(pairs: readonly { recipient: Uint8Array; epoch: EpochKey }[]): Promise<void> {
		const { identity, space } = this.o;
		const lockboxes = await Promise.all(
			pairs
				.filter((p) => p.recipient.length === 32)
				.map(({ recipient, epoch: e }) =>
					sealLockbox({
						space,
						document: e.document,
						epoch: e.epoch,
						epochKey: e.key,
						recipient,
						author: identity.deviceKey,
						sign: (m) => identity.signAsDevice(m)
					})
				)
		);
		await this.o.append(lockboxes.map((l) => l.bytes));
		for (const { header } of lockboxes)
			this.#sealedTo.add(sealedKey(header.document, header.epoch, header.recipient));
	}

	/**
	 * Seals a plan's handout: `new` — the epochs just made (`fresh`) of its documents; `held` —
	 * every epoch of them this device holds, the new ones included.
	 */
	async handOut(handout: Handout, fresh: readonly EpochKey[]): Promise<void> {
		const epochs =
			handout.epochs === 'new'
				? fresh.filter((e) => handout.documents.some((d) => bytesEqual(d, e.document)))
				: handout.documents.flatMap((d) => this.ring.allFor(d));
		await this.seal(handout.recipients, epochs);
	}
}

function sealedKey(document: Uint8Array, epoch: Uint8Array, recipient: Uint8Array): string {
	return `${hex.encode(document)} ${hex.encode(epoch)} ${hex.encode(recipient)}`;
}
