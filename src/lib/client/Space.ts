/**
 * A space: its genesis, its space document (settings, members, channels, current epochs), its
 * channels, and the lockboxes through which members receive epoch keys.
 */
import * as A from '@automerge/automerge';
import { cbor } from '@automerge/automerge-repo';
import { CharterError } from '../errors.js';
import {
	channelId,
	channelIdBytes,
	ID_BYTES,
	spaceIdBytes,
	type ChannelId,
	type SpaceId,
	type UserId
} from '../identity/ids.js';
import { verifyUserCard, type UserCard } from '../identity/certificates.js';
import { createGenesis, GENESIS_MAGIC, verifyGenesis, type Genesis } from '../authority/genesis.js';
import { SpaceAuthority, type DocumentRole, type MemberInfo } from '../authority/space-authority.js';
import { SPACE_DOC_ROOT, type Durability, type SpaceDoc } from '../authority/schema.js';
import { notYet } from '../authority/verdict.js';
import { KeyRing } from '../encryption/keyring.js';
import { LOCKBOX_MAGIC, openLockbox, parseLockbox, sealLockbox, type ParsedLockbox } from '../encryption/lockbox.js';
import { entryHash, entryKey } from '../encryption/entry.js';
import { DocumentReplica } from '../sync/replica.js';
import { appendEntries } from '../sync/envelope.js';
import { base58, bytesEqual, hex, randomBytes } from '../util/bytes.js';
import { Channel } from './Channel.js';
import type { ClientContext } from './context.js';

export interface Member {
	user: UserId;
	nickname?: string;
	isOwner: boolean;
	addedAt: number;
}

interface SavedSpaceMeta {
	v: 1;
	genesis?: Uint8Array;
	waitingLockboxes: Uint8Array[];
}

export class Space {
	readonly idBytes: Uint8Array;
	#authority: SpaceAuthority | undefined;
	#replica!: DocumentReplica<SpaceDoc>;
	#keys!: KeyRing;
	#channels = new Map<ChannelId, Channel>();
	#opening = new Map<ChannelId, Promise<void>>();
	#waitingLockboxes = new Map<string, ParsedLockbox>();
	#listeners = new Set<(space: Space) => void>();
	#unsubscribeKeys: (() => void) | undefined;
	#closed = false;

	private constructor(
		readonly id: SpaceId,
		private readonly context: ClientContext
	) {
		this.idBytes = spaceIdBytes(id);
	}

