/**
 * A space: its genesis, its space document (settings, roles, members, bans, channels, current
 * epochs), its channels, and the lockboxes through which members receive epoch keys.
 *
 * Every action runs plan → authorise → seal → commit (`#carryOut`): its change is judged by the rule
 * table every peer will check it with — a refusal is a typed error and leaves no trace — and only
 * then are epoch keys made, lockboxes sealed and appended, and the change committed.
 */
import * as A from '@automerge/automerge';
import { cbor } from '@automerge/automerge-repo';
import { CharterError } from '../errors.js';
import {
	channelId,
	channelIdBytes,
	deviceId,
	ID_BYTES,
	spaceIdBytes,
	type ChannelId,
	type DeviceId,
	type SpaceId,
	type UserId
} from '../identity/ids.js';
import {
	decodeUserCard,
	verifyUserCard,
	type DeviceCertificate
} from '../identity/certificates.js';
import { createGenesis, GENESIS_MAGIC, verifyGenesis, type Genesis } from '../authority/genesis.js';
import {
	asString,
	atom,
	EVERYONE,
	SPACE_DOC_ROOT,
	type Durability,
	type SpaceDoc
} from '../authority/schema.js';
import {
	Permission,
	DEFAULT_EVERYONE_PERMISSIONS,
	type PermissionName,
	permissionNames
} from '../authority/permissions.js';
import { SpaceState, type MemberState } from '../authority/state.js';
import { currentEpochNaming } from '../authority/epochs.js';
import { VALID, type Verdict } from '../authority/verdict.js';
import { singleValue } from '../authority/single-values.js';
import * as plans from '../authority/plans.js';
import { isRoleColor } from '../authority/space-rules.js';
import { heldNicknames } from '../authority/nicknames.js';
import { actorFor } from '../authority/actors.js';
import { externalDeps } from '../authority/opened-entry.js';
import { SpaceDocumentValidator } from '../authority/document-validators.js';
import type { OwedKey, SpaceEvaluation } from '../authority/space-validator.js';
import type { EpochKey } from '../encryption/keyring.js';
import { SpaceKeys } from './space-keys.js';
import { spacePresence, type Presence } from './presence.js';
import { LOCKBOX_MAGIC } from '../encryption/lockbox.js';
import { entryHash, entryKey, type EntryHeader } from '../encryption/entry.js';
import { DocumentReplica } from '../sync/replica.js';
import { caughtUpWithStoringPeer } from '../sync/peer-status.js';
import { bytesWrittenBy } from '../sync/envelope.js';
import { base58, bytesEqual, hex, randomBytes } from '../util/bytes.js';
import { isSyncServerUrl } from '../util/url.js';
import { Channel } from './Channel.js';
import { verifyProfile, type Profile } from '../identity/profile.js';
import {
	encodeInviteLink,
	inviteKeys,
	newInviteSecret,
	signInviteProof,
	type InviteKeys
} from '../authority/invites.js';
import { SharedDocument, type SharedDocumentType } from './SharedDocument.js';
import { SpaceSearch, type SearchOptions, type SearchResults } from './search.js';
import type { ClientContext, SpaceView } from './context.js';

export interface Member {
	user: UserId;
	/** From the member's signed profile, if they set one. */
	displayName?: string;
	/**
	 * The nickname the member holds in this space. Absent while another member carries the same
	 * nickname (they picked it concurrently): none of them holds it until all but one move off it.
	 */
	nickname?: string;
	isOwner: boolean;
	addedAt: number;
	roles: string[];
	/** The colour of the member's highest role that has one (`#rrggbb`), if any: for their name. */
	color?: string;
}

export interface Role {
	id: string;
	name: string;
	position: number;
	permissions: PermissionName[];
	/** `#rrggbb`, if the role has a colour. */
	color?: string;
}

export interface Invite {
	id: string;
	roles: string[];
	maxUses: number;
	uses: number;
	expiresAt: number;
	createdBy: UserId;
	createdAt: number;
	revoked: boolean;
	/** Usable now: not revoked, not expired, not used up. */
	active: boolean;
}

/** Who set a one-value setting last (concurrent edits: the later clock wins). */
export interface SettingChange {
	value: string;
	/** The member whose device wrote it, if known. */
	by?: UserId;
	/** The writer's clock, in ms (0 when unknown). */
	at: number;
	/** Written by this device (this session or an earlier one). */
	thisDevice: boolean;
	/** Values written at the same time elsewhere that lost. */
	overruled: string[];
}

/** What a former member (left, kicked or banned) was called when they left. */
export interface FormerMember {
	user: UserId;
	displayName?: string;
	nickname?: string;
	profile?: Profile;
}

/** Who may take the space over if its owner lost every key (`setSuccessors`), and who asked for whom. */
export interface SuccessionInfo {
	/** The named successors who count now (members, not banned, not the owner). */
	successors: UserId[];
	/** How many of them together move ownership to one of them (0: none set up). */
	quorum: number;
	/** The ownership term; approvals are for one term, and a hand-over or succession ends it. */
	term: number;
	/** The approvals that count in this term. */
	approvals: { by: UserId; candidate: UserId }[];
	/**
	 * The owner took over by succession and it is not recorded yet (the new owner's and the
	 * successors' clients record it as soon as they see it; see `docs/protocol.md` "Succession").
	 */
	bySuccession: boolean;
}

export interface Ban {
	user: UserId;
	by: UserId;
	at: number;
	reason?: string;
}

interface SavedSpaceMeta {
	v: 1;
	genesis?: Uint8Array;
	waitingLockboxes: Uint8Array[];
}

export class Space implements SpaceView {
	readonly idBytes: Uint8Array;
	readonly #documentKey: string;
	#genesis: Genesis | undefined;
	#validator: SpaceDocumentValidator;
	#replica!: DocumentReplica<SpaceDoc>;
	#keys!: SpaceKeys;
	#channels = new Map<ChannelId, Channel>();
	#documents = new Map<string, Promise<SharedDocument<unknown>>>();
	#opening = new Map<ChannelId, Promise<void>>();
	#listeners = new Set<(space: Space) => void>();
	#knownReductions = new Set<string>();
	/** Space entries valid, and refused, when channels were last decided (see #onSpaceDocChanged). */
	#knownValid = new Set<string>();
	#knownRefused = new Set<string>();
	#rotating: Promise<void> | undefined;
	#handingOut: Promise<void> | undefined;
	#updating: Promise<void> = Promise.resolve();
	#unsubscribeKeys: (() => void) | undefined;
	/** Who is online here (ephemeral signals, never stored: client/presence.ts). */
	#presence: Presence | undefined;
	#closed = false;
	/** The invite this client is joining with (its X25519 key receives the pre-sealed epoch keys). */
	#invite: InviteKeys | undefined;

