/**
 * Connecting and disconnecting cost O(1) per client, not O(documents held).
 *
 * automerge-repo 2.5.6's CollectionSynchronizer does work for every document in memory on every
 * peer connect and disconnect: `addPeer` runs the share policy (two async calls and a Promise.all)
 * once per document, `removePeer` calls `endSync` on every document synchronizer. With D documents
 * and P peers joining and dropping at once that is P × D promise chains resolved in one microtask
 * queue: 300 connections against 2,000 documents held the event loop 11–17 s (/healthz silent) and
 * took RSS from 180 to 450 MB; 600 against 6,000 looked-up ids, over a minute and 900 MB.
 *
 * For a client the whole loop is wasted: this server announces nothing to clients (peering.ts) and a
 * peer that has just joined has requested nothing yet, so the share check is false for every
 * document, and at disconnect only the documents the client actually touched hold any state for it.
 * So, for a client, the stock methods run against just those documents: none on connect, the ones
 * it touched (a message it sent, or a synchronizer that added it: "open-doc") on disconnect. Peer
 * servers, which get everything announced, keep the stock behaviour. The stock methods still run
 * (they keep the synchronizer's private peer set right); only the set of synchronizers they walk is
 * narrowed, through the synchronizer's (hidden but public) `docSynchronizers` record.
 */
import type { DocumentId, PeerId, Repo } from '@automerge/automerge-repo';

type Synchronizer = Repo['synchronizer'];
type DocSynchronizers = Synchronizer['docSynchronizers'];

export class PeerChurn {
	/** Per client: the documents whose synchronizer may hold state for it. */
	readonly #touched = new Map<PeerId, Set<DocumentId>>();

	/** `announced(peer)`: whether the share policy announces documents to it (peer servers). */
	constructor(
		private readonly repo: Repo,
		private readonly announced: (peerId: PeerId) => boolean
	) {
		const synchronizer = repo.synchronizer;
		const addPeer = synchronizer.addPeer.bind(synchronizer);
		const removePeer = synchronizer.removePeer.bind(synchronizer);
		synchronizer.addPeer = (peerId: PeerId) => {
			if (this.announced(peerId)) return addPeer(peerId);
			this.#touched.set(peerId, new Set());
			this.#narrowed(new Set(), () => addPeer(peerId));
		};
		synchronizer.removePeer = (peerId: PeerId) => {
			const touched = this.#touched.get(peerId);
			this.#touched.delete(peerId);
			if (!touched || this.announced(peerId)) return removePeer(peerId);
			this.#narrowed(touched, () => removePeer(peerId));
		};
		synchronizer.on('open-doc', ({ peerId, documentId }) => this.touch(peerId, documentId));
	}

	/** A client sent a message about `documentId` (called before the repo sees it). */
	touch(peerId: PeerId, documentId: DocumentId): void {
		this.#touched.get(peerId)?.add(documentId);
	}

	/** Runs `run` while the synchronizer sees only the synchronizers of `documents`. */
	#narrowed(documents: Set<DocumentId>, run: () => void): void {
		const synchronizer = this.repo.synchronizer;
		const all = synchronizer.docSynchronizers;
		const some: DocSynchronizers = {};
		for (const documentId of documents) {
			const docSynchronizer = all[documentId];
			if (docSynchronizer) some[documentId] = docSynchronizer;
		}
		synchronizer.docSynchronizers = some;
		try {
			run();
		} finally {
			// anything the stock method added meanwhile (it adds nothing synchronously) is kept
			synchronizer.docSynchronizers = Object.assign(all, synchronizer.docSynchronizers);
		}
	}
}
