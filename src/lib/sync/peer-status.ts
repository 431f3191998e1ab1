/**
 * Which peers hold what. A sync server tells us, through the sync protocol, the heads it has of
 * each document (kept by `RemoteHeads`). Comparing them with ours shows a peer that is
 * behind — or one that withholds: it claims changes it never delivers, or never confirms what we
 * send it. A peer out of step for longer than a threshold is reported as suspect, so the app can
 * say so instead of silently trusting one relay.
 */
import * as A from '@automerge/automerge';
import type { DocHandle, DocumentId, PeerId, Repo, StorageId } from '@automerge/automerge-repo';
import { sameHeads } from '../util/heads.js';
import type { RemoteHeads } from './remote-heads.js';

export interface PeerDocumentLag {
	documentId: DocumentId;
	/** Changes we hold that the peer has not confirmed (-1: the peer's heads are unknown to us). */
	missingAtPeer: number;
	/** Heads the peer claims that we have never received. */
	claimedButUndelivered: number;
	/** How long this document has been out of step with the peer. */
	forMs: number;
}

export interface PeerSyncStatus {
	peer: PeerId;
	storageId?: StorageId;
	/** Documents the peer holds exactly as we do. */
	inSync: number;
	lagging: PeerDocumentLag[];
	/** Out of step on some document for longer than the threshold: behind, or withholding. */
	suspect: boolean;
}

/**
 * Some peer that stores (a sync server, a home node) has reported heads of `handle`'s document and
 * this repo holds every one of them: it has given us all it has. Peers without storage report none.
 */
export function caughtUpWithStoringPeer(
	repo: Repo,
	remote: RemoteHeads,
	handle: DocHandle<unknown>
): boolean {
	if (!handle.isReady()) return false;
	const doc = handle.doc() as A.Doc<unknown>;
	return repo.peers.some((peer) => {
		const storageId = remote.storageIdOf(peer);
		const reported = storageId && remote.heads(handle.documentId, storageId);
		return !!reported?.length && A.hasHeads(doc, reported);
	});
}

export class PeerWatch {
	#since = new Map<string, number>();
	#timer: ReturnType<typeof setInterval> | undefined;

	constructor(
		private readonly repo: Repo,
		private readonly remote: RemoteHeads,
		readonly thresholdMs = 15_000,
		pollMs = 2_000,
		/** Whether a document is shared with a peer at all (strict channels are not, with most). */
		private readonly shared: (peer: PeerId, documentId: DocumentId) => boolean = () => true
	) {
		this.#timer = setInterval(() => this.status(), pollMs);
		(this.#timer as { unref?: () => void }).unref?.();
	}

	status(): PeerSyncStatus[] {
		const now = Date.now();
		const out: PeerSyncStatus[] = [];
		const seen = new Set<string>();
		for (const peer of this.repo.peers) {
			const storageId = this.remote.storageIdOf(peer);
			const status: PeerSyncStatus = {
				peer,
				...(storageId ? { storageId } : {}),
				inSync: 0,
				lagging: [],
				suspect: false
			};
			if (!storageId) {
				out.push(status); // an ephemeral peer (another client) promises no storage
				continue;
			}
			for (const handle of Object.values(this.repo.handles)) {
				if (!handle.isReady() || !this.shared(peer, handle.documentId)) continue;
				const doc = handle.doc();
				const ours = A.getHeads(doc);
				const theirs = this.remote.heads(handle.documentId, storageId);
				const key = `${peer}|${handle.documentId}`;
				if (theirs && sameHeads(ours, theirs)) {
					status.inSync++;
					this.#since.delete(key);
					continue;
				}
				seen.add(key);
				const since = this.#since.get(key) ?? now;
				this.#since.set(key, since);
				const unknown = theirs ? theirs.filter((h) => !A.hasHeads(doc, [h])).length : 0;
				let missing = -1;
				if (theirs && unknown === 0) missing = A.getChangesSince(doc, theirs).length;
				const lag = {
					documentId: handle.documentId,
					missingAtPeer: missing,
					claimedButUndelivered: unknown,
					forMs: now - since
				};
				status.lagging.push(lag);
				if (lag.forMs >= this.thresholdMs) status.suspect = true;
			}
			out.push(status);
		}
		for (const key of this.#since.keys()) if (!seen.has(key)) this.#since.delete(key);
		return out;
	}

	stop(): void {
		if (this.#timer) clearInterval(this.#timer);
	}
}