	private constructor(
		readonly id: SpaceId,
		private readonly context: ClientContext<Space>
	) {
		this.idBytes = spaceIdBytes(id);
		this.#documentKey = base58.encode(this.idBytes);
		this.#validator = new SpaceDocumentValidator(
			context.signer.actor,
			() => context.identity.userId,
			context.cards
		);
		context.spaces?.opened(this); // before any channel envelope is opened (durability.ts)
	}

	/** @internal Creates a new space owned by this client's user, with one default channel. */
	static async create(
		context: ClientContext<Space>,
		options: { name: string; channelName?: string }
	): Promise<Space> {
		const { identity } = context;
		const genesis = await createGenesis(
			identity.userKey,
			(m) => identity.signAsIdentity(m),
			identity.certificate,
			Date.now(),
			identity.rotations
		);
		const space = new Space(genesis.space, context);
		space.#setGenesis(genesis);
		await space.#start();
		await space.#append([genesis.bytes]);
		const card = await identity.card();
		await space.#validator.verifyCards([card.bytes]);
		const spaceEpoch = await space.#keys.ring.createEpoch(space.idBytes);
		await space.#keys.seal([{ encryptionKey: card.encryptionKey }], [spaceEpoch]);
		await space.#replica.change((d) => {
			d.name = options.name;
			d.createdAt = genesis.createdAt;
			// the root's @everyone is fixed forever (permissions.ts): today's defaults are set here
			d.roles[EVERYONE]!.permissions = DEFAULT_EVERYONE_PERMISSIONS;
			d.epochs[space.#documentKey] = atom(base58.encode(spaceEpoch.epoch));
			d.members[identity.userId] = {
				card: card.bytes,
				addedAt: genesis.createdAt,
				addedBy: atom(identity.userId),
				roles: {}
			};
		});
		await space.createChannel({ name: options.channelName ?? 'general' });
		return space;
	}

	/** @internal Opens a space known by id; content arrives as peers deliver its envelopes. */
	static async open(
		context: ClientContext<Space>,
		id: SpaceId,
		invite?: Uint8Array
	): Promise<Space> {
		const space = new Space(id, context);
		if (invite) space.#invite = inviteKeys(invite);
		await space.#start();
		return space;
	}

	#setGenesis(genesis: Genesis) {
		this.#genesis = genesis;
		this.#validator.setGenesis(genesis);
	}

	async #start(): Promise<void> {
		const { context } = this;
		this.#keys = await SpaceKeys.load({
			space: this.idBytes,
			identity: context.identity,
			secrets: context.secrets,
			...(this.#invite ? { invite: this.#invite } : {}),
			view: () => ({ state: this.evaluation?.state, doc: this.#replica?.doc }),
			append: (entries) => this.#append(entries),
			changed: () => this.#saveMeta()
		});
		const meta = await this.#loadMeta();
		if (meta?.genesis && !this.#genesis) {
			try {
				this.#setGenesis(await verifyGenesis(meta.genesis));
			} catch {
				/* a corrupt local record: the genesis is read again from the envelope */
			}
		}
		this.#keys.restoreWaiting(meta?.waitingLockboxes ?? []);
		this.#replica = await DocumentReplica.open<SpaceDoc>({
			space: this.idBytes,
			document: this.idBytes,
			wire: context.wire,
			local: context.local,
			root: SPACE_DOC_ROOT,
			keys: this.#keys.ring,
			signer: context.signer,
			validator: this.#validator,
			currentEpoch: () => this.currentEpoch(this.idBytes),
			context: () => [],
			onOtherEntry: (bytes) => this.#onOtherEntry(bytes),
			fullScanOnOpen: true
		});
		await this.#replica.reevaluate();
		this.#presence = spacePresence(
			{
				space: this.idBytes,
				document: this.idBytes,
				handle: () => this.#replica.envelope,
				currentEpoch: () => this.currentEpoch(this.idBytes),
				keys: this.#keys.ring,
				state: () => this.state,
				signer: context.signer
			},
			context.identity.userId
		);
		this.sharePresence(context.sharePresence?.() ?? true);
		this.#replica.subscribe(() => {
			this.#updating = this.#updating.then(() => this.#onSpaceDocChanged());
		});
		this.#unsubscribeKeys = this.#keys.ring.onChange(() => {
			this.#sealOwedKeys(); // a key just received may be one a member is owed
			void this.#replica.reevaluate();
			for (const channel of this.#channels.values()) void channel.reevaluate();
			void this.#presence?.beat(); // a joiner's first key: say so now, not at the next heartbeat
			this.#presence?.retryHeld(); // and a signal sealed under it may be readable now
		});
		await this.#onSpaceDocChanged();
	}

	async #onSpaceDocChanged(): Promise<void> {
		if (this.#closed) return;
		await this.#keys.openWaiting();
		const ids = Object.keys(this.#replica.doc.channels ?? {}) as ChannelId[];
		this.#presence?.retain((user) => !!this.state?.isMember(user));
		this.#presence?.retryHeld(); // a newcomer's "online" that came before its join
		await Promise.all(ids.map((id) => this.#openChannel(id)));
		// Channel entries are decided against the space: when a space entry that was valid is not any
		// more, one refused becomes valid, or the set of valid removals changes, every channel is
		// decided again from its entries — so what a channel shows is a pure function of the entry
		// sets, never of which arrived first. Entries merely added to the valid set only let waiting
		// channel entries be retried.
		const evaluation = this.evaluation;
		const reductions = new Set((evaluation?.reductions ?? []).map((r) => r.entry.id));
		const valid = new Set((evaluation?.valid ?? []).map((e) => e.id));
		const rebuild =
			reductions.size !== this.#knownReductions.size ||
			[...reductions].some((r) => !this.#knownReductions.has(r)) ||
			[...this.#knownValid].some((id) => !valid.has(id)) ||
			[...this.#knownRefused].some((id) => valid.has(id));
		this.#knownReductions = reductions;
		this.#knownValid = valid;
		this.#knownRefused = new Set(evaluation?.invalid.keys() ?? []);
		for (const channel of this.#channels.values())
			void (rebuild ? channel.rebuild() : channel.reevaluate());
		for (const opening of this.#documents.values())
			void opening.then((d) => (rebuild ? d.rebuild() : d.reevaluate()));
		this.#completePendingRotations();
		this.#sealOwedKeys();
		this.#recordSuccession();
		this.#registerThisDevice();
		this.#emit();
	}

	#registering: Promise<void> | undefined;

	/** @internal Before writing: a device new to this space puts itself on the user's card first. */
	async ensureDeviceRegistered(): Promise<void> {
		for (let i = 0; i < 3; i++) {
			const state = this.state;
			const { identity } = this.context;
			if (!state?.isMember(identity.userId) || state.userOfDevice(identity.deviceKey)) return;
			this.#registerThisDevice();
			await this.#registering;
			await this.#replica.settled();
		}
	}

	/**
	 * A member's new device (restored from the phrase, or linked) puts itself on the member's card
	 * in this space, signing with the identity key — after that its entries are accepted everywhere.
	 */
	#registerThisDevice() {
		const state = this.state;
		const { identity } = this.context;
		if (this.#registering || this.#closed || !state?.isMember(identity.userId)) return;
		if (state.userOfDevice(identity.deviceKey)) return;
		this.#registering = (async () => {
			try {
				const record = this.#replica.doc.members?.[identity.userId];
				const existing =
					record?.card instanceof Uint8Array ? decodeUserCard(record.card).devices : [];
				const card = await identity.cardWith(existing);
				await this.#validator.verifyCards([card.bytes]);
				await this.#carryOut(plans.registerDevice(this.#ctx(), card));
			} catch {
				/* retried on the next change of the space */
			} finally {
				this.#registering = undefined;
			}
		})();
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
				const channel = await Channel.open(this, id, this.context, this.#keys.ring);
				if (this.#closed) return void (await channel.close());
				this.#channels.set(id, channel);
				channel.onChange(() => this.#emit());
			})();
			this.#opening.set(id, opening);
		}
		return opening;
	}

	/** Genesis and lockboxes travel in the space envelope beside the sealed change batches. */
	async #onOtherEntry(bytes: Uint8Array): Promise<void> {
		const magic = bytes.subarray(0, 3);
		if (bytesEqual(magic, GENESIS_MAGIC)) {
			if (this.#genesis) return;
			let genesis: Genesis;
			try {
				genesis = await verifyGenesis(bytes);
			} catch {
				this.#keys.countDrop();
				return;
			}
			if (genesis.space !== this.id) return;
			this.#setGenesis(genesis);
			await this.#saveMeta();
			void this.#replica?.reevaluate();
			return;
		}
		if (bytesEqual(magic, LOCKBOX_MAGIC)) await this.#keys.receive(bytes);
	}

	async #loadMeta(): Promise<SavedSpaceMeta | undefined> {
		const bytes = await this.context.local?.load(['space', this.#documentKey]);
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
			...(this.#genesis ? { genesis: this.#genesis.bytes } : {}),
			waitingLockboxes: this.#keys?.waitingBytes() ?? []
		};
		await this.context.local?.save(['space', this.#documentKey], cbor.encode(meta));
	}

	#append(entries: Uint8Array[]): Promise<void> {
		return this.context.wire.append(
			this.#replica.envelope,
			entries.map((bytes) => ({ key: entryKey(entryHash(bytes)), bytes }))
		);
	}

	/** Completes rotations a remover left pending (e.g. went offline first), if this device can. */
	#completePendingRotations() {
		if (this.#rotating || this.#closed) return;
		const pending = this.#pendingRotations();
		const state = this.evaluation?.state;
		const me = this.context.identity.userId;
		if (!state || !pending.size || !state.isMember(me)) return;
		const documents = [...pending]
			.map((name) => base58.decode(name))
			.filter((document) => {
				const channel = plans.channelOf(state, document);
				return !channel || state.can(me, Permission.VIEW_CHANNEL, channel);
			});
		// only what the rules will take from this member: a refused naming would start a rotation for
		// nothing on every change of the space
		const trial = (d: SpaceDoc) => {
			for (const document of documents)
				d.epochs[base58.encode(document)] = atom(base58.encode(randomBytes(ID_BYTES)));
		};
		if (!documents.length || !this.#dryRun(trial).valid) return;
		this.#rotating = (async () => {
			try {
				await this.#carryOut(
					plans.rotateKeys(this.#ctx(), documents, { completesRotations: true })
				);
			} catch {
				/* another member may complete it; retried on the next change */
			} finally {
				this.#rotating = undefined;
			}
		})();
	}

	#owed: { evaluation: SpaceEvaluation; keys: OwedKey[] } | undefined;

	/**
	 * Seals the keys members are owed (`SpaceEvaluation.owedKeys`: an epoch named concurrently with
	 * their coming in) that this device holds and may hand out, unless a lockbox of it to them is in
	 * the envelope already. Several readers may do it at once: a lockbox more is harmless.
	 */
	#sealOwedKeys() {
		if (this.#handingOut || this.#closed) return;
		const evaluation = this.evaluation;
		const state = evaluation?.state;
		const me = this.context.identity.userId;
		if (!evaluation || !state?.isMember(me)) return;
		if (this.#owed?.evaluation !== evaluation)
			this.#owed = { evaluation, keys: evaluation.owedKeys() };
		const due: { recipient: Uint8Array; epoch: EpochKey }[] = [];
		for (const owed of this.#owed.keys) {
			const document = base58.decode(owed.document);
			const epoch = base58.decode(owed.epoch);
			const key = this.#keys.ring.get(document, epoch);
			const recipient = state.members.get(owed.user)?.encryptionKey;
			const channel = plans.channelOf(state, document);
			if (!key || !recipient || this.#keys.isSealedTo(document, epoch, recipient)) continue;
			if (channel && !state.can(me, Permission.VIEW_CHANNEL, channel)) continue;
			due.push({ recipient, epoch: { document, epoch, key } });
		}
		if (!due.length) return;
		this.#handingOut = (async () => {
			try {
				await this.#keys.sealEach(due);
			} catch {
				/* another reader may hand it out; tried again on the next change */
			} finally {
				this.#handingOut = undefined;
			}
		})();
	}

	#pending: { evaluation: SpaceEvaluation; documents: Set<string> } | undefined;

	/** Documents (base58) whose key a removal took from a reader with no new epoch since (cached). */
	#pendingRotations(): Set<string> {
		const evaluation = this.evaluation;
		if (!evaluation) return new Set();
		if (this.#pending?.evaluation !== evaluation)
			this.#pending = { evaluation, documents: new Set(evaluation.pendingRotations()) };
		return this.#pending.documents;
	}

	/**
	 * Before anything is sealed into `document`: a rotation a removal or a leave left pending there
	 * is completed first — by this device if the rules let it, waiting for the one under way if there
	 * is one — so nothing written after a removal is sealed under a key the removed reader holds.
	 * When this member may not complete it, the write goes ahead under the current epoch (a reader
	 * who may rotate completes it as soon as they see the removal).
	 */
	async #rotateBeforeWriting(document: Uint8Array): Promise<void> {
		const name = base58.encode(document);
		for (let i = 0; i < 3 && this.#pendingRotations().has(name); i++) {
			if (!this.#rotating) this.#completePendingRotations();
			if (!this.#rotating) return;
			await this.#rotating;
		}
	}

	// ---- state ------------------------------------------------------------------------------------

	/** @internal */
	get evaluation(): SpaceEvaluation | undefined {
		return this.#validator.evaluation;
	}

	/** @internal The authority state of the space now (valid changes only). */
	get state(): SpaceState | undefined {
		return this.evaluation?.state;
	}

	/** @internal The materialised space document. */
	get document(): A.Doc<SpaceDoc> {
		return this.#replica.doc;
	}

	/** @internal The space heads a channel entry names as its context (sealed changes only). */
	get contextHeads(): A.Heads {
		return this.#replica.sealedHeads;
	}

	/**
	 * @internal The epoch new changes of a document are sealed under, if this device holds its key:
	 * the current naming (authority/epochs.ts — of concurrent namings, the highest-ranked namer's).
	 */
	currentEpoch(document: Uint8Array): Uint8Array | undefined {
		return this.#heldEpoch(this.#replica?.doc, document);
	}

	/**
	 * The history segment a channel's writes go to (docs/protocol.md §8.3): its current epoch when
	 * that was named after a member without READ_MESSAGE_HISTORY came in, else undefined — the
	 * channel's first segment, written as always.
	 */
	currentSegment(document: Uint8Array): Uint8Array | undefined {
		const evaluation = this.evaluation;
		if (!evaluation?.freshReads.length) return undefined;
		const epoch = this.currentEpoch(document);
		return epoch && evaluation.cutBefore(base58.encode(document), base58.encode(epoch))
			? epoch
			: undefined;
	}

	/**
	 * Epoch names read from one space document under one state. Both are immutable objects, so a
	 * name read once holds until either is replaced: a send asks for its channel's epoch each time,
	 * and reading the register's values from Automerge costs more than the rest of the check.
	 */
	#epochNames = {
		doc: undefined as SpaceDoc | undefined,
		state: undefined as SpaceState | undefined,
		byDocument: new Map<string, string | undefined>()
	};

	#epochName(doc: SpaceDoc | undefined, documentKey: string): string | undefined {
		const names = this.#epochNames;
		if (names.doc !== doc || names.state !== this.state) {
			names.doc = doc;
			names.state = this.state;
			names.byDocument.clear();
		}
		if (!names.byDocument.has(documentKey))
			names.byDocument.set(documentKey, currentEpochNaming(doc, documentKey, this.state)?.epoch);
		return names.byDocument.get(documentKey);
	}

	#heldEpoch(doc: SpaceDoc | undefined, document: Uint8Array): Uint8Array | undefined {
		const name = this.#epochName(doc, base58.encode(document));
		if (name === undefined) return undefined;
		let epoch: Uint8Array;
		try {
			epoch = base58.decode(name);
		} catch {
			return undefined;
		}
		return epoch.length === ID_BYTES && this.#keys.ring.has(document, epoch) ? epoch : undefined;
	}

	/** What the rules would say of `fn` as this device's next change (nothing is kept). */
	#dryRun(fn: (d: SpaceDoc) => void): Verdict {
		const { signer } = this.context;
		const before = this.#replica.doc;
		const change = A.getLastLocalChange(A.change(A.clone(before, { actor: signer.actor }), fn));
		if (!change) return VALID;
		return this.#validator.checkLocal(
			{
				header: { author: signer.author, session: signer.session } as EntryHeader,
				decoded: [A.decodeChange(change)]
			},
			before
		);
	}

	/** What a plan starts from: the space as this member sees it now. */
	#ctx(): plans.PlanContext {
		if (this.#closed) throw new CharterError('closed', 'this space is closed');
		return {
			state: this.state,
			doc: this.#replica.doc,
			me: this.context.identity.userId,
			now: Date.now()
		};
	}

	/** A change to the space document that seals nothing of its own (see `#carryOut`). */
	#change(fn: (d: SpaceDoc) => void): Promise<void> {
		return this.#carryOut({ change: fn });
	}

	/**
	 * Every change to the space document goes through here, in one order: plan → authorise → seal →
	 * commit. The plan (authority/plans.ts) is judged by the rule table first, as it will be made —
	 * with placeholders for the epochs it names, since an epoch id is the hash of a key not made yet
	 * — and only once accepted are the new epoch keys made, the lockboxes its handouts name sealed
	 * and appended to the envelope, and the change committed. A refused action throws
	 * `not-authorized` and leaves no trace: no key, no lockbox, no entry. (A change that seals
	 * nothing goes straight to the replica, which judges it the same way as it keeps it, and keeps
	 * nothing if it is refused.)
	 *
	 * When this device holds no key for the space document's current epoch (a wrong or withheld epoch
	 * was named) and the change does not name one, the change also names a new epoch, sealed to every
	 * reader — if the rules let this member rotate; otherwise it is refused with `unknown-epoch`.
	 */
	async #carryOut(action: plans.SpacePlan): Promise<void> {
		if (this.#closed) throw new CharterError('closed', 'this space is closed');
		if (!action.completesRotations) await this.#rotateBeforeWriting(this.idBytes);
		const heads: Record<string, string> = {};
		for (const channel of this.#channels.values()) heads[channel.id] = channel.heads.join(',');
		const plan = plans.recordingRestrictions(
			this.#ctx(),
			plans.recordingSuccession(this.state, action),
			heads,
			() => `rm_${base58.encode(randomBytes(8))}`
		);
		const { signer } = this.context;
		const own = plan.rotate ?? [];
		const draft = A.change(A.clone(this.#replica.doc, { actor: signer.actor }), plan.change);
		const spaceKeyless =
			!own.some((d) => bytesEqual(d, this.idBytes)) && !this.#heldEpoch(draft, this.idBytes);
		if (!spaceKeyless && !own.length && !plan.handouts)
			return this.#replica.change(plan.change, plan.options);
		const rotate = spaceKeyless ? [...own, this.idBytes] : own;
		const naming =
			(documents: readonly Uint8Array[], epochs: string[]) =>
			(d: SpaceDoc): void => {
				plan.change(d);
				documents.forEach((document, i) => {
					d.epochs[base58.encode(document)] = atom(epochs[i]!);
				});
			};
		const placeholders = (n: number) =>
			Array.from({ length: n }, () => base58.encode(randomBytes(ID_BYTES)));
		// authorise
		const verdict = this.#dryRun(naming(rotate, placeholders(rotate.length)));
		const state = this.state;
		if (spaceKeyless && (!state || !verdict.valid)) {
			const alone = this.#dryRun(naming(own, placeholders(own.length)));
			if (!alone.valid) throw new CharterError('not-authorized', alone.reason);
			throw new CharterError(
				'unknown-epoch',
				`this device holds no key of the space's current epoch and may not name a new one${verdict.valid ? '' : `: ${verdict.reason}`}`
			);
		}
		if (!verdict.valid) throw new CharterError('not-authorized', verdict.reason);
		// seal
		const fresh: EpochKey[] = [];
		for (const document of rotate) fresh.push(await this.#keys.ring.createEpoch(document));
		const handouts = [...(plan.handouts ?? [])];
		if (spaceKeyless)
			handouts.push(
				...plans.toReaders(
					{ state, doc: this.#replica.doc, me: this.context.identity.userId, now: Date.now() },
					SpaceState.derive(state!.genesis, A.toJS(draft) as SpaceDoc),
					[this.idBytes]
				)
			);
		for (const h of handouts) await this.#keys.handOut(h, fresh);
		// commit
		await this.#replica.change(
			naming(
				rotate,
				fresh.map((e) => base58.encode(e.epoch))
			),
			plan.options
		);
	}

	#recording: Promise<void> | undefined;

	/** The new owner and the successors record a succession as soon as they see it. */
	#recordSuccession() {
		const state = this.state;
		const me = this.context.identity.userId;
		if (this.#recording || this.#closed || !state?.bySuccession) return;
		if (me !== state.owner && !state.succession.successors.includes(me)) return;
		this.#recording = this.#change(() => undefined)
			.catch(() => undefined /* retried on the next change of the space */)
			.finally(() => (this.#recording = undefined));
	}

	#ensuring = new Map<string, Promise<Uint8Array>>();

	/**
	 * @internal Before writing `document`: an epoch this device can seal under — the current one, or
	 * a new one it names and seals to every reader when it holds no key of the current one (a wrong
	 * or withheld epoch). Refused with `unknown-epoch`, leaving nothing behind, when the rules do not
	 * let this member rotate that document.
	 */
	async ensureEpoch(document: Uint8Array): Promise<Uint8Array> {
		await this.#rotateBeforeWriting(document);
		const held = this.currentEpoch(document);
		if (held) return held;
		const key = base58.encode(document);
		let ensuring = this.#ensuring.get(key);
		if (!ensuring) {
			ensuring = this.#rotateUnusable(document).finally(() => this.#ensuring.delete(key));
			this.#ensuring.set(key, ensuring);
		}
		return ensuring;
	}

	async #rotateUnusable(document: Uint8Array): Promise<Uint8Array> {
		const noKey = (why: string) =>
			new CharterError(
				'unknown-epoch',
				`this device does not hold the key of this document: ${why}`
			);
		const ctx = this.#ctx();
		const state = plans.requireMember(ctx);
		const key = base58.encode(document);
		if (!bytesEqual(document, this.idBytes)) {
			const channel = channelId(document);
			if (!state.channels.has(channel))
				throw new CharterError('unknown-channel', 'no such channel');
			if (!state.can(ctx.me, Permission.VIEW_CHANNEL, channel))
				throw noKey('it is not readable by this member');
			const placeholder = base58.encode(randomBytes(ID_BYTES));
			const verdict = this.#dryRun((d) => {
				d.epochs[key] = atom(placeholder);
			});
			if (!verdict.valid) throw noKey(`it may not be rotated by this member: ${verdict.reason}`);
			await this.#carryOut(plans.rotateKeys(ctx, [document]));
		} else await this.#change(() => undefined);
		const epoch = this.currentEpoch(document);
		if (!epoch) throw noKey('a concurrent naming replaced the one just made');
		return epoch;
	}

	/** @internal For channels: refuses early what the rules would refuse. */
	assertCanWrite(permission: number, name: string, channel: ChannelId): void {
		plans.requireMember(this.#ctx(), permission, name, channel);
	}

	get name(): string {
		return (
			singleValue(this.#replica.doc, [], 'name')?.value?.toString() ??
			this.#replica.doc.name?.toString() ??
			''
		);
	}

	/** The space's name and who set it (to say "renamed by … on another device"). */
	get nameChange(): SettingChange | undefined {
		return this.#settingChange([], 'name');
	}

	/** A channel's name and who set it (to say "renamed by … on another device"). */
	channelNameChange(id: ChannelId): SettingChange | undefined {
		return this.#settingChange(['channels', id], 'name');
	}

	/** A role's name and who set it (to say "renamed by … on another device"). */
	roleNameChange(id: string): SettingChange | undefined {
		return this.#settingChange(['roles', id], 'name');
	}

	/** @internal A one-value setting at `path`/`key`, resolved by the writer's clock, with its writer. */
	#settingChange(path: string[], key: string): SettingChange | undefined {
		const resolved = singleValue(this.#replica.doc, path, key, true);
		if (!resolved) return undefined;
		const prefix = resolved.actor.slice(0, 24);
		const { identity } = this.context;
		const by = [...(this.state?.members.values() ?? [])].find((m) =>
			m.deviceKeys.some((k) => actorFor(k, new Uint8Array(0)) === prefix)
		)?.user;
		return {
			value: String(resolved.value ?? ''),
			...(by ? { by } : {}),
			at: resolved.time > 1e11 ? resolved.time : resolved.time * 1000,
			thisDevice: actorFor(identity.deviceKey, new Uint8Array(0)) === prefix,
			overruled: resolved.overruled.map((v) => String(v ?? ''))
		};
	}

	/** The owner now: the genesis owner, or whoever they handed the space over to. */
	get owner(): UserId | undefined {
		return this.state?.owner ?? this.#genesis?.owner;
	}

	/** True once the genesis, the space key and the space document have arrived. */
	get ready(): boolean {
		return !!this.state && this.name !== '';
	}

	/** True while this user is a member (false after a kick or ban, or before the space arrived). */
	get isMember(): boolean {
		return !!this.state?.isMember(this.context.identity.userId);
	}

	get isBanned(): boolean {
		return !!this.state?.bans.has(this.context.identity.userId);
	}

	get members(): Member[] {
		const state = this.state;
		if (!state) return [];
		const nicknames = heldNicknames(state, this.#replica.doc);
		const doc = this.#replica.doc;
		// the roles that have a colour, highest first (names are not needed: no one-value lookups)
		const colored = [...state.roles]
			.map(([id, r]) => ({ id, position: r.position, color: asString(doc.roles?.[id]?.color) }))
			.filter((r) => isRoleColor(r.color))
			.sort((a, b) => b.position - a.position);
		return [...state.members.values()].map((m: MemberState) => {
			const displayName = this.profile(m.user)?.displayName;
			const nickname = nicknames.get(m.user);
			const color = colored.find((r) => m.roles.includes(r.id))?.color;
			return {
				user: m.user,
				...(displayName ? { displayName } : {}),
				isOwner: m.user === state.owner,
				addedAt: m.addedAt,
				roles: m.roles,
				...(nickname ? { nickname } : {}),
				...(color ? { color } : {})
			};
		});
	}

	#former: { key: unknown; people: Map<UserId, FormerMember> } | undefined;

	/**
	 * Members who left, were kicked or banned, as they were called just before: their signed profile
	 * and nickname from the space document at the removal's causal point. So their messages and the
	 * list of bans keep showing names, on every device, old or new — derived from the valid entries.
	 */
	formerMember(user: UserId): FormerMember | undefined {
		if (this.state?.isMember(user)) return undefined;
		return this.#formerMembers().get(user);
	}

	#formerMembers(): Map<UserId, FormerMember> {
		const evaluation = this.evaluation;
		if (!evaluation) return new Map();
		if (this.#former?.key === evaluation.reductions) return this.#former.people;
		const people = new Map<UserId, FormerMember>();
		for (const r of evaluation.reductions) {
			const leaving = [...r.users, ...r.removed.keys()];
			if (!leaving.length) continue;
			let before: SpaceDoc;
			try {
				before = A.view(evaluation.doc, externalDeps(r.entry));
			} catch {
				continue;
			}
			for (const user of leaving) {
				const record = before.members?.[user];
				if (!record) continue;
				const profile = this.#verifiedProfile(record.profile, user);
				const nickname = asString(record.nickname);
				const known = people.get(user);
				// the latest removal wins (reductions come in causal order)
				people.set(user, {
					user,
					...(profile ? { profile, displayName: profile.displayName } : {}),
					...(nickname ? { nickname } : {}),
					...(!profile && known?.profile
						? { profile: known.profile, displayName: known.profile.displayName }
						: {})
				});
			}
		}
		this.#former = { key: evaluation.reductions, people };
		return people;
	}

	/** Verified profiles by their bytes: a signature is checked once, not on every render. */
	#profiles = new Map<string, Profile | null>();

	/** A member's signed profile (display name, avatar), as they last set it in this space. */
	profile(user: UserId): Profile | undefined {
		const bytes = this.#replica.doc.members?.[user]?.profile;
		if (!(bytes instanceof Uint8Array)) return this.formerMember(user)?.profile;
		return this.#verifiedProfile(bytes, user);
	}

	#verifiedProfile(bytes: unknown, user: UserId): Profile | undefined {
		if (!(bytes instanceof Uint8Array)) return undefined;
		const key = hex.encode(bytes);
		let profile = this.#profiles.get(key);
		if (profile === undefined) {
			try {
				profile = verifyProfile(bytes);
			} catch {
				profile = null;
			}
			this.#profiles.set(key, profile);
		}
		return profile?.user === user ? profile : undefined;
	}

	/** @internal Called by `client.setProfile`. */
	async setProfile(profile: Profile): Promise<void> {
		const me = this.context.identity.userId;
		if (!this.state?.isMember(me)) return;
		await this.#change((d) => {
			const member = d.members[me];
			if (member) member.profile = profile.bytes;
		});
	}

	get roles(): Role[] {
		return [...(this.state?.roles ?? new Map())]
			.map(([id, r]) => {
				const color = asString(this.#replica.doc.roles?.[id]?.color);
				return {
					id,
					name: String(singleValue(this.#replica.doc, ['roles', id], 'name')?.value ?? r.name),
					position: r.position,
					permissions: permissionNames(r.permissions),
					// checked again on reading: a colour is bound to a style only in its one safe form
					...(isRoleColor(color) ? { color } : {})
				};
			})
			.sort((a, b) => b.position - a.position);
	}

	get bans(): Ban[] {
		return Object.entries(this.#replica.doc.bans ?? {}).map(([user, b]) => ({
			user: user as UserId,
			by: asString(b.by) as UserId,
			at: b.at,
			...(asString(b.reason) ? { reason: asString(b.reason) } : {})
		}));
	}

	/** The permissions a user (default: this user) holds, space-wide or in a channel. */
	permissions(options: { user?: UserId; channel?: ChannelId } = {}): PermissionName[] {
		const state = this.state;
		if (!state) return [];
		return permissionNames(
			state.permissions(options.user ?? this.context.identity.userId, options.channel)
		);
	}

	can(permission: PermissionName, channel?: ChannelId): boolean {
		return !!this.state?.can(this.context.identity.userId, Permission[permission], channel);
	}

	/** Channels this user can see, in display order. */
	get channels(): Channel[] {
		const records = this.#replica.doc.channels ?? {};
		const state = this.state;
		const me = this.context.identity.userId;
		return [...this.#channels.values()]
			.filter((c) => records[c.id] && (!state || state.can(me, Permission.VIEW_CHANNEL, c.id)))
			.sort(
				(a, b) =>
					(records[a.id]!.position ?? 0) - (records[b.id]!.position ?? 0) || (a.id < b.id ? -1 : 1)
			);
	}

	channel(id: ChannelId): Channel | undefined {
		return this.#channels.get(id);
	}

	get invites(): Invite[] {
		const now = Date.now();
		return Object.entries(this.#replica.doc.invites ?? {}).map(([id, r]) => {
			const uses = Object.keys(r.uses ?? {}).length;
			const revoked = r.revoked === true;
			const expired = !!r.expiresAt && r.expiresAt < now;
			return {
				id,
				roles: Object.keys(r.roles ?? {}),
				maxUses: r.maxUses ?? 0,
				uses,
				expiresAt: r.expiresAt ?? 0,
				createdBy: asString(r.createdBy) as UserId,
				createdAt: r.createdAt ?? 0,
				revoked,
				active: !revoked && !expired && (!r.maxUses || uses < r.maxUses)
			};
		});
	}

	/**
	 * Creates an invite: a link with a one-time secret that lets whoever holds it join — with every
	 * member offline, as long as a peer holding the space (one of `endpoints`) is reachable. The
	 * space's and the readable channels' keys are pre-sealed to the invite.
	 */
	async createInvite(
		options: { roles?: string[]; maxUses?: number; expiresAt?: number; endpoints?: string[] } = {}
	): Promise<{ id: string; link: string }> {
		const secret = newInviteSecret();
		const keys = inviteKeys(secret);
		const plan = plans.createInvite(this.#ctx(), { ...options, keys });
		const endpoints = options.endpoints ?? this.context.endpoints;
		for (const e of endpoints)
			if (!isSyncServerUrl(e))
				throw new CharterError('invalid-argument', `not a ws:// or wss:// server address: ${e}`);
		await this.#carryOut(plan);
		return { id: keys.id, link: encodeInviteLink({ space: this.id, secret, endpoints }) };
	}

	async revokeInvite(id: string): Promise<void> {
		await this.#carryOut(plans.revokeInvite(this.#ctx(), id));
	}

	/**
	 * @internal Joins with the invite this space was opened with, once its record has arrived.
	 * `checked`: the link's check held (links since version 2), so the invite was made and a space
	 * without it has only not received it yet — wait for it. An unchecked (version 1) link is refused
	 * as soon as a storing peer has given everything it holds and nothing in it is sealed to the secret.
	 */
	async join(timeoutMs = 30_000, checked = false): Promise<void> {
		const invite = this.#invite;
		if (!invite) throw new CharterError('invalid-invite', 'no invite to join with');
		const me = this.context.identity.userId;
		const deadline = Date.now() + timeoutMs;
		let readySince = 0;
		while (!this.#replica.doc.invites?.[invite.id]) {
			if (this.state?.isMember(me)) return;
			// Version 1 links only: a storing peer gave us all it holds of the space, we processed all
			// of it, and nothing in it is sealed to this secret — taken as a damaged link. It can also
			// be an invite the inviter's device has not shared yet, which is why links now carry a check.
			if (
				!checked &&
				this.#genesis &&
				!this.#keys.inviteSealed &&
				caughtUpWithStoringPeer(
					this.context.wire.repo,
					this.context.wire.remote,
					this.#replica.envelope
				)
			) {
				await this.settled();
				if (this.state?.isMember(me) || this.#replica.doc.invites?.[invite.id]) continue;
				if (!this.#keys.inviteSealed)
					throw new CharterError(
						'invite-unknown',
						'this invite opens nothing in its space: the link is damaged, or was never issued'
					);
			}
			// the space has arrived but not this invite (or no key for it): give late entries a moment
			// (longer once the secret is known to open something: its record is on the way)
			if (this.#genesis) readySince ||= Date.now();
			if (
				!checked &&
				readySince &&
				Date.now() - readySince > (this.#keys.inviteSealed ? 10_000 : 3000)
			)
				throw new CharterError('invite-unknown', 'this space has no such invite (a damaged link?)');
			if (Date.now() > deadline)
				throw new CharterError(
					'unavailable',
					this.#genesis
						? 'the space has arrived but this invite has not: the device that made it has not shared it with a server yet — try again once the inviter has been online'
						: 'no reachable peer holds this space'
				);
			await new Promise((r) => setTimeout(r, 100));
			await this.settled();
		}
		if (this.state?.isMember(me)) return;
		const status = this.invites.find((i) => i.id === invite.id)!;
		if (status.revoked) throw new CharterError('invite-revoked', 'this invite was revoked');
		if (status.expiresAt && status.expiresAt < Date.now())
			throw new CharterError('invite-expired', 'this invite has expired');
		if (status.maxUses && status.uses >= status.maxUses)
			throw new CharterError('invite-used-up', 'this invite has been used up');
		if (this.state?.bans.has(me))
			throw new CharterError('not-authorized', 'you are banned from this space');
		const card = await this.context.identity.card();
		await this.#validator.verifyCards([card.bytes]);
		const proof = signInviteProof(invite, this.idBytes, this.context.identity.userKey);
		const joining = plans.join(this.#ctx(), {
			invite: invite.id,
			proof,
			card,
			roles: status.roles
		});
		// the rules do not take this clock's word for the expiry alone (protocol §10): refuse with the
		// same reason peers would
		const verdict = this.#dryRun(joining.change);
		if (!verdict.valid && verdict.reason.startsWith('invite expired'))
			throw new CharterError('invite-expired', 'this invite has expired');
		await this.#carryOut(joining);
		// Keys arrived sealed to the invite; keep them sealed to this user too, so the user's other
		// devices and a restore from the phrase can read this space.
		const held = [
			this.idBytes,
			...[...(this.state?.channels.keys() ?? [])].map((c) => channelIdBytes(c))
		].flatMap((d) => this.#keys.ring.allFor(d));
		await this.#keys.seal([{ encryptionKey: this.context.identity.encryptionKey.publicKey }], held);
		await this.settled();
	}

	/**
	 * Opens (or creates) an app-declared document of this space, governed by the app's rule table.
	 * The same name must always come with the same rules and init on every peer.
	 */
	openDocument<T>(type: SharedDocumentType<T>): Promise<SharedDocument<T>> {
		if (this.#closed) return Promise.reject(new CharterError('closed', 'this space is closed'));
		if (!type?.name || typeof type.init !== 'function' || !type.rules)
			return Promise.reject(
				new CharterError('invalid-argument', 'a document type needs a name, rules and init')
			);
		let opening = this.#documents.get(type.name);
		if (!opening) {
			opening = SharedDocument.open(this, type, this.context, this.#keys.ring) as Promise<
				SharedDocument<unknown>
			>;
			this.#documents.set(type.name, opening);
		}
		return opening as Promise<SharedDocument<T>>;
	}

	// ---- actions: each a plan (authority/plans.ts) carried out by #carryOut ---------------------

	async rename(name: string): Promise<void> {
		await this.#carryOut(plans.rename(this.#ctx(), name));
	}

	async createRole(options: {
		name: string;
		permissions?: PermissionName[];
		position?: number;
		/** `#rrggbb` (see `updateRole`). */
		color?: string;
	}): Promise<Role> {
		const id = `role_${base58.encode(randomBytes(8))}`;
		const plan = plans.createRole(this.#ctx(), { ...options, id });
		await this.#carryOut(plan);
		return { ...plan.role, permissions: permissionNames(plan.role.permissions) };
	}

	/** Renames, re-permissions, moves or colours a role (`color: '#rrggbb'`, or null for none). */
	async updateRole(id: string, changes: plans.RoleChanges): Promise<void> {
		await this.#carryOut(plans.updateRole(this.#ctx(), id, changes));
	}

	async deleteRole(id: string): Promise<void> {
		await this.#carryOut(plans.deleteRole(this.#ctx(), id));
	}

	async assignRole(user: UserId, role: string): Promise<void> {
		await this.#carryOut(plans.setRole(this.#ctx(), user, role, true));
	}

	async unassignRole(user: UserId, role: string): Promise<void> {
		await this.#carryOut(plans.setRole(this.#ctx(), user, role, false));
	}

	async setNickname(nickname: string, user: UserId = this.context.identity.userId): Promise<void> {
		await this.#carryOut(plans.setNickname(this.#ctx(), nickname, user));
	}

	/**
	 * Adds a user from their card (`client.memberCard()` on their side) and seals them the keys of
	 * the space document and of every channel they may read (full history). Needs CREATE_INVITE.
	 */
	async addMember(cardInput: string | Uint8Array): Promise<Member> {
		return (await this.addMembers([cardInput]))[0]!;
	}

	/** Adds several users in one change (bulk import, bots). */
	async addMembers(cardInputs: (string | Uint8Array)[]): Promise<Member[]> {
		plans.requireMember(this.#ctx(), Permission.CREATE_INVITE, 'CREATE_INVITE');
		const cards = await Promise.all(cardInputs.map((c) => verifyUserCard(c)));
		const ctx = this.#ctx();
		const plan = plans.addMembers(ctx, cards);
		await this.#validator.verifyCards(cards.map((c) => c.bytes));
		await this.#carryOut(plan);
		return cards.map((card) => ({ user: card.user, isOwner: false, addedAt: ctx.now, roles: [] }));
	}

	/** Removes a member (they may come back through an invite). Rotates every key they could read. */
	async kick(user: UserId): Promise<void> {
		await this.#remove(user, 'kick');
	}

	/**
	 * Bans a member: they are removed, cannot be re-admitted until unbanned, their writes after this
	 * point (or back-dated before it) are refused everywhere, and every key they could read rotates.
	 * `deleteMessages` also deletes their messages where this user has MANAGE_MESSAGES.
	 */
	async ban(
		user: UserId,
		options: { reason?: string; deleteMessages?: boolean } = {}
	): Promise<void> {
		await this.#remove(user, 'ban', options.reason);
		if (options.deleteMessages)
			for (const channel of this.#channels.values())
				if (this.can('MANAGE_MESSAGES', channel.id)) await channel.deleteMessagesBy(user);
	}

	async #remove(user: UserId, kind: 'kick' | 'ban', reason?: string) {
		const plan = plans.remove(this.#ctx(), {
			user,
			kind,
			...(reason ? { reason } : {}),
			removalId: newRemovalId(),
			channelHeads: this.#channelHeads()
		});
		await this.#carryOut(plan);
	}

	/** The heads this device holds of each open channel (a removal's cut-offs). */
	#channelHeads(): Map<ChannelId, string> {
		return new Map([...this.#channels.values()].map((c) => [c.id, c.heads.join(',')]));
	}

	async unban(user: UserId): Promise<void> {
		await this.#carryOut(plans.unban(this.#ctx(), user));
	}

	/**
	 * @internal Called by `client.revokeDevice`: puts this user's new card (new encryption key,
	 * without the device) and the revocation in the space, and rotates every key the device could
	 * read — sealed to everyone still allowed, this user at the new encryption key.
	 */
	async revokeDevice(device: DeviceId): Promise<void> {
		const { identity } = this.context;
		if (!this.state?.isMember(identity.userId)) return;
		const record = this.#replica.doc.members?.[identity.userId];
		const existing = record?.card instanceof Uint8Array ? decodeUserCard(record.card).devices : [];
		const card = await identity.cardWith(existing.filter((d) => d.device !== device));
		await this.#validator.verifyCards([card.bytes]);
		const plan = plans.revokeDevice(this.#ctx(), { device, card });
		if (plan) await this.#carryOut(plan);
	}

	/**
	 * @internal Called by `client.rotateIdentity` once the identity rotated: puts this user's new card
	 * (the longer chain, this device and the `kept` devices certified again by the new key, the new
	 * encryption key) in the space, revokes every other device of theirs for good, and rotates every
	 * key they could read.
	 */
	async rotateIdentity(kept: readonly DeviceCertificate[] = []): Promise<void> {
		const { identity } = this.context;
		const state = this.state;
		if (!state?.isMember(identity.userId)) return;
		const live = state.members.get(identity.userId)?.deviceKeys ?? [];
		const onCard = new Set(live.map((key) => deviceId(key)));
		// a kept device not on the card here yet (its registration not seen) is listed all the same
		const card = await identity.cardWith(kept);
		await this.#validator.verifyCards([card.bytes]);
		const stays = new Set([identity.deviceId, ...kept.map((c) => c.device)]);
		const revoked = [...onCard].filter((device) => !stays.has(device));
		const plan = plans.rotateIdentity(this.#ctx(), { card, revoked });
		if (plan) await this.#carryOut(plan);
	}

	/**
	 * @internal After this device followed its user's rotation (`client` saw the hand-over): when the
	 * card here lists this device under a certificate other than its own (another X25519 key than its
	 * own), it puts its own there — signed by the new identity key it now holds.
	 */
	async refreshOwnCertificate(): Promise<void> {
		const { identity } = this.context;
		if (!this.state?.isMember(identity.userId)) return;
		const record = this.#replica.doc.members?.[identity.userId];
		if (!(record?.card instanceof Uint8Array)) return;
		const card = decodeUserCard(record.card);
		const listed = card.devices.find((d) => d.device === identity.deviceId);
		if (!listed || bytesEqual(listed.deviceEncryptionKey, identity.certificate.deviceEncryptionKey))
			return;
		if (!bytesEqual(card.identityKey, identity.identityKey)) return;
		const next = await identity.cardWith(card.devices);
		await this.#validator.verifyCards([next.bytes]);
		await this.#carryOut(plans.registerDevice(this.#ctx(), next));
	}

	/** @internal After this user gained an encryption key: lockboxes skipped before may open now. */
	async rescanLockboxes(): Promise<void> {
		const handle = this.#replica.envelope;
		for (const bytes of bytesWrittenBy(A.getAllChanges(handle.doc())))
			if (bytesEqual(bytes.subarray(0, 3), LOCKBOX_MAGIC)) await this.#onOtherEntry(bytes);
	}

	/**
	 * Hands the space over to another member (not banned): they become its owner, above everyone;
	 * this user stays a member with their roles, and may then leave. Only the owner may. The hand-over
	 * names the next ownership term, so successors' approvals of the term that ends no longer count,
	 * and clears this owner's successors: the new owner names their own.
	 */
	async transferOwnership(user: UserId): Promise<void> {
		await this.#carryOut(plans.transferOwnership(this.#ctx(), user));
	}

	/** The successors, quorum and approvals of this space (see `setSuccessors`). */
	get succession(): SuccessionInfo {
		const state = this.state;
		if (!state) return { successors: [], quorum: 0, term: 0, approvals: [], bySuccession: false };
		const { successors, quorum, approvals } = state.succession;
		return {
			successors: [...successors],
			quorum,
			term: state.term,
			approvals: [...approvals].map(([by, candidate]) => ({ by, candidate })),
			bySuccession: state.bySuccession
		};
	}

	/**
	 * Names the successors in advance: if the owner loses every key, `quorum` of these members, each
	 * approving the same one of them (`approveSuccession`), make that one the owner — on every peer,
	 * from the entries alone. No smaller set can, and nobody else (administrators included). Only the
	 * owner names them; `setSuccessors([], 0)` clears them. Successors who are banned or leave stop
	 * counting; approvals already given by successors still named keep counting.
	 */
	async setSuccessors(users: readonly UserId[], quorum: number): Promise<void> {
		await this.#carryOut(plans.setSuccessors(this.#ctx(), users, quorum));
	}

	/**
	 * As a named successor: approves `candidate` (a named successor, oneself included) as the next
	 * owner, for the current term. Once `quorum` successors approve the same candidate, the candidate
	 * owns the space. Approving again replaces this user's approval.
	 */
	async approveSuccession(candidate: UserId): Promise<void> {
		await this.#carryOut(plans.approveSuccession(this.#ctx(), candidate));
	}

	/** As a named successor: withdraws this user's approval, if they gave one. */
	async withdrawApproval(): Promise<void> {
		const plan = plans.withdrawApproval(this.#ctx());
		if (plan) await this.#carryOut(plan);
	}

	/** When the owner deleted this space (ms), if they did; a client forgets a deleted space. */
	get deletedAt(): number | undefined {
		return this.state?.deletedAt;
	}

	/**
	 * Deletes the space, for everyone: a signed mark only the owner may write. Every member's client
	 * that receives it forgets the space (as `client.forgetSpace` does) and lists it as deleted; sync
	 * servers may drop its envelopes (docs/self-hosting.md). It cannot be undone.
	 */
	async delete(): Promise<void> {
		const plan = plans.deleteSpace(this.#ctx());
		if (plan) await this.#carryOut(plan);
	}

	/**
	 * Leaves the space. Like a kick, it takes the leaver's read access away, so every key they could
	 * read rotates — by the members who stay, never by the leaver (who would know the new keys): the
	 * leave leaves those rotations pending, any remaining reader completes them as soon as it sees
	 * the leave, and a remaining member's next write into such a document completes it first.
	 */
	async leave(): Promise<void> {
		const plan = plans.leave(this.#ctx(), {
			removalId: newRemovalId(),
			channelHeads: this.#channelHeads()
		});
		await this.#carryOut(plan);
	}

	async createChannel(options: {
		name: string;
		private?: boolean;
		durability?: Durability;
	}): Promise<Channel> {
		const id = channelId(randomBytes(ID_BYTES));
		await this.#carryOut(plans.createChannel(this.#ctx(), { ...options, id }));
		await this.#openChannel(id);
		return this.#channels.get(id)!;
	}

	/** Renames, moves a channel, sets its durability or its topic (`topic: ''` for none). */
	async updateChannel(id: ChannelId, changes: plans.ChannelChanges): Promise<void> {
		await this.#carryOut(plans.updateChannel(this.#ctx(), id, changes));
	}

	/** @internal A compaction moved channel `id`'s history to `generation` (Channel.compact). */
	async recordChannelHistory(id: ChannelId, generation: number): Promise<void> {
		await this.#carryOut(plans.recordChannelHistory(this.#ctx(), id, generation));
	}

	async deleteChannel(id: ChannelId): Promise<void> {
		await this.#carryOut(plans.deleteChannel(this.#ctx(), id));
	}

	/**
	 * Sets a channel permission overwrite for a role (`{ role }`, `'everyone'` for @everyone) or a
	 * member (`{ user }`). Whoever loses VIEW_CHANNEL loses the channel's future: its key rotates.
	 */
	async setChannelPermissions(
		channel: ChannelId,
		target: { role: string } | { user: UserId },
		overwrite: { allow?: PermissionName[]; deny?: PermissionName[] }
	): Promise<void> {
		await this.#carryOut(plans.setChannelPermissions(this.#ctx(), channel, target, overwrite));
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

	#search: SpaceSearch | undefined;
	/**
	 * Full-text search over the messages this device can read here (client/search.ts): the index is
	 * built on the first call, in memory only, and follows every change from then on.
	 */
	search(query: string, options?: SearchOptions): SearchResults {
		this.#search ??= new SpaceSearch(this);
		return this.#search.search(query, options);
	}

	// ---- presence ---------------------------------------------------------------------------------

	/** Members seen online here in the last `ONLINE_TTL_MS` (this user too, while sharing). */
	get online(): UserId[] {
		return this.#presence?.users ?? [];
	}

	isOnline(user: UserId): boolean {
		return !!this.#presence?.isOnline(user);
	}

	/**
	 * Whether this user was online here at `at` (a message's sending time), as this device saw it:
	 * the space open and presence shared (not "appear offline"). `@here` mentions only then.
	 */
	presentAt(at: number): boolean {
		return !!this.#presence?.presentAt(at);
	}

	/** Called whenever `online` changes (a heartbeat from someone new, an "offline", an expiry). */
	onPresence(listener: (online: UserId[]) => void): () => void {
		const presence = this.#presence;
		if (!presence) return () => undefined;
		return presence.onChange(() => listener(presence.users));
	}

	/** Presence signals sent, received, accepted and dropped (by reason). */
	get presenceStats() {
		return this.#presence?.stats;
	}

	/** @internal Starts or stops telling members this user is online (Charter.setSharePresence). */
	sharePresence(on: boolean): void {
		if (!this.#closed) this.#presence?.share(on);
	}

	/** @internal Says "online" now (a peer connected: Charter). */
	announcePresence(): void {
		void this.#presence?.beat();
	}

	/** Resolves once everything received so far has been processed in the space and its channels. */
	async settled(): Promise<void> {
		for (let i = 0; i < 3; i++) {
			await this.#replica.settled();
			await this.#updating;
			await Promise.all([...this.#opening.values()]);
			await this.#rotating;
			await this.#handingOut;
			await this.#recording;
			await this.#registering;
			await Promise.all([...this.#channels.values()].map((c) => c.settled()));
			await Promise.all([...this.#documents.values()].map(async (d) => (await d).settled()));
		}
	}

	get stats() {
		return {
			space: this.#replica.stats,
			lockboxesDropped: this.#keys.drops,
			/** Lockboxes for this user whose author is not (yet) allowed to hand out that key. */
			lockboxesWaiting: this.#keys.waiting,
			channels: [...this.#channels.values()].map((c) => c.stats)
		};
	}

	/** Entries of the space document still waiting (for a key, a dependency…), with reasons. */
	get waiting() {
		return this.#replica.waiting;
	}

	/** Entries of the space document refused, with reasons (audit). */
	get rejections() {
		return this.#replica.rejections;
	}

	/** @internal */
	get envelope() {
		return this.#replica.envelope;
	}

	/** @internal */
	async close(): Promise<void> {
		if (this.#closed) return;
		this.#closed = true;
		await this.#presence?.close(); // says "offline" while the wire is still up
		this.context.spaces?.closed(this);
		this.#unsubscribeKeys?.();
		this.#search?.close();
		await this.#rotating;
		await Promise.all([...this.#opening.values()]).catch(() => undefined);
		await Promise.all([...this.#channels.values()].map((c) => c.close()));
		await Promise.all([...this.#documents.values()].map(async (d) => (await d).close()));
		await this.#replica.close();
		await this.#saveMeta();
		this.#listeners.clear();
	}
}

/** A fresh id for a removal record (kick, ban or leave). */
function newRemovalId(): string {
	return `rm_${base58.encode(randomBytes(8))}`;
}
