/**
 * What every space and channel of one client shares (keys, repos, stores and the writer session),
 * and what a space's children see of their space. Space, Channel and SharedDocument import this
 * module, and it imports none of them: client/ has no import cycle.
 */
import type * as A from '@automerge/automerge';
import type { StorageAdapterInterface } from '@automerge/automerge-repo';
import type { CardCache } from '../authority/card-cache.js';
import type { SpaceDoc } from '../authority/schema.js';
import type { SpaceEvaluation } from '../authority/space-validator.js';
import type { Identity } from '../identity/identity.js';
import type { ChannelId } from '../identity/ids.js';
import type { SecretStore } from '../identity/secret-store.js';
import type { ReplicaSigner } from '../sync/replica.js';
import type { Wire } from '../sync/wire.js';

/**
 * The narrow view of a space its channels and shared documents work through: what they need to
 * validate, seal and write. Space implements it.
 */
export interface SpaceView {
	readonly idBytes: Uint8Array;
	readonly evaluation: SpaceEvaluation | undefined;
	readonly document: A.Doc<SpaceDoc>;
	readonly contextHeads: A.Heads;
	readonly isMember: boolean;
	currentEpoch(document: Uint8Array): Uint8Array | undefined;
	/** The history segment a channel's writes go to (Space.currentSegment). */
	currentSegment(document: Uint8Array): Uint8Array | undefined;
	ensureEpoch(document: Uint8Array): Promise<Uint8Array>;
	ensureDeviceRegistered(): Promise<void>;
	assertCanWrite(permission: number, name: string, channel: ChannelId): void;
	recordChannelHistory(id: ChannelId, generation: number): Promise<void>;
	/** Whether this user was online in the space at `at` (for `@here`: Space.presentAt). */
	presentAt(at: number): boolean;
}

/** `S`: what the `spaces` hook is told of (the client's Space; children never call the hook). */
export interface ClientContext<S = SpaceView> {
	identity: Identity;
	/** The networked side: its repo holds envelope documents only (sync/wire.ts). */
	wire: Wire;
	/** The never-networked store of plaintext replicas. */
	local?: StorageAdapterInterface;
	secrets: SecretStore;
	/** Card verdicts shared by this client's space validators: an optimisation only. */
	cards?: CardCache;
	signer: ReplicaSigner;
	/** Whether the user shares presence and typing now (the account's setting; default true). */
	sharePresence?: () => boolean;
	/** Sync servers and peers this client dials: the bootstrap endpoints put into invites. */
	endpoints: string[];
	/**
	 * Told of every space as soon as it exists — before it opens its channels — and when it closes:
	 * the wire repo's share decisions (strict channels) must know a channel's space from the start.
	 */
	spaces?: { opened(space: S): void; closed(space: S): void };
}
