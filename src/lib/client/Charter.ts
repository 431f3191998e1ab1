/**
 * The entry point for apps: one client = one user on one device, with its stores, its wire repo and
 * its spaces.
 *
 *   const client = await Charter.open({ dataDir: './alice', syncServers: ['ws://127.0.0.1:3030'] });
 *   const { phrase } = await client.createIdentity();
 *   const space = await client.createSpace({ name: 'Book club' });
 *   await space.channels[0].send('hello');
 */
import * as A from '@automerge/automerge';
import {
	cbor,
	Repo,
	type DocumentId,
	type NetworkAdapterInterface,
	type PeerId,
	type StorageAdapterInterface
} from '@automerge/automerge-repo';
import { SyncServers, type SyncServerSource, type SyncServerStatus } from '../sync/servers.js';
import { isSyncServerUrl } from '../util/url.js';
import { CharterError } from '../errors.js';
import { deviceEncryptionPublic, Identity } from '../identity/identity.js';
import { userCardText } from '../identity/certificates.js';
import {
	channelIdBytes,
	isSpaceId,
	type ChannelId,
	type DeviceId,
	type SpaceId,
	type UserId
} from '../identity/ids.js';
import type { SecretStore } from '../identity/secret-store.js';
import { actorFor } from '../authority/actors.js';
import { SESSION_BYTES } from '../encryption/entry.js';
import {
	browserStores,
	listenForPeers,
	memoryStores,
	nodeStores,
	type PlatformStores
} from '../platform.js';
import { hex, randomBytes } from '../util/bytes.js';
import { Space } from './Space.js';
import { searchSpaces, type SearchOptions, type SearchResults } from './search.js';
import {
	approve as approveShares,
	collect as collectShares,
	setUp as setUpFriends,
	stored as friendSetupStored
} from './FriendRecovery.js';
import {
	checkThreshold,
	encodeRecoveryRequest,
	parseRecoveryRequest,
	requestCheck
} from '../identity/friend-recovery.js';
import { parseInviteLink } from '../authority/invites.js';
import { AccountDocument, accountIdOf, generationOf, MAX_DEVICE_LABEL } from '../sync/account.js';
import { NotificationSettings, ReadState } from './read-state.js';
import { openLockbox, type ParsedLockbox } from '../encryption/lockbox.js';
import { bytesEqual } from '../util/bytes.js';
import { bytesWrittenBy, DecodedValues, envelopeDocumentId } from '../sync/envelope.js';
import { ChunkLedger, Wire } from '../sync/wire.js';
import { RemoteHeads } from '../sync/remote-heads.js';
import { lookUpPointer, publishChain, rotatedAway } from '../sync/rotation-pointer.js';
import { sealFollow } from '../identity/rotation-follow.js';
import { extendsChain, type RotationLink } from '../identity/rotation.js';
import type { LinkBundle } from '../identity/device-link.js';
import { rootSecretsFromPhrase } from '../identity/phrase.js';
import {
	encodeLinkCode,
	linkRendezvousId,
	newLinkSecret,
	openLinkRequest,
	openLinkResponse,
	parseLinkCode,
	sealLinkRequest,
	sealLinkResponse
} from '../identity/device-link.js';
import { cryptoProvider, newX25519Secret } from '../crypto/primitives.js';
import {
	decodeUserCard,
	verifyDeviceCertificate,
	type DeviceCertificate
} from '../identity/certificates.js';
import { deviceId, userKey as userKeyOf } from '../identity/ids.js';
import { PEER_SETTLE_MS } from './presence.js';
import { signProfile, type Profile } from '../identity/profile.js';
import { caughtUpWithStoringPeer, PeerWatch, type PeerSyncStatus } from '../sync/peer-status.js';
import { Publisher } from '../sync/publication.js';
import { VerifyingNetworkAdapter, type RefusalCounter } from '../sync/verifying-adapter.js';
import type { ClientContext } from './context.js';
import { CardCache } from '../authority/card-cache.js';
import { PeerDirectory, type AuthenticatedPeer } from '../sync/peer-auth.js';
import { DurabilitySharing, type StrictDecision } from '../sync/durability.js';
import { asString } from '../authority/schema.js';
import { Permission } from '../authority/permissions.js';
import { MAX_NAME } from '../authority/limits.js';

void A; // Automerge's full build must load (and initialise its wasm) before automerge-repo's slim one.

export interface CharterOptions {
	/** Node: directory for secrets (0600 file), envelope storage and plaintext replicas. */
	dataDir?: string;
	/** Browser: IndexedDB database name prefix (default "charter"). Ignored when dataDir is set. */
	databaseName?: string;
	/** Keep nothing on disk (bots, tests). */
	inMemory?: boolean;
	/** WebSocket URLs of sync servers or home nodes, e.g. "ws://127.0.0.1:3030". */
	syncServers?: string[];
	/** Extra automerge-repo network adapters (BroadcastChannel, MessageChannel, a WebSocket server…). */
	network?: NetworkAdapterInterface[];
	/** Overrides for the platform's default stores. */
	stores?: Partial<PlatformStores>;
	/** Name recorded in this device's certificate. */
	deviceName?: string;
	/** A storing peer out of step this long is reported as suspect by `syncStatus()` (default 15 s). */
	suspectAfterMs?: number;
	/** Node: also accept direct WebSocket connections from peers on this port (0 = any free port). */
	listen?: { port: number; host?: string };
	/** Browser: sync with other tabs of this origin over BroadcastChannel (default true). */
	tabs?: boolean;
	/**
	 * This client is a persistent node (a home node): it tells peers it keeps what it stores, so it
	 * counts for `guaranteed` channels. Other clients announce themselves as ephemeral (default false).
	 */
	persistent?: boolean;
	/**
	 * Open only the first known space before `open` resolves, the others one after another in the
	 * background (each appears in `spaces`, with a change event, once open; `allSpacesOpen` resolves
	 * when they all are). What an app shows first then costs one space, not all of them: the web
	 * client sets it. Default false: `open` resolves with every known space open.
	 */
	openSpacesInBackground?: boolean;
	/** With `openSpacesInBackground`: the space to open first (the one the app shows), if known. */
	openFirst?: string;
	/**
	 * Read markers are coalesced: one account entry per this many ms at most, carrying the
	 * furthest marker of every channel read meanwhile (default 3 s, `READ_MARKER_DELAY_MS`).
	 */
	readMarkerDelayMs?: number;
}

export interface IdentityInfo {
	userId: UserId;
	deviceId: DeviceId;
}

const SPACES_KEY = ['client', 'spaces'];
/** Spaces their owner deleted, as this device last knew them (`client.deletedSpaces`). */
const DELETED_SPACES_KEY = ['client', 'deleted-spaces'];

/** A space its owner deleted: this device forgot it, and remembers only that it was deleted. */
export interface DeletedSpace {
	id: SpaceId;
	name: string;
	/** When the owner deleted it (ms, the owner's clock). */
	deletedAt: number;
}

