/**
 * What each persistent peer (a sync server, a home node) holds of each document: the heads it sent
 * in its latest sync message — what automerge-repo records as `handle.getSyncInfo(storageId)` — kept
 * by the client itself.
 *
 * Why not the repo's own record: for a peer that announced a storage id, the repo re-encodes that
 * peer's heads (bs58check: two SHA-256 and a base-58 conversion per head) twice on every sync-state
 * change and saves the peer's sync state to storage every 100 ms. Under a busy channel the server's
 * heads are every writer's latest change — 17 of them at p50 with 20 members chatting — and that
 * bookkeeping was the largest single cost of a chatting client (15 % of its CPU, `bench/profile.ts
 * chat`). So every adapter of a client is wrapped in `withoutStorageId`: the repo sees peers
 * without a storage id (nothing saved, nothing re-encoded, each connection starts a fresh sync
 * round), and `RemoteHeads` takes the heads, in hex, from the synchronizer's `sync-state` events,
 * only when they change, for the peers that announced one.
 */
import type * as A from '@automerge/automerge';
import type {
	DocumentId,
	NetworkAdapterInterface,
	PeerCandidatePayload,
	PeerId,
	PeerMetadata,
	Repo,
	StorageId
} from '@automerge/automerge-repo';
import { sameHeads } from '../util/heads.js';
import { WrappingAdapter } from './wrapping-adapter.js';

/** What a peer announced about its storage. */
interface Announced {
	storageId: StorageId;
	isEphemeral: boolean;
}

export class RemoteHeads {
	#announced = new Map<PeerId, Announced>();
	/** Persistent storage ids seen in this run: what a node confirmed before it left stays confirmed. */
	#persistent = new Set<StorageId>();
	#heads = new Map<DocumentId, Map<StorageId, A.Heads>>();
	#listeners = new Map<DocumentId, Set<() => void>>();

	/** Wraps one of the client's adapters: its peers' storage ids reach this object, not the repo. */
	wrap(adapter: NetworkAdapterInterface): NetworkAdapterInterface {
		return new StorageIdKeeper(adapter, this);
	}

	/** Follows `repo`'s sync rounds (once, after the repo is made). */
	attach(repo: Repo): void {
		repo.synchronizer.on('sync-state', ({ peerId, documentId, syncState }) => {
			const announced = this.#announced.get(peerId);
			const theirs = syncState.theirHeads;
			if (!announced || !theirs) return;
			let byStorage = this.#heads.get(documentId);
			const before = byStorage?.get(announced.storageId);
			if (before && sameHeads(before, theirs)) return;
			if (!byStorage) this.#heads.set(documentId, (byStorage = new Map()));
			byStorage.set(announced.storageId, [...theirs]);
			for (const listener of [...(this.#listeners.get(documentId) ?? [])]) {
				try {
					listener();
				} catch {
					/* a subscriber's bug must not stop the others */
				}
			}
		});
	}

	/** @internal Called by the wrapping adapters. */
	announced(peer: PeerId, metadata: PeerMetadata | undefined): void {
		if (!metadata?.storageId) return;
		const isEphemeral = metadata.isEphemeral === true;
		this.#announced.set(peer, { storageId: metadata.storageId, isEphemeral });
		if (!isEphemeral) this.#persistent.add(metadata.storageId);
	}

	/** The storage id `peer` announced, if any. */
	storageIdOf(peer: PeerId): StorageId | undefined {
		return this.#announced.get(peer)?.storageId;
	}

	/** Whether `peer` announced a storage id and is not ephemeral: it promises to keep what it holds. */
	isPersistent(peer: PeerId): boolean {
		const a = this.#announced.get(peer);
		return !!a && !a.isEphemeral;
	}

	/** Storage ids of the persistent peers seen in this run. */
	persistentStorageIds(): StorageId[] {
		return [...this.#persistent];
	}

	/** The heads the node with `storageId` last reported for `doc` (hex), if it did. */
	heads(doc: DocumentId, storageId: StorageId): A.Heads | undefined {
		return this.#heads.get(doc)?.get(storageId);
	}

	/** Calls `listener` whenever some node reports new heads for `doc`. */
	onChange(doc: DocumentId, listener: () => void): () => void {
		let set = this.#listeners.get(doc);
		if (!set) this.#listeners.set(doc, (set = new Set()));
		set.add(listener);
		return () => {
			set.delete(listener);
			if (!set.size) this.#listeners.delete(doc);
		};
	}
}

/** Passes everything through but the storage id a peer announces, which goes to `RemoteHeads`. */
class StorageIdKeeper extends WrappingAdapter {
	constructor(
		inner: NetworkAdapterInterface,
		private readonly remote: RemoteHeads
	) {
		super(inner);
	}

	protected override onPeerCandidate(payload: PeerCandidatePayload): void {
		const metadata = payload.peerMetadata;
		this.remote.announced(payload.peerId, metadata);
		if (!metadata?.storageId) {
			this.emit('peer-candidate', payload);
			return;
		}
		// eslint-disable-next-line @typescript-eslint/no-unused-vars
		const { storageId, ...rest } = metadata;
		this.emit('peer-candidate', { ...payload, peerMetadata: rest });
	}
}