	/** @internal Creates a new space owned by this client's user, with one default channel. */
	static async create(context: ClientContext, options: { name: string; channelName?: string }): Promise<Space> {
		const { identity } = context;
		const genesis = await createGenesis(identity.userKey, (m) => identity.signAsIdentity(m), identity.certificate);
		const space = new Space(genesis.space, context);
		space.#authority = new SpaceAuthority(genesis);
		await space.#start();
		space.#append([genesis.bytes]);
		const spaceEpoch = await space.#keys.createEpoch(space.idBytes);
		const card = await identity.card();
		await space.#sealTo(card, [spaceEpoch]);
		await space.#replica.change((d) => {
			d.name = options.name;
			d.createdAt = genesis.createdAt;
			d.epochs[base58.encode(space.idBytes)] = base58.encode(spaceEpoch.epoch);
			d.members[identity.userId] = { card: card.bytes, addedAt: genesis.createdAt };
		});
		await space.#authority.update(space.#replica.doc);
		await space.createChannel({ name: options.channelName ?? 'general' });
		return space;
	}

	/** @internal Opens a space known by id; content arrives as peers deliver its envelopes. */
	static async open(context: ClientContext, id: SpaceId): Promise<Space> {
		const space = new Space(id, context);
		await space.#start();
		return space;
	}

	async #start(): Promise<void> {
		const { context } = this;
		this.#keys = await KeyRing.load(context.secrets, this.idBytes);
		const meta = await this.#loadMeta();
		if (meta?.genesis && !this.#authority) {
			try {
				this.#authority = new SpaceAuthority(await verifyGenesis(meta.genesis));
			} catch {
				/* a corrupt local record: the genesis will be read again from the envelope */
			}
		}
		for (const bytes of meta?.waitingLockboxes ?? []) {
			try {
				const lockbox = parseLockbox(bytes);
				this.#waitingLockboxes.set(hex.encode(entryHash(bytes)), lockbox);
			} catch {
				/* ignore */
			}
		}
		this.#replica = await DocumentReplica.open<SpaceDoc>({
			space: this.idBytes,
			document: this.idBytes,
			wire: context.wire,
			local: context.local,
			root: SPACE_DOC_ROOT,
			keys: this.#keys,
			signer: context.signer,
			authorize: (header, changes) =>
				this.#authority ? this.#authority.authorize('space', header, changes) : notYet('no-genesis'),
			currentEpoch: () => this.currentEpoch(this.idBytes),
			onOtherEntry: (bytes) => this.#onOtherEntry(bytes)
		});
		this.#replica.subscribe(() => void this.#onSpaceDocChanged());
		this.#unsubscribeKeys = this.#keys.onChange(() => {
			void this.#replica.reevaluate();
			for (const channel of this.#channels.values()) void channel.reevaluate();
		});
		await this.#onSpaceDocChanged();
	}

	async #onSpaceDocChanged(): Promise<void> {
		if (this.#closed) return;
		if (this.#authority) await this.#authority.update(this.#replica.doc);
		await this.#openWaitingLockboxes();
		const ids = Object.keys(this.#replica.doc.channels ?? {}) as ChannelId[];
		await Promise.all(ids.map((id) => this.#openChannel(id)));
		for (const channel of this.#channels.values()) void channel.reevaluate();
		this.#emit();
	}

	#openChannel(id: ChannelId): Promise<void> {
		if (this.#channels.has(id)) return Promise.resolve();
		let opening = this.#opening.get(id);
		if (!opening) {
			opening = (async () => {
				try {
					channelIdBytes(id);
				} catch {
					return; // a malformed channel id in the document is ignored
				}
				const channel = await Channel.open(this, id, this.context, this.#keys);
				if (this.#closed) return void (await channel.close());
				this.#channels.set(id, channel);
				channel.subscribe(() => this.#emit());
			})();
			this.#opening.set(id, opening);
		}
		return opening;
	}

	/** Genesis and lockboxes travel in the space envelope beside the sealed change batches. */
	async #onOtherEntry(bytes: Uint8Array): Promise<void> {
		const magic = bytes.subarray(0, 3);
		if (bytesEqual(magic, GENESIS_MAGIC)) {
			if (this.#authority) return;
			let genesis: Genesis;
			try {
				genesis = await verifyGenesis(bytes);
			} catch {
				return;
			}
			if (genesis.space !== this.id) return;
			this.#authority = new SpaceAuthority(genesis);
			await this.#saveMeta();
			return;
		}
		if (bytesEqual(magic, LOCKBOX_MAGIC)) {
			let lockbox: ParsedLockbox;
			try {
				lockbox = parseLockbox(bytes);
			} catch {
				return;
			}
			if (!this.context.identity.encryptionKeyFor(lockbox.header.recipient)) return;
			this.#waitingLockboxes.set(hex.encode(entryHash(bytes)), lockbox);
			await this.#openWaitingLockboxes();
		}
	}

	/**
	 * A lockbox is trusted only when the authority state says its author may hand out keys: in this
	 * version, a device of the owner. Until then it waits.
	 */
	async #openWaitingLockboxes(): Promise<void> {
		let changed = false;
		for (const [id, lockbox] of this.#waitingLockboxes) {
			if (!this.#authority?.isOwnerDevice(lockbox.header.author)) continue;
			const pair = this.context.identity.encryptionKeyFor(lockbox.header.recipient);
			this.#waitingLockboxes.delete(id);
			changed = true;
			if (!pair) continue;
			try {
				const key = await openLockbox(lockbox, {
					space: this.idBytes,
					recipientSecret: pair.secret,
					recipientPublic: pair.publicKey
				});
				await this.#keys.add(lockbox.header.document, lockbox.header.epoch, key);
			} catch {
				/* counted by the replica as an unusable entry; nothing to materialise */
			}
		}
		if (changed) await this.#saveMeta();
	}

	async #loadMeta(): Promise<SavedSpaceMeta | undefined> {
		const bytes = await this.context.local?.load(['space', base58.encode(this.idBytes)]);
		if (!bytes) return undefined;
		try {
			return cbor.decode(bytes) as SavedSpaceMeta;
		} catch {
			return undefined;
		}
	}

	async #saveMeta(): Promise<void> {
		const meta: SavedSpaceMeta = {
			v: 1,
			...(this.#authority ? { genesis: this.#authority.genesis.bytes } : {}),
			waitingLockboxes: [...this.#waitingLockboxes.values()].map((l) => l.bytes)
		};
		await this.context.local?.save(['space', base58.encode(this.idBytes)], cbor.encode(meta));
	}

	#append(entries: Uint8Array[]) {
		appendEntries(
			this.#replica.envelope,
			entries.map((bytes) => ({ key: entryKey(entryHash(bytes)), bytes }))
		);
	}

	async #sealTo(card: UserCard, epochs: { document: Uint8Array; epoch: Uint8Array; key: Uint8Array }[]) {
		const { identity } = this.context;
		const lockboxes = await Promise.all(
			epochs.map((e) =>
				sealLockbox({
					space: this.idBytes,
					document: e.document,
					epoch: e.epoch,
					epochKey: e.key,
					recipient: card.encryptionKey,
					author: identity.deviceKey,
					sign: (m) => identity.signAsDevice(m)
				})
			)
		);
		this.#append(lockboxes.map((l) => l.bytes));
	}

	/** @internal */
	get authority(): SpaceAuthority | undefined {
		return this.#authority;
	}

	/** @internal The materialised space document. */
	get document(): A.Doc<SpaceDoc> {
		return this.#replica.doc;
	}

	/** @internal The epoch new changes of a document are sealed under, if this device holds its key. */
	currentEpoch(document: Uint8Array): Uint8Array | undefined {
		const name = this.#replica?.doc.epochs?.[base58.encode(document)];
		if (typeof name !== 'string') return undefined;
		let epoch: Uint8Array;
		try {
			epoch = base58.decode(name);
		} catch {
			return undefined;
		}
		return epoch.length === ID_BYTES && this.#keys.has(document, epoch) ? epoch : undefined;
	}

	/** @internal Refuses, before anything is sealed, a write the authority layer would reject. */
	assertCanWrite(role: DocumentRole): void {
		if (this.#closed) throw new CharterError('closed', 'this space is closed');
		const authority = this.#authority;
		const user = authority?.userOfDevice(this.context.identity.deviceKey);
		if (!authority || !user) throw new CharterError('not-authorized', 'this device is not a member of the space');
		if (role === 'space' && user !== authority.owner)
			throw new CharterError('not-authorized', 'only the owner may change the space settings in this version');
	}

	get name(): string {
		return this.#replica.doc.name ?? '';
	}

	get owner(): UserId | undefined {
		return this.#authority?.owner;
	}

	/** True once the genesis, the space key and the space document have arrived. */
	get ready(): boolean {
		return !!this.#authority && this.name !== '';
	}

	get members(): Member[] {
		const owner = this.#authority?.owner;
		return (this.#authority?.members ?? []).map((m: MemberInfo) => ({
			user: m.user,
			isOwner: m.user === owner,
			addedAt: m.addedAt,
			...(m.nickname ? { nickname: m.nickname } : {})
		}));
	}

	/** Channels in display order. */
	get channels(): Channel[] {
		const records = this.#replica.doc.channels ?? {};
		return [...this.#channels.values()]
			.filter((c) => records[c.id])
			.sort((a, b) => (records[a.id]!.position ?? 0) - (records[b.id]!.position ?? 0) || (a.id < b.id ? -1 : 1));
	}

	channel(id: ChannelId): Channel | undefined {
		return this.#channels.get(id);
	}

	async createChannel(options: { name: string; durability?: Durability }): Promise<Channel> {
		const name = options.name?.trim();
		if (!name || name.length > 100) throw new CharterError('invalid-argument', 'a channel name has 1 to 100 characters');
		this.assertCanWrite('space');
		const id = channelId(randomBytes(ID_BYTES));
		const document = channelIdBytes(id);
		const epoch = await this.#keys.createEpoch(document);
		const recipients = await this.#memberCards();
		for (const card of recipients) await this.#sealTo(card, [epoch]);
		await this.#replica.change((d) => {
			d.channels[id] = {
				name,
				position: Object.keys(d.channels).length,
				createdAt: Date.now(),
				durability: options.durability ?? 'replicated'
			};
			d.epochs[base58.encode(document)] = base58.encode(epoch.epoch);
		});
		await this.#onSpaceDocChanged();
		const channel = this.#channels.get(id);
		if (!channel) throw new CharterError('unknown-channel', 'the new channel did not open');
		return channel;
	}

	/**
	 * Adds a user from their card (`client.memberCard()` on their side) and seals them the keys of the
	 * space document and of every channel. Owner only in this version; invites come later.
	 */
	async addMember(cardInput: string | Uint8Array): Promise<Member> {
		this.assertCanWrite('space');
		const card = await verifyUserCard(cardInput);
		const epochs: { document: Uint8Array; epoch: Uint8Array; key: Uint8Array }[] = [];
		for (const [documentName, epochName] of Object.entries(this.#replica.doc.epochs ?? {})) {
			const document = base58.decode(documentName);
			const epoch = base58.decode(epochName);
			const key = this.#keys.get(document, epoch);
			if (key) epochs.push({ document, epoch, key });
		}
		await this.#sealTo(card, epochs);
		const addedAt = Date.now();
		await this.#replica.change((d) => {
			d.members[card.user] = { card: card.bytes, addedAt };
		});
		await this.#onSpaceDocChanged();
		return { user: card.user, isOwner: false, addedAt };
	}

	async #memberCards(): Promise<UserCard[]> {
		const cards: UserCard[] = [];
		for (const record of Object.values(this.#replica.doc.members ?? {})) {
			if (!(record?.card instanceof Uint8Array)) continue;
			try {
				cards.push(await verifyUserCard(record.card));
			} catch {
				/* skip */
			}
		}
		return cards;
	}

	/** Calls `listener` on every change to the space, its members or its channels. */
	subscribe(listener: (space: Space) => void): () => void {
		this.#listeners.add(listener);
		listener(this);
		return () => this.#listeners.delete(listener);
	}

	#emit() {
		for (const listener of this.#listeners) {
			try {
				listener(this);
			} catch {
				/* a subscriber's bug must not break replication */
			}
		}
	}

	/** Resolves once everything received so far has been processed in the space and its channels. */
	async settled(): Promise<void> {
		await this.#replica.settled();
		await Promise.all([...this.#opening.values()]);
		await Promise.all([...this.#channels.values()].map((c) => c.settled()));
	}

	get stats() {
		return { space: this.#replica.stats, channels: [...this.#channels.values()].map((c) => c.stats) };
	}

	/** @internal */
	async close(): Promise<void> {
		if (this.#closed) return;
		this.#closed = true;
		this.#unsubscribeKeys?.();
		await Promise.all([...this.#opening.values()]).catch(() => undefined);
		await Promise.all([...this.#channels.values()].map((c) => c.close()));
		await this.#replica.close();
		await this.#saveMeta();
		this.#listeners.clear();
	}
}