export class Charter {
	#identity: Identity | undefined;
	#context: ClientContext<Space> | undefined;
	#spaces = new Map<SpaceId, Space>();
	#listeners = new Set<(client: Charter) => void>();
	#closed = false;
	readonly #session = randomBytes(SESSION_BYTES);
	readonly #peers: PeerWatch;
	#servers!: SyncServers;
	#account: AccountDocument | undefined;
	#listening: { url: string; close(): Promise<void> } | undefined;
	#refusals = new RefusalTally();
	#directory!: PeerDirectory;
	#sharing!: DurabilitySharing;
	/** Strict-channel envelopes: document id → where it belongs (per space, by its document). */
	#envelopeIndex = new Map<
		Space,
		{ doc: unknown; ids: Map<DocumentId, ChannelId>; own: DocumentId }
	>();
	#sharingKey = '';
	#sharingReview: ReturnType<typeof setTimeout> | undefined;
	#purged = new Map<DocumentId, string>();
	/** Spaces being opened (not in `#spaces` yet) — their channels open before they are tracked. */
	#openingSpaces = new Set<Space>();
	/** Card verdicts shared by the spaces of this client: an optimisation only (card-cache.ts). */
	readonly #cards = new CardCache();
	#readMarkerDelayMs: number | undefined;
	readonly #host = {
		account: () => this.#account,
		me: () => this.#identity?.userId,
		spaces: () => this.spaces,
		onSpaces: (listener: () => void) => {
			this.#listeners.add(listener);
			return () => this.#listeners.delete(listener);
		}
	};
	/** How far the user has read each channel (synced across their devices only), and what is unread. */
	readonly readState = new ReadState(this.#host);
	/** Mute and mentions-only per space and channel (synced across the user's devices), and `onNotify`. */
	readonly notificationSettings = new NotificationSettings(this.#host, this.readState);

	/** The WebSocket URL peers can dial, when opened with `listen`. */
	get listeningUrl(): string | undefined {
		return this.#listening?.url;
	}

	private constructor(
		/** @internal This client's networked side (wire.ts): its repo holds only envelopes. */
		readonly wire: Wire,
		private readonly stores: PlatformStores,
		private readonly deviceName: string,
		suspectAfterMs?: number,
		shared?: (peer: PeerId, doc: DocumentId) => boolean
	) {
		this.#peers = new PeerWatch(wire.repo, wire.remote, suspectAfterMs, undefined, shared);
	}

	static async open(options: CharterOptions = {}): Promise<Charter> {
		for (const url of options.syncServers ?? [])
			if (!isSyncServerUrl(url))
				throw new CharterError(
					'invalid-argument',
					`not a sync server address (ws:// or wss://, a host, a port from 1 to 65535): ${url}`
				);
		const defaults = options.inMemory
			? await memoryStores()
			: options.dataDir
				? await nodeStores(options.dataDir)
				: typeof indexedDB !== 'undefined'
					? await browserStores(options.databaseName ?? 'charter')
					: await memoryStores();
		const stores: PlatformStores = { ...defaults, ...options.stores };
		const refusals = new RefusalTally();
		// the share policy and peer proofs need the client, which needs the repo they configure
		const late: { client?: Charter } = {};
		const directory = new PeerDirectory(() => {
			const identity = late.client && late.client.#identity;
			return (
				identity && {
					deviceKey: identity.deviceKey,
					sign: (m: Uint8Array) => identity.signAsDevice(m)
				}
			);
		});
		const sharing = new DurabilitySharing(
			{
				strict: (doc) => (late.client ? late.client.#strictDecision(doc) : undefined),
				known: (doc) => !!late.client && late.client.#isKnownEnvelope(doc),
				held: (doc) => !!late.client && doc in late.client.wire.repo.handles
			},
			directory
		);
		// what the seal checks decode, the envelope readers need: kept once, per client
		const decoded = new DecodedValues();
		// peers' storage ids are kept out of the repo's bookkeeping (remote-heads.ts says why)
		const remote = new RemoteHeads();
		const servers = new SyncServers((adapter) =>
			remote.wrap(new VerifyingNetworkAdapter(directory.wrap(adapter), refusals, decoded))
		);
		for (const url of options.syncServers ?? []) servers.add(url, 'configured');
		const network: NetworkAdapterInterface[] = [...(options.network ?? [])];
		const listening = options.listen
			? await listenForPeers(options.listen.port, options.listen.host)
			: undefined;
		if (listening) network.push(listening.adapter);
		if (
			options.tabs !== false &&
			typeof BroadcastChannel !== 'undefined' &&
			typeof window !== 'undefined'
		) {
			const { BroadcastChannelNetworkAdapter } =
				await import('@automerge/automerge-repo-network-broadcastchannel');
			network.push(
				new BroadcastChannelNetworkAdapter({
					channelName: `${options.databaseName ?? 'charter'}-tabs`
				})
			);
		}
		// the wire store through a ledger of the chunks this process read or wrote: what close()
		// may compact (Wire.compactHeld)
		const wireStore = stores.wire && new ChunkLedger(stores.wire);
		const repo = new Repo({
			// every peer's changes are checked for seals before the repo applies them; every Charter
			// peer proves which user's device it is (strict channels are shared with readers only)
			network: [
				...servers.adapters,
				...network.map((adapter) =>
					remote.wrap(new VerifyingNetworkAdapter(directory.wrap(adapter), refusals, decoded))
				)
			],
			storage: wireStore,
			peerId: `charter-${hex.encode(randomBytes(8))}` as PeerId,
			isEphemeral: !options.persistent,
			shareConfig: sharing.shareConfig(),
			// directly connected persistent nodes report their heads anyway (durability.ts); relaying
			// remote heads through a server cost it a message per subscriber per change
			enableRemoteHeadsGossiping: false
		});
		remote.attach(repo);
		const wire = new Wire(repo, await Publisher.create(), wireStore, decoded, remote);
		const client = new Charter(
			wire,
			stores,
			options.deviceName ?? defaultDeviceName(),
			options.suspectAfterMs,
			(peer, doc) => sharing.mayShare(peer, doc, false)
		);
		client.#refusals = refusals;
		client.#directory = directory;
		client.#sharing = sharing;
		late.client = client;
		directory.onChange(() => client.#reviewSharing(true));
		repo.networkSubsystem.on('peer', () => client.#peerJoined());
		servers.attach(repo);
		client.#servers = servers;
		servers.onChange(() => client.#emit());
		client.#listening = listening;
		client.#readMarkerDelayMs = options.readMarkerDelayMs;
		client.#identity = await Identity.load(stores.secrets);
		if (client.#identity) {
			await client.#openKnownSpaces(options.openSpacesInBackground ?? false, options.openFirst);
			await client.#openAccount();
		}
		return client;
	}

	get identity(): IdentityInfo | undefined {
		const id = this.#identity;
		return id && { userId: id.userId, deviceId: id.deviceId };
	}

	/** Creates a new identity. Show `phrase` to the user once: it is the only way to recover. */
	async createIdentity(): Promise<{ phrase: string; userId: UserId }> {
		this.#assertOpen();
		const { identity, phrase } = await Identity.create(this.stores.secrets, this.deviceName);
		this.#identity = identity;
		this.#directory.identityChanged();
		await this.#openAccount();
		this.#emit();
		return { phrase, userId: identity.userId };
	}

	/**
	 * Restores an identity from its 24-word recovery phrase as a new device of that user. The phrase
	 * may be one `rotateIdentity` gave: the published rotation chain (sync/rotation-pointer.ts) names
	 * its user, whose id stays the first key's. A phrase that was replaced by a newer one is refused
	 * with `identity-rotated`. The chain is looked up on the sync servers this client dials, waiting
	 * until one of them has answered, at most `rotationLookupMs` (default 10 s); with no sync server
	 * at all (or none answering) a rotated phrase cannot be told, and restores as if never rotated.
	 */
	async restoreIdentity(
		phrase: string,
		options: { rotationLookupMs?: number } = {}
	): Promise<{ userId: UserId }> {
		this.#assertOpen();
		if (this.#identity)
			throw new CharterError('identity-exists', 'this data directory already holds an identity');
		const root = await rootSecretsFromPhrase(phrase);
		const key = await (await cryptoProvider()).ed25519PublicKey(root.identitySeed);
		const pointer = await lookUpPointer(this.wire, key, {
			timeoutMs: options.rotationLookupMs ?? 10_000,
			wait: this.#servers.list().length > 0 || this.wire.repo.peers.length > 0
		});
		if (pointer.kind === 'rotated') throw rotatedAway();
		this.#identity = await Identity.restore(
			this.stores.secrets,
			phrase,
			this.deviceName,
			pointer.kind === 'current' ? pointer.chain : undefined
		);
		this.#directory.identityChanged();
		await this.#openAccount();
		this.#emit();
		return { userId: this.#identity.userId };
	}

	/**
	 * After a restore from the phrase: whether anything is behind this identity. `found` once its
	 * account lists a space; `empty` once a sync server (or home node) has given this device all it
	 * holds of the account and it lists no space — so no devices either: a valid phrase nobody used,
	 * or a typo that happens to make one; `unreachable` when no storing peer answered within
	 * `timeoutMs` (default 15 s).
	 */
	async findAccount(
		options: { timeoutMs?: number } = {}
	): Promise<'found' | 'empty' | 'unreachable'> {
		this.#requireIdentity();
		const deadline = Date.now() + (options.timeoutMs ?? 15_000);
		for (;;) {
			const account = this.#account;
			if (!account || this.#closed) throw new CharterError('closed', 'this client is closed');
			if (account.spaces.length || this.#spaces.size) return 'found';
			if (caughtUpWithStoringPeer(this.wire.repo, this.wire.remote, account.envelope)) {
				await account.settled();
				return account.spaces.length || this.#spaces.size ? 'found' : 'empty';
			}
			if (Date.now() > deadline) return 'unreachable';
			await new Promise((r) => setTimeout(r, 100));
		}
	}

	/** The text another member pastes into `space.addMember()` to add this user. */
	async memberCard(): Promise<string> {
		return userCardText(await this.#requireIdentity().card());
	}

	get spaces(): Space[] {
		const all = [...this.#spaces.values()];
		if (this.#knownOrder.size === 0) return all;
		// in the order they were known at open (one may have opened first, out of turn), then new ones
		const rank = (s: Space) => this.#knownOrder.get(s.id) ?? Number.MAX_SAFE_INTEGER;
		return all
			.map((s, i) => [s, i] as const)
			.sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1])
			.map(([s]) => s);
	}

	/** Full-text search over every open space's readable messages (see `space.search`). */
	search(query: string, options?: SearchOptions): SearchResults {
		this.#assertOpen();
		return searchSpaces(this.spaces, query, options);
	}

	#deleted = new Map<SpaceId, DeletedSpace>();

	/**
	 * Spaces their owner deleted (`space.delete()`): this client forgot each as soon as it saw the
	 * deletion — closed it, took it off `spaces` and off the user's other devices — and lists it here
	 * so an app can say so. `dismissDeletedSpace` takes one off this list.
	 */
	get deletedSpaces(): DeletedSpace[] {
		return [...this.#deleted.values()];
	}

	async dismissDeletedSpace(id: SpaceId): Promise<void> {
		if (!this.#deleted.delete(id)) return;
		await this.#saveDeleted();
		this.#emit();
	}

	async #saveDeleted(): Promise<void> {
		await this.stores.local?.save(DELETED_SPACES_KEY, cbor.encode([...this.#deleted.values()]));
	}

	/** A space whose deletion arrived: forgotten here and on the user's other devices. */
	async #forgetDeleted(space: Space): Promise<void> {
		if (this.#spaces.get(space.id) !== space || this.#closed) return;
		this.#deleted.set(space.id, {
			id: space.id,
			name: space.name,
			deletedAt: space.deletedAt ?? 0
		});
		this.#spaces.delete(space.id);
		this.#spacesToOpen = this.#spacesToOpen.filter((known) => known !== space.id);
		await this.#account?.record(space.id, true);
		await space.close();
		await this.#saveSpaceList();
		await this.#saveDeleted();
		this.#emit();
	}

	/** Position of each space known at open, in the saved list. */
	#knownOrder = new Map<SpaceId, number>();

	space(id: SpaceId): Space | undefined {
		return this.#spaces.get(id);
	}

	async createSpace(options: { name: string; channelName?: string }): Promise<Space> {
		const name = options?.name?.trim();
		if (!name || name.length > MAX_NAME)
			throw new CharterError('invalid-argument', `a space name has 1 to ${MAX_NAME} characters`);
		const space = await Space.create(this.#requireContext(), { ...options, name });
		await this.#track(space);
		return space;
	}

	/**
	 * Opens a space this user was added to; its content arrives as peers deliver it. A space already
	 * open, or being opened (by another call, or in the background), is the same instance.
	 */
	async openSpace(id: SpaceId | string): Promise<Space> {
		if (!isSpaceId(id))
			throw new CharterError('invalid-argument', `not a space id: ${String(id).slice(0, 60)}`);
		return this.#openOnce(id, (space) => this.#track(space));
	}

	/** Spaces being opened, by id: every path that opens one (openSpace, the background, the account) shares it. */
	#opening = new Map<SpaceId, Promise<Space>>();

	/**
	 * The space `id`, opened at most once however many callers ask at the same time: the first
	 * caller's `adopt` makes it one of this client's spaces, the others get the same instance.
	 */
	#openOnce(id: SpaceId, adopt: (space: Space) => Promise<void>): Promise<Space> {
		const existing = this.#spaces.get(id);
		if (existing) return Promise.resolve(existing);
		let opening = this.#opening.get(id);
		if (!opening) {
			opening = (async () => {
				try {
					const space = await Space.open(this.#requireContext(), id);
					if (this.#closed) {
						await space.close();
						throw new CharterError('closed', 'this client is closed');
					}
					await adopt(space);
					return space;
				} finally {
					this.#opening.delete(id);
				}
			})();
			this.#opening.set(id, opening);
		}
		return opening;
	}

	/**
	 * Removes a space from this user's devices: closes it here and records in the user's account
	 * that they no longer keep it, so their other devices drop it too (and a restore does not bring it
	 * back). Nothing is deleted for anyone else: members, sync servers and home nodes keep their
	 * copies. Leave first to stop being a member; an owner hands the space over first.
	 */
	async forgetSpace(id: SpaceId): Promise<void> {
		const space = this.#spaces.get(id);
		if (!space) throw new CharterError('invalid-argument', 'no such space on this device');
		if (space.isMember && space.owner === this.#identity?.userId)
			throw new CharterError(
				'not-authorized',
				'you own this space: hand it over to another member first'
			);
		this.#spaces.delete(id);
		this.#spacesToOpen = this.#spacesToOpen.filter((known) => known !== id);
		await this.#account?.record(id, true);
		await space.close();
		await this.#saveSpaceList();
		this.#emit();
	}

	/**
	 * Joins a space with an invite link. Works with every member offline, as long as some peer that
	 * holds the space — this client's sync servers, or the endpoints the link names — is reachable.
	 * Refused with `invite-revoked`, `invite-expired`, `invite-used-up`, `invalid-invite` (not a link,
	 * or a damaged one: links carry a check) or `unavailable` (no peer holds the space, or the invite
	 * has not reached one yet) after `timeoutMs` (default 30 s).
	 */
	async joinSpace(link: string, options: { timeoutMs?: number } = {}): Promise<Space> {
		const invite = parseInviteLink(link);
		const context = this.#requireContext();
		this.#dial(invite.endpoints, 'invite');
		const existing = this.#spaces.get(invite.space);
		if (existing?.isMember) return existing;
		if (existing) {
			this.#spaces.delete(invite.space);
			await existing.close();
		}
		const space = await Space.open(context, invite.space, invite.secret);
		try {
			await space.join(options.timeoutMs, invite.checked);
		} catch (error) {
			await space.close();
			throw error;
		}
		await this.#track(space);
		return space;
	}

	/**
	 * On an existing device: a one-time code to show the new device (as text or a QR code). `linked`
	 * resolves when a device has used it (it receives this user's keys over an encrypted one-time
	 * channel), and rejects after `timeoutMs` (default 10 minutes). Anyone holding the code before the
	 * new device uses it could link instead: show it only to the new device.
	 */
	async linkDevice(
		options: { timeoutMs?: number } = {}
	): Promise<{ code: string; linked: Promise<{ deviceId: DeviceId; name: string }> }> {
		const identity = this.#requireIdentity();
		const secret = newLinkSecret();
		const code = encodeLinkCode({ secret, endpoints: this.#servers.urls });
		const handle = await this.wire.open(
			envelopeDocumentId(linkRendezvousId(secret), new Uint8Array(16))
		);
		const linked = new Promise<{ deviceId: DeviceId; name: string }>((resolve, reject) => {
			let done = false;
			const finish = () => {
				done = true;
				handle.off('heads-changed', check);
				clearTimeout(timer);
			};
			const check = async () => {
				if (done) return;
				for (const bytes of bytesWrittenBy(A.getAllChanges(handle.doc()))) {
					const request = openLinkRequest(secret, bytes);
					if (!request || done) continue;
					finish();
					const bundle = await identity.bundleFor(
						request.deviceKey,
						request.deviceEncryptionKey,
						request.name
					);
					await this.wire.append(handle, [
						{ key: 'response', bytes: await sealLinkResponse(secret, request.ephemeral, bundle) }
					]);
					// the new device puts itself on the user's card in each space; until that card has
					// synced back, this device still knows it (so it can be listed, and revoked at once)
					this.#linkedCertificates.set(
						deviceId(request.deviceKey),
						await verifyDeviceCertificate(bundle.certificate)
					);
					this.#emit();
					return resolve({ deviceId: deviceId(request.deviceKey), name: request.name });
				}
			};
			const timer = setTimeout(() => {
				if (done) return;
				finish();
				reject(new CharterError('unavailable', 'no device used the link code in time'));
			}, options.timeoutMs ?? 600_000);
			handle.on('heads-changed', check);
			void check();
		});
		linked.catch(() => undefined);
		return { code, linked };
	}

	/**
	 * On a new device with no identity yet: becomes a device of the user whose device showed `code`.
	 * Then every space of that user appears (from their account document) and this device registers
	 * itself on the user's card in each.
	 */
	async acceptDeviceLink(
		code: string,
		options: { timeoutMs?: number } = {}
	): Promise<{ userId: UserId; deviceId: DeviceId }> {
		this.#assertOpen();
		if (this.#identity)
			throw new CharterError('identity-exists', 'this client already has an identity');
		const { secret, endpoints } = parseLinkCode(code);
		this.#dial(endpoints, 'device-link');
		const handle = await this.wire.open(
			envelopeDocumentId(linkRendezvousId(secret), new Uint8Array(16))
		);
		const provider = await cryptoProvider();
		const deviceSeed = randomBytes(32);
		const ephemeralSecret = newX25519Secret();
		const ephemeral = provider.x25519PublicKey(ephemeralSecret);
		await this.wire.append(handle, [
			{
				key: 'request',
				bytes: sealLinkRequest(secret, {
					deviceKey: await provider.ed25519PublicKey(deviceSeed),
					deviceEncryptionKey: deviceEncryptionPublic(deviceSeed, provider),
					ephemeral,
					name: this.deviceName
				})
			}
		]);
		const deadline = Date.now() + (options.timeoutMs ?? 120_000);
		for (;;) {
			for (const bytes of bytesWrittenBy(A.getAllChanges(handle.doc()))) {
				const bundle = await openLinkResponse(secret, ephemeralSecret, ephemeral, bytes);
				if (!bundle) continue;
				this.#identity = await Identity.installLinked(this.stores.secrets, bundle, deviceSeed);
				this.#directory.identityChanged();
				await this.#openAccount();
				this.#emit();
				return { userId: this.#identity.userId, deviceId: this.#identity.deviceId };
			}
			if (Date.now() > deadline)
				throw new CharterError(
					'unavailable',
					'the existing device did not answer (is it online with the code still open?)'
				);
			await new Promise((r) => setTimeout(r, 100));
		}
	}

	// ---- trusted-friend recovery (FriendRecovery.ts, identity/friend-recovery.ts) ---------------

	/**
	 * Chooses `friends` (members of a space this user is in) and how many of them must approve
	 * (`threshold`, 2 ≤ k ≤ n ≤ 10) to restore this identity on a new device without the phrase. A
	 * fresh key is split k-of-n, each share sealed to one friend; fewer than k friends learn nothing,
	 * k friends together could take the identity — choose people who will not collude. A new setup
	 * replaces the one shown in `friendRecovery` (an earlier set keeps its power until the identity is
	 * rotated: see docs/threat-model.md). Resolves once a sync server holds it (`stored`), or after
	 * `timeoutMs` (default 10 s) with `stored: false` — it is kept and syncs later.
	 */
	async setUpFriendRecovery(options: {
		friends: UserId[];
		threshold: number;
		timeoutMs?: number;
	}): Promise<{ friends: UserId[]; threshold: number; stored: boolean }> {
		const identity = this.#requireIdentity();
		const friends = Array.isArray(options?.friends) ? options.friends : [];
		checkThreshold(options?.threshold, friends.length);
		if (new Set(friends).size !== friends.length)
			throw new CharterError('invalid-argument', 'a friend is listed twice');
		if (friends.includes(identity.userId))
			throw new CharterError('invalid-argument', 'you cannot be your own recovery friend');
		const keys = friends.map((user) => {
			const key = this.#encryptionKeyOf(user);
			if (!key)
				throw new CharterError(
					'invalid-argument',
					`${String(user).slice(0, 60)} is not a member of any space you are in`
				);
			return { user, encryptionKey: key };
		});
		const account = this.#account;
		if (!account) throw new CharterError('unavailable', 'the account is not open yet');
		const record = await setUpFriends({
			wire: this.wire,
			identity,
			account,
			friends: keys,
			threshold: options.threshold
		});
		this.#emit();
		const held = await friendSetupStored(this.wire, identity, record, options.timeoutMs ?? 10_000);
		return { friends: record.friends, threshold: record.threshold, stored: held };
	}

	/** This user's recovery friends and how many must approve, if set up (on any of their devices). */
	get friendRecovery(): { friends: UserId[]; threshold: number; setAt: number } | undefined {
		const record = this.#account?.friendRecovery;
		return record && { friends: record.friends, threshold: record.threshold, setAt: record.at };
	}

	/** Friend-recovery requests waiting for approvals: `close()` ends them. */
	#requests = new Set<AbortController>();

	/** A member's current encryption key, from the newest card of theirs in this client's spaces. */
	#encryptionKeyOf(user: UserId): Uint8Array | undefined {
		let best: { key: Uint8Array; generation: number } | undefined;
		for (const space of this.spaces) {
			if (!space.isMember || !space.state?.isMember(user)) continue;
			const card = space.document.members?.[user]?.card;
			if (!(card instanceof Uint8Array)) continue;
			try {
				const decoded = decodeUserCard(card);
				if (decoded.user !== user || decoded.encryptionKey.length !== 32) continue;
				if (!best || decoded.encryptionGeneration > best.generation)
					best = { key: decoded.encryptionKey, generation: decoded.encryptionGeneration };
			} catch {
				/* a malformed card is skipped */
			}
		}
		return best?.key;
	}

	/**
	 * On a new device with no identity: asks recovery friends to restore the identity here. Show
	 * `code` to each friend (read `check` to them, they see the same six digits) — they approve with
	 * `approveFriendRecovery`. `restored` resolves once enough have, with this device a new device of
	 * the identity (same user id; its spaces come back as with the phrase), and rejects with
	 * `too-few-approvals` after `timeoutMs` (default 30 minutes) or `cancel()`. Keep this client open
	 * meanwhile: the one-time key that receives the shares lives only in its memory.
	 */
	async requestFriendRecovery(
		options: { timeoutMs?: number; onProgress?: (approvals: number, needed: number) => void } = {}
	): Promise<{
		code: string;
		check: string;
		restored: Promise<{ userId: UserId; deviceId: DeviceId }>;
		cancel(): void;
	}> {
		this.#assertOpen();
		if (this.#identity)
			throw new CharterError('identity-exists', 'this client already has an identity');
		const provider = await cryptoProvider();
		const ephemeralSecret = newX25519Secret();
		const ephemeral = provider.x25519PublicKey(ephemeralSecret);
		const code = encodeRecoveryRequest({ ephemeral, endpoints: this.#servers.urls });
		const abort = new AbortController();
		this.#requests.add(abort);
		const restored = (async () => {
			const { kit, recoverySecret } = await collectShares({
				wire: this.wire,
				ephemeralSecret,
				ephemeral,
				deadline: Date.now() + (options.timeoutMs ?? 30 * 60_000),
				signal: abort.signal,
				progress: (approvals, needed) => {
					try {
						options.onProgress?.(approvals, needed);
					} catch {
						/* an app's callback cannot break recovery */
					}
				}
			});
			this.#assertOpen();
			if (this.#identity)
				throw new CharterError('identity-exists', 'this client already has an identity');
			// a kit made before its user rotated holds a key rotated away: it can no longer act
			const key = await provider.ed25519PublicKey(kit.identitySeed);
			const pointer = await lookUpPointer(this.wire, key, {
				timeoutMs: 10_000,
				wait: this.wire.repo.peers.length > 0
			});
			if (pointer.kind === 'rotated')
				throw new CharterError(
					'identity-rotated',
					'this recovery kit was made before its identity key was rotated and can no longer restore it: set up friend recovery again after a rotation'
				);
			this.#identity = await Identity.installRecovered(
				this.stores.secrets,
				kit,
				this.deviceName,
				recoverySecret
			);
			this.#directory.identityChanged();
			await this.#openAccount();
			this.#emit();
			return { userId: this.#identity.userId, deviceId: this.#identity.deviceId };
		})().finally(() => this.#requests.delete(abort));
		restored.catch(() => undefined);
		return { code, check: requestCheck(ephemeral), restored, cancel: () => abort.abort() };
	}

	/**
	 * On a friend's device: approves `user`'s recovery request `code` — only after making sure, by a
	 * call or in person, that `user` really is asking (compare `recoveryRequestCheck(code)` with the
	 * digits their new device shows). Re-seals this friend's share to the request's one-time key.
	 * Refused with `not-authorized` when `user` did not choose this user as a recovery friend,
	 * `invalid-argument` for a damaged code, `unavailable` when no sync server answered in `timeoutMs`
	 * (default 30 s).
	 */
	async approveFriendRecovery(
		code: string,
		user: UserId,
		options: { timeoutMs?: number } = {}
	): Promise<void> {
		const identity = this.#requireIdentity();
		const request = parseRecoveryRequest(code);
		if (typeof user !== 'string' || !user.startsWith('user_'))
			throw new CharterError('invalid-argument', 'name the person whose recovery you approve');
		this.#dial(request.endpoints, 'recovery-request');
		await approveShares({
			wire: this.wire,
			identity,
			request,
			user,
			authors: await this.#identityKeysOf(user),
			timeoutMs: options.timeoutMs ?? 30_000
		});
	}

	/**
	 * Every identity key of `user` (the root, and each key its rotations moved to) by the longest
	 * rotation chain known here — on a card of theirs in this client's spaces, or published at their
	 * root key's pointer (sync/rotation-pointer.ts; self-verifying) — the newest last: a share
	 * lockbox signed by any of them is theirs. A kit made before a rotation is refused by the
	 * recovering device itself.
	 */
	async #identityKeysOf(user: UserId): Promise<Uint8Array[]> {
		let root: Uint8Array;
		try {
			root = userKeyOf(user);
		} catch {
			return [];
		}
		const pointer = await lookUpPointer(this.wire, root, {
			timeoutMs: 5_000,
			wait: this.wire.repo.peers.length > 0
		});
		let links: readonly RotationLink[] =
			pointer.kind !== 'none' && bytesEqual(pointer.chain.root, root) ? pointer.chain.links : [];
		for (const space of this.spaces) {
			const card = space.document.members?.[user]?.card;
			if (!(card instanceof Uint8Array)) continue;
			try {
				const decoded = decodeUserCard(card);
				if (decoded.user === user && decoded.rotations.length > links.length)
					links = decoded.rotations;
			} catch {
				/* a malformed card is skipped */
			}
		}
		return [root, ...links.map((l) => l.next)];
	}

	/**
	 * Revokes one of this user's other devices: a new encryption key for the user (sealed to the
	 * remaining devices and to the recovery key, never to the revoked one), a new card without the
	 * device in every space, the revocation recorded for good, and every key it could read rotated.
	 * The revoked device can read nothing new, and everything it signs from now on is refused.
	 */
	/**
	 * Names one of this user's devices ("Work laptop"), for every device of theirs: the name lives in
	 * the user's private account document, never in a space. An empty name restores the certified one.
	 */
	async renameDevice(device: DeviceId, name: string): Promise<void> {
		this.#requireIdentity();
		const trimmed = name.trim();
		if (trimmed.length > MAX_DEVICE_LABEL)
			throw new CharterError(
				'invalid-argument',
				`a device name has at most ${MAX_DEVICE_LABEL} characters`
			);
		if (!this.#deviceCertificates().some((c) => c.device === device))
			throw new CharterError('invalid-argument', `no device ${device} of yours`);
		if (!this.#account) throw new CharterError('unavailable', 'the account is not open yet');
		await this.#account.nameDevice(device, trimmed);
		this.#emit();
	}

	async revokeDevice(device: DeviceId): Promise<void> {
		const identity = this.#requireIdentity();
		if (device === identity.deviceId)
			throw new CharterError(
				'invalid-argument',
				'revoke this device from another one of your devices'
			);
		const certs = this.#deviceCertificates();
		if (!certs.some((c) => c.device === device))
			throw new CharterError('invalid-argument', `no device ${device} of yours`);
		const generation = Math.max(...identity.allEncryptionKeys.map((k) => k.generation)) + 1;
		const secret = newX25519Secret();
		const recipients = certs
			.filter((c) => c.device !== device && c.device !== identity.deviceId)
			.map((c) => c.deviceEncryptionKey);
		if (identity.recoveryPublic.length === 32) recipients.push(identity.recoveryPublic);
		// recovery friends restore later generations too (their kit holds only the earlier ones)
		const friends = this.#account?.friendRecovery;
		if (friends) recipients.push(friends.recoveryPublic);
		await this.#account!.shareGeneration(generation, secret, recipients);
		await identity.addEncryptionGeneration(this.stores.secrets, generation, secret);
		for (const space of this.spaces) await space.revokeDevice(device);
		this.#linkedCertificates.delete(device);
		this.#emit();
	}

	/**
	 * Identity rotation, for a user who believes their phrase leaked: a new recovery phrase (returned:
	 * show it once) whose identity key, certified by the current one, becomes the current identity
	 * key. The user id stays, and so do every membership, role, nickname and ownership. In every space
	 * the user's card is replaced by one carrying the longer chain and a new encryption key, listing
	 * this device and the devices named in `keepDevices` (certified again by the new key); every
	 * other device of theirs is revoked there for good, and every key they could read rotates. Each
	 * kept device is handed the new identity seed and encryption key, sealed to its own device key
	 * (identity/rotation-follow.ts), and goes on as the same user as soon as it sees the rotation — no
	 * new link. Name only devices you hold yourself: a device the thief linked with the leaked phrase
	 * must not follow, so none does unless named (default: none). The old key can no longer act: a
	 * card or device it signs is refused by every peer (strong rotation, docs/protocol.md §11.2). The
	 * account document moves to a key derived from the new identity key, and the chain is published
	 * so the new phrase restores this user and the old one is refused (`identity-rotated`). A
	 * friend-recovery setup made before is left behind (its kit holds the old seed and is refused):
	 * set friends up again. Refused with `invalid-argument` for a device that is not one of this
	 * user's live devices (or is this one).
	 */
	async rotateIdentity(
		options: { keepDevices?: readonly DeviceId[] } = {}
	): Promise<{ phrase: string; userId: UserId }> {
		const identity = this.#requireIdentity();
		const previous = this.#account;
		if (!previous) throw new CharterError('unavailable', 'the account is not open yet');
		await this.#allSpacesOpen;
		const keepDevices = options?.keepDevices ?? [];
		if (!Array.isArray(keepDevices))
			throw new CharterError('invalid-argument', 'keepDevices is a list of device ids');
		const live = new Map(this.#deviceCertificates().map((c) => [c.device as string, c]));
		const keep: DeviceCertificate[] = [];
		for (const device of new Set(keepDevices)) {
			const cert = typeof device === 'string' ? live.get(device) : undefined;
			if (!cert || device === identity.deviceId)
				throw new CharterError(
					'invalid-argument',
					`${String(device).slice(0, 60)} is not another live device of yours`
				);
			keep.push(cert);
		}
		const { phrase, kept } = await identity.rotate(this.stores.secrets, keep);
		// every earlier generation sealed to the new phrase's recovery key: a restore from the new
		// phrase reads the history too (the new generation it derives itself)
		for (const k of identity.allEncryptionKeys.slice(1))
			await previous.shareGeneration(k.generation, k.secret, [identity.recoveryPublic]);
		// the hand-overs first: a kept device that sees its new card finds what it needs beside it
		await previous.handOver(
			await Promise.all(
				kept.map(({ certificate, handOver }) => sealFollow(certificate.deviceKey, handOver))
			)
		);
		const certificates = kept.map((k) => k.certificate);
		for (const space of this.spaces) await space.rotateIdentity(certificates);
		await publishChain(this.wire, identity.userKey, identity.rotations);
		previous.stop();
		this.#account = undefined;
		await this.#openAccount();
		await this.#account!.carryOver(previous, [
			identity.deviceId,
			...certificates.map((c) => c.device)
		]);
		this.#linkedCertificates.clear();
		if (this.#profile) {
			const { displayName, avatar } = this.#profile;
			await this.setProfile({ displayName, ...(avatar ? { avatar } : {}) });
		}
		this.#emit();
		return { phrase, userId: identity.userId };
	}

	/** Hand-overs opened here, not followed yet: each waits for a space to show its chain. */
	#handOvers: LinkBundle[] = [];
	#following: Promise<void> | undefined;
	#followAgain = false;

	/** A hand-over arrived in the account: keep it if it is for this device and continues its chain. */
	async #receiveHandOver(bytes: Uint8Array) {
		const identity = this.#identity;
		if (!identity) return;
		const bundle = await identity.openHandOver(bytes);
		if (!bundle?.chain || bundle.chain.links.length <= identity.rotations.length) return;
		this.#handOvers.push(bundle);
		this.#follow();
	}

	/**
	 * This device was kept by a rotation on another device of its user: once a space it is in holds
	 * the user's card with a chain that continues the hand-over's (so the rules took that rotation —
	 * not a fork the thief made from the old key), it follows (Identity.follow), reopens the account
	 * under the new key, opens what was sealed to the new encryption key, and puts its own certificate
	 * on the cards if the one handed over named another X25519 key.
	 */
	#follow(): void {
		if (!this.#handOvers.length || this.#closed) return;
		if (this.#following) {
			this.#followAgain = true;
			return;
		}
		this.#following = (async () => {
			try {
				do {
					this.#followAgain = false;
					await this.#followOnce();
				} while (this.#followAgain && !this.#closed);
			} catch {
				/* retried on the next change */
			} finally {
				this.#following = undefined;
			}
		})();
	}

	async #followOnce(): Promise<void> {
		const identity = this.#identity;
		if (!identity) return;
		const standing = this.#standingChains(identity);
		const ready = this.#handOvers
			.filter((b) => b.chain!.links.length > identity.rotations.length)
			.filter((b) => standing.some((links) => extendsChain(b.chain!.links, links)))
			.sort((a, b) => a.chain!.links.length - b.chain!.links.length);
		let followed = false;
		for (const bundle of ready)
			if (await identity.follow(this.stores.secrets, bundle)) followed = true;
		this.#handOvers = this.#handOvers.filter(
			(b) => b.chain!.links.length > identity.rotations.length
		);
		if (!followed || this.#closed) return;
		const previous = this.#account;
		previous?.stop();
		this.#account = undefined;
		this.#linkedCertificates.clear();
		this.#directory.identityChanged();
		await this.#openAccount();
		for (const space of this.spaces) {
			await space.rescanLockboxes();
			await space.refreshOwnCertificate().catch(() => undefined);
		}
		// the profile this device writes into spaces it joins later: signed by the new key
		if (this.#profile) {
			const { displayName, avatar } = this.#profile;
			this.#profile = await signProfile(
				identity.userKey,
				(m) => identity.signAsIdentity(m),
				{ displayName, ...(avatar ? { avatar } : {}) },
				Date.now(),
				identity.identityKey
			);
		}
		this.#emit();
	}

	/** The rotation chains of this user's cards in the spaces here where they are a member. */
	#standingChains(identity: Identity): RotationLink[][] {
		const chains: RotationLink[][] = [];
		for (const space of this.spaces) {
			if (!space.state?.isMember(identity.userId)) continue;
			const card = space.document.members?.[identity.userId]?.card;
			if (!(card instanceof Uint8Array)) continue;
			try {
				const decoded = decodeUserCard(card);
				if (decoded.user === identity.userId) chains.push(decoded.rotations);
			} catch {
				/* a malformed card is skipped */
			}
		}
		return chains;
	}

	async #installKeyShare(lockbox: ParsedLockbox) {
		const identity = this.#identity;
		if (!identity) return;
		const own = await identity.deviceEncryption();
		const recovery = identity.recoverySecret;
		const candidates = [
			own,
			...(recovery
				? [{ secret: recovery, publicKey: (await cryptoProvider()).x25519PublicKey(recovery) }]
				: [])
		];
		const key = candidates.find((c) => bytesEqual(c.publicKey, lockbox.header.recipient));
		if (!key) return;
		try {
			const secret = await openLockbox(lockbox, {
				space: lockbox.header.space,
				recipientSecret: key.secret,
				recipientPublic: key.publicKey
			});
			if (
				await identity.addEncryptionGeneration(
					this.stores.secrets,
					generationOf(lockbox.header.document),
					secret
				)
			)
				for (const space of this.spaces) await space.rescanLockboxes();
		} catch {
			/* not for us after all, or damaged */
		}
	}

	#linkedCertificates = new Map<string, DeviceCertificate>();

	#deviceCertificates(): DeviceCertificate[] {
		const identity = this.#identity!;
		const found = new Map<string, DeviceCertificate>([
			[identity.deviceId, identity.certificate],
			...this.#linkedCertificates
		]);
		const revoked = new Set<string>();
		for (const space of this.spaces) {
			const record = space.document.members?.[identity.userId];
			if (record?.card instanceof Uint8Array)
				try {
					for (const c of decodeUserCard(record.card).devices) found.set(c.device, c);
				} catch {
					/* skip */
				}
			for (const [device, isRevoked] of Object.entries(record?.revokedDevices ?? {}))
				if (isRevoked) revoked.add(device);
		}
		return [...found.values()].filter((c) => !revoked.has(c.device));
	}

	/**
	 * Sets this user's display name and avatar (≤ 64 KiB): signed by the identity key and written into
	 * every space this user belongs to — so only co-members ever see it.
	 */
	async setProfile(input: { displayName: string; avatar?: Uint8Array }): Promise<Profile> {
		const identity = this.#requireIdentity();
		const profile = await signProfile(
			identity.userKey,
			(m) => identity.signAsIdentity(m),
			input,
			Date.now(),
			identity.identityKey
		);
		this.#profile = profile;
		for (const space of this.spaces) await space.setProfile(profile);
		return profile;
	}

	#profile: Profile | undefined;

	/**
	 * This user's devices (not revoked), as certified on their cards in the spaces this client holds.
	 * `name` is the name the user gave the device (shared by their devices only), else the name it was
	 * certified with ("Chromium on Linux"); `certifiedName` is always the latter.
	 */
	get devices(): {
		deviceId: DeviceId;
		name: string;
		certifiedName: string;
		issuedAt: number;
		thisDevice: boolean;
	}[] {
		const identity = this.#identity;
		if (!identity) return [];
		const names = this.#account?.deviceNames;
		return this.#deviceCertificates()
			.map((c) => ({
				deviceId: c.device,
				name: names?.get(c.device)?.name || c.name,
				certifiedName: c.name,
				issuedAt: c.issuedAt,
				thisDevice: c.device === identity.deviceId
			}))
			.sort((a, b) => a.issuedAt - b.issuedAt);
	}

	/** Dials what an invite or link code names; an address that can never connect is skipped. */
	#dial(endpoints: string[], source: SyncServerSource) {
		for (const endpoint of endpoints)
			if (isSyncServerUrl(endpoint)) this.#servers.add(endpoint, source);
	}

	/**
	 * Every sync server (or home node) this client dials — those it was opened with, and those an
	 * invite or a device-link code named — with whether it answers. Invites and link codes made here
	 * name these addresses.
	 */
	get syncServers(): SyncServerStatus[] {
		return this.#servers.list();
	}

	/** Dials one more sync server. Refuses with `invalid-argument` an address that cannot connect. */
	addSyncServer(url: string): void {
		this.#assertOpen();
		this.#servers.add(url, 'added');
	}

	/** Disconnects from a sync server and stops retrying it; false when it was not listed. */
	removeSyncServer(url: string): boolean {
		return this.#servers.remove(url);
	}

	/** Calls `listener` whenever the identity or the list of spaces changes. */
	subscribe(listener: (client: Charter) => void): () => void {
		this.#listeners.add(listener);
		listener(this);
		return () => this.#listeners.delete(listener);
	}

	/**
	 * Changes peers sent that never reached this client's repo because they carried no valid seal
	 * (an attempt to equivocate on another writer's changes, or a peer that does not speak Charter).
	 */
	get refusedChanges(): { total: number; byPeer: Record<string, number> } {
		return this.#refusals.snapshot();
	}

	/** Connected peers (sync servers, home nodes, other clients). */
	get peers(): string[] {
		return this.wire.repo.peers;
	}

	/**
	 * Per connected peer: how many documents it holds exactly as we do, which lag (and how long), and
	 * whether it looks suspect — behind, or withholding what it claims to hold.
	 */
	syncStatus(): PeerSyncStatus[] {
		return this.#peers.status();
	}

	/**
	 * Whether this user tells co-members they are online and typing (default true). Off — "appear
	 * offline" — nothing is sent: no heartbeat, no typing; others' signals are still shown.
	 */
	get sharePresence(): boolean {
		return this.#account?.sharePresence ?? true;
	}

	/** Turns presence and typing on or off, for all the user's devices (kept in the account). */
	async setSharePresence(share: boolean): Promise<void> {
		if (typeof share !== 'boolean')
			throw new CharterError('invalid-argument', 'sharePresence is true or false');
		this.#assertOpen();
		const account = this.#account;
		if (!account) throw new CharterError('unavailable', 'the account is not open yet');
		await account.setSharePresence(share);
		for (const space of this.spaces) space.sharePresence(share);
		this.#emit();
	}

	#presenceTimer: ReturnType<typeof setTimeout> | undefined;

	/** A peer connected: once the repo shares our documents with it, say we are online there. */
	#peerJoined(): void {
		if (this.#presenceTimer || this.#closed) return;
		this.#presenceTimer = setTimeout(() => {
			this.#presenceTimer = undefined;
			if (this.#closed) return;
			for (const space of this.spaces) space.announcePresence();
		}, PEER_SETTLE_MS);
		(this.#presenceTimer as { unref?: () => void }).unref?.();
	}

	/**
	 * Rewrites every envelope this client holds that is stored as several chunks (automerge-repo
	 * writes one per save) as one snapshot, from the document in memory, while the client keeps
	 * running: the next open of this profile then loads one snapshot per envelope instead of
	 * compacting each store first. `close()` does it too; a browser tab, which is rarely closed
	 * cleanly, should call this when its page is hidden (the web client does). Nothing written
	 * meanwhile is lost: only chunks whose changes the saved document holds are removed (protocol §6).
	 * Resolves with the number of envelopes rewritten (0 in memory).
	 */
	compactStores(): Promise<number> {
		if (this.#closed) return Promise.resolve(0);
		return this.wire.compactHeld();
	}

	/** Persists everything and disconnects. */
	async close(): Promise<void> {
		if (this.#closed) return;
		this.#closed = true;
		for (const request of this.#requests) request.abort();
		await this.#allSpacesOpen; // a space opening in the background closes itself (#closed)
		this.#peers.stop();
		clearTimeout(this.#sharingReview);
		clearTimeout(this.#presenceTimer);
		await this.#account?.settled();
		await this.#account?.flushRead().catch(() => undefined);
		this.#account?.stop();
		await Promise.all(this.spaces.map((s) => s.close()));
		await this.wire.repo.flush().catch(() => undefined);
		await this.wire.repo.shutdown().catch(() => undefined);
		// the next open then loads one snapshot per envelope (protocol §6)
		await this.wire.compactHeld().catch(() => undefined);
		await this.#listening?.close();
		this.#listeners.clear();
	}

	/**
	 * The user's own list of spaces, shared by all their devices: a restored or linked device opens
	 * every space the user belongs to as the list arrives.
	 */
	async #openAccount() {
		const identity = this.#identity;
		if (!identity || this.#account) return;
		this.#account = await AccountDocument.open(
			this.wire,
			{
				userKey: identity.userKey,
				deviceKey: identity.deviceKey,
				accountKey: identity.accountKey(accountIdOf(identity.userKey)),
				sign: (m) => identity.signAsDevice(m)
			},
			this.#readMarkerDelayMs
		);
		this.#account.onChange(() => {
			this.#emit(); // device names
			this.readState.changed(); // read markers, notification levels
			for (const space of this.spaces) space.sharePresence(this.sharePresence);
			void this.#openFromAccount();
		});
		this.#account.onKeyShare((lockbox) => this.#installKeyShare(lockbox));
		for (const share of this.#account.keyShares) await this.#installKeyShare(share);
		this.#account.onHandOver((bytes) => this.#receiveHandOver(bytes));
		for (const bytes of this.#account.handOvers) await this.#receiveHandOver(bytes);
		await this.#openFromAccount();
		for (const id of this.#spaces.keys()) void this.#account.ensure(id);
	}

	async #openFromAccount() {
		for (const id of this.#account?.spaces ?? []) {
			// known spaces still to open in the background are opened there, in turn
			if (this.#spaces.has(id) || this.#spacesToOpen.includes(id) || this.#closed) continue;
			try {
				await this.#openOnce(id, (space) => this.#track(space));
			} catch {
				// the client closed meanwhile (nothing to report), or this space would not open now:
				// the others still do, and the account's next change tries it again
				if (this.#closed) return;
			}
		}
		// removed on another of the user's devices (forgetSpace)
		for (const id of this.#account?.removed ?? []) {
			const space = this.#spaces.get(id);
			if (!space || this.#closed) continue;
			this.#spaces.delete(id);
			this.#spacesToOpen = this.#spacesToOpen.filter((known) => known !== id);
			await space.close();
			await this.#saveSpaceList();
			this.#emit();
		}
	}

	/** A space opened or created here: one of this client's spaces, listed and followed. */
	async #track(space: Space) {
		this.#adopt(space);
		if (this.#profile && space.isMember)
			void space.setProfile(this.#profile).catch(() => undefined);
		void this.#account?.record(space.id);
		await this.#saveSpaceList();
		this.#emit();
	}

	/** Makes an open space one of this client's: in `spaces`, its changes reviewed and announced. */
	#adopt(space: Space) {
		this.#spaces.set(space.id, space);
		this.#openingSpaces.delete(space);
		space.subscribe(() => {
			if (space.deletedAt !== undefined) return void this.#forgetDeleted(space);
			this.#follow(); // a rotation this device was kept by may stand now
			this.#reviewSharing();
			this.#emit();
		});
	}

	/** The known spaces, in order, open or still opening in the background. */
	async #saveSpaceList(): Promise<void> {
		// open or not yet, in the order known at open, then spaces added since
		const rank = (id: SpaceId) => this.#knownOrder.get(id) ?? Number.MAX_SAFE_INTEGER;
		const ids = [...new Set([...this.#spacesToOpen, ...this.#spaces.keys()])]
			.map((id, i) => [id, i] as const)
			.sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1])
			.map(([id]) => id);
		await this.stores.local?.save(SPACES_KEY, cbor.encode(ids));
	}

	/** Known spaces not opened yet (`openSpacesInBackground`). */
	#spacesToOpen: SpaceId[] = [];
	#allSpacesOpen: Promise<void> = Promise.resolve();

	/** Resolves once every space known at `open` is open (at once unless `openSpacesInBackground`). */
	get allSpacesOpen(): Promise<void> {
		return this.#allSpacesOpen;
	}

	async #openKnownSpaces(background: boolean, openFirst?: string) {
		try {
			const deleted = await this.stores.local?.load(DELETED_SPACES_KEY);
			const list: unknown = deleted ? cbor.decode(deleted) : [];
			if (Array.isArray(list))
				for (const d of list as Partial<DeletedSpace>[])
					if (isSpaceId(d?.id) && typeof d.name === 'string' && typeof d.deletedAt === 'number')
						this.#deleted.set(d.id, { id: d.id, name: d.name, deletedAt: d.deletedAt });
		} catch {
			/* a damaged list of deleted spaces only loses that list */
		}
		const saved = await this.stores.local?.load(SPACES_KEY);
		if (!saved) return;
		let ids: unknown;
		try {
			ids = cbor.decode(saved);
		} catch {
			return;
		}
		if (!Array.isArray(ids)) return;
		this.#spacesToOpen = ids.filter((id): id is SpaceId => isSpaceId(id));
		this.#spacesToOpen.forEach((id, i) => this.#knownOrder.set(id, i));
		const open = async (id: SpaceId) => {
			// already open, forgotten meanwhile, or the client closed
			if (this.#spaces.has(id) || !this.#spacesToOpen.includes(id) || this.#closed) return;
			// (a client closed meanwhile: the space was closed again, nothing to report)
			await this.#openOnce(id, async (space) => {
				this.#adopt(space);
				void this.#account?.ensure(id).catch(() => undefined);
				this.#emit();
			}).catch((error) => {
				if (!this.#closed) throw error;
			});
		};
		const order = [...this.#spacesToOpen];
		const chosen = order.indexOf(openFirst as SpaceId);
		if (chosen > 0) order.unshift(...order.splice(chosen, 1));
		const [first, ...rest] = order;
		if (!background) {
			for (const id of this.#spacesToOpen) await open(id);
			this.#spacesToOpen = [];
			return;
		}
		if (first) await open(first);
		this.#allSpacesOpen = (async () => {
			for (const id of rest) await open(id).catch(() => undefined);
			this.#spacesToOpen = [];
		})();
	}

	/** Peers that proved which device they are (see `peer-auth.ts`). */
	get authenticatedPeers(): { peer: PeerId; device: DeviceId }[] {
		return this.#directory.authenticated.map(({ peer, device }) => ({ peer, device }));
	}

	// ---- durability: strict channels ------------------------------------------------------------

	/** The space and channel a document id is the envelope of, when it is a channel envelope. */
	#channelOfEnvelope(doc: DocumentId): { space: Space; channel: ChannelId } | undefined {
		for (const space of this.#spaces.values()) {
			const channel = this.#channelEnvelopes(space).get(doc);
			if (channel) return { space, channel };
		}
		for (const space of this.#openingSpaces) {
			const channel = this.#channelEnvelopes(space).get(doc);
			if (channel) return { space, channel };
		}
		return undefined;
	}

	/** Envelope ids of a space's channels, recomputed (new channels only) when its document changed. */
	#channelEnvelopes(space: Space): Map<DocumentId, ChannelId> {
		let document: Space['document'] | undefined;
		try {
			document = space.document;
		} catch {
			/* a space still opening its own document */
		}
		if (!document) return new Map();
		const entry = this.#envelopeIndex.get(space);
		if (entry?.doc === document) return entry.ids;
		const ids = entry?.ids ?? new Map<DocumentId, ChannelId>();
		const own = entry?.own ?? envelopeDocumentId(space.idBytes, space.idBytes);
		const known = new Map<ChannelId, number>();
		for (const channel of ids.values()) known.set(channel, (known.get(channel) ?? -1) + 1);
		for (const [key, record] of Object.entries(document.channels ?? {})) {
			const channel = key as ChannelId;
			// one envelope per history generation (compacted channels move on to new ones)
			const history = typeof record?.history === 'number' ? Math.min(record.history, 1e6) : 0;
			try {
				const bytes = channelIdBytes(channel);
				for (let g = known.get(channel) ?? 0; g <= history; g++)
					if (g > (known.get(channel) ?? -1))
						ids.set(envelopeDocumentId(space.idBytes, bytes, g), channel);
			} catch {
				/* a malformed channel id is never opened */
			}
		}
		this.#envelopeIndex.set(space, { doc: document, ids, own });
		return ids;
	}

	/** An envelope of a space this client holds: the space's own, or one of its channels'. */
	#isKnownEnvelope(doc: DocumentId): boolean {
		if (this.#channelOfEnvelope(doc)) return true;
		for (const entry of this.#envelopeIndex.values()) if (entry.own === doc) return true;
		return false;
	}

	/** Who may hold `doc`, when it is the envelope of a strict channel; undefined otherwise. */
	#strictDecision(doc: DocumentId): StrictDecision | undefined {
		const found = this.#channelOfEnvelope(doc);
		if (!found) return undefined;
		const { space, channel } = found;
		if (asString(space.document.channels?.[channel]?.durability) !== 'strict') return undefined;
		const state = space.state;
		const me = this.#identity?.userId;
		const reads = (user: UserId) => !!state && state.can(user, Permission.VIEW_CHANNEL, channel);
		return {
			// not known before the space's state is derived: then nothing is shared, nothing dropped
			selfMayHold: state && me ? reads(me) : undefined,
			peerMayHold: (peer: AuthenticatedPeer | undefined) => {
				// the device must be live (not revoked) on the card of a member who reads the channel
				const user = peer && state?.userOfDevice(peer.deviceKey);
				return !!user && reads(user);
			}
		};
	}

	/**
	 * After a change of a space or of the authenticated peers: when who may hold a strict envelope
	 * changed, the wire repo re-evaluates sharing (starts syncing with new readers, stops with peers
	 * that lost access), and envelopes this user may no longer read leave this client's wire storage.
	 */
	#reviewSharing(now = false) {
		if (this.#closed) return;
		if (!now) {
			if (this.#sharingReview) return;
			this.#sharingReview = setTimeout(() => {
				this.#sharingReview = undefined;
				this.#reviewSharing(true);
			}, 0);
			return;
		}
		const parts: string[] = [];
		const unreadable: DocumentId[] = [];
		for (const space of this.#spaces.values()) {
			for (const doc of this.#channelEnvelopes(space).keys()) {
				const decision = this.#strictDecision(doc);
				if (!decision) continue;
				const peers = this.wire.repo.peers.filter((p) =>
					decision.peerMayHold(this.#directory.get(p))
				);
				parts.push(`${doc}:${decision.selfMayHold}:${peers.sort().join(',')}`);
				if (decision.selfMayHold === false) unreadable.push(doc);
			}
		}
		const key = parts.sort().join('|');
		const settled = this.#sharing.settle();
		if (key !== this.#sharingKey || settled) {
			this.#sharingKey = key;
			this.wire.repo.shareConfigChanged();
		}
		for (const doc of unreadable) void this.#purge(doc);
	}

	/** Drops a strict envelope this user cannot read from the wire storage (it is not served either). */
	async #purge(doc: DocumentId) {
		const handle = this.wire.repo.handles[doc];
		const heads = handle?.isReady() ? A.getHeads(handle.doc()).join(',') : '';
		if (this.#purged.get(doc) === heads) return;
		this.#purged.set(doc, heads);
		try {
			await this.wire.repo.flush([doc]);
			// the document's chunks go; its sync-state records (heads only) may be rewritten meanwhile
			await this.wire.removeStored(doc);
		} catch {
			/* retried on the next review */
			this.#purged.delete(doc);
		}
	}

	#requireIdentity(): Identity {
		this.#assertOpen();
		if (!this.#identity)
			throw new CharterError('no-identity', 'create or restore an identity first');
		return this.#identity;
	}

	#requireContext(): ClientContext<Space> {
		const identity = this.#requireIdentity();
		if (this.#context?.identity !== identity) {
			const servers = this.#servers;
			this.#context = {
				identity,
				wire: this.wire,
				local: this.stores.local,
				secrets: this.stores.secrets,
				cards: this.#cards,
				signer: {
					author: identity.deviceKey,
					session: this.#session,
					actor: actorFor(identity.deviceKey, this.#session),
					sign: (m) => identity.signAsDevice(m)
				},
				get endpoints() {
					return servers.urls;
				},
				sharePresence: () => this.sharePresence,
				spaces: {
					opened: (space) => this.#openingSpaces.add(space),
					closed: (space) => {
						this.#openingSpaces.delete(space);
						this.#envelopeIndex.delete(space);
					}
				}
			};
		}
		return this.#context;
	}

	#assertOpen() {
		if (this.#closed) throw new CharterError('closed', 'this client is closed');
	}

	#emit() {
		for (const listener of this.#listeners) {
			try {
				listener(this);
			} catch {
				/* a subscriber's bug must not break the client */
			}
		}
	}
}

function defaultDeviceName(): string {
	if (typeof navigator !== 'undefined' && navigator.userAgent)
		return navigator.userAgent.slice(0, 60);
	if (typeof process !== 'undefined' && process.platform) return `node on ${process.platform}`;
	return 'device';
}

export type { SecretStore, StorageAdapterInterface };

class RefusalTally implements RefusalCounter {
	#total = 0;
	#byPeer = new Map<string, number>();

	refused(count: number, from: PeerId | undefined): void {
		this.#total += count;
		const peer = from ?? 'unknown';
		this.#byPeer.set(peer, (this.#byPeer.get(peer) ?? 0) + count);
	}

	snapshot(): { total: number; byPeer: Record<string, number> } {
		return { total: this.#total, byPeer: Object.fromEntries(this.#byPeer) };
	}
}
