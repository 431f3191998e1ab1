/** What every space and channel of one client shares: keys, repos, stores and the writer session. */
import type { Repo, StorageAdapterInterface } from '@automerge/automerge-repo';
import type { CardCache } from '../authority/card-cache.js';
import type { Identity } from '../identity/identity.js';
import type { SecretStore } from '../identity/secret-store.js';
import type { ReplicaSigner } from '../sync/replica.js';
import type { Space } from './Space.js';

export interface ClientContext {
	identity: Identity;
	/** The networked repo: envelope documents only. */
	wire: Repo;
	/** The never-networked store of plaintext replicas. */
	local?: StorageAdapterInterface;
	secrets: SecretStore;
	/** Card verdicts shared by this client's space validators: an optimisation only. */
	cards?: CardCache;
	signer: ReplicaSigner;
	/** Sync servers and peers this client dials: the bootstrap endpoints put into invites. */
	endpoints: string[];
	/**
	 * Told of every space as soon as it exists — before it opens its channels — and when it closes:
	 * the wire repo's share decisions (strict channels) must know a channel's space from the start.
	 */
	spaces?: { opened(space: Space): void; closed(space: Space): void };
}
