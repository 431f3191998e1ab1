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
 *
 * A client that comes back (the same peer id: a dropped connection, a network change) starts each
 * document it had touched on a fresh sync round. Why: automerge-repo 2.5.6 keeps a peer's sync
 * state after it disconnects and, when the peer's own message restarts a document (this server
 * announces nothing to clients, so only the peer's message does), carries on with that state as
 * it was — including Automerge's record of the changes already sent. Changes sent into a
 * connection that was dying (or that a relay dropped) are then never sent again: the client asks
 * for the missing dependency, the server answers without it, and the two exchange empty messages
 * forever (test/adversarial/hostile-relay.test.ts "drop"). `beginSync` is the stock way to restart
 * a round: it keeps only the heads both sides are known to share and sends our heads first.
 */
import type { DocumentId, PeerId, Repo } from '@automerge/automerge-repo';

type Synchronizer = Repo['synchronizer'];
type DocSynchronizers = Synchronizer['docSynchronizers'];

export class PeerChurn {
	/** Per client: the documents whose synchronizer may hold state for it. */
	readonly #touched = new Map<PeerId, Set<DocumentId>>();
	/**
	 * Per client that left: the documents it had touched, restarted when it comes back. Oldest
	 * forgotten first past `LEFT_LIMIT` (a forgotten client that returns falls back to the stock
	 * behaviour, which is only wrong if its last connection lost messages).
	 */
	readonly #left = new Map<PeerId, Set<DocumentId>>();
	/** Clients remembered after they leave: a few MB at most (peer ids and document ids). */
	static readonly LEFT_LIMIT = 10_000;

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
			const before = this.#left.get(peerId);
			this.#left.delete(peerId);
			this.#touched.set(peerId, new Set(before));
			this.#narrowed(new Set(), () => addPeer(peerId));
			// a returning client: a fresh round for each document it had (see the header)
			for (const documentId of before ?? [])
				void synchronizer.docSynchronizers[documentId]?.beginSync([peerId]);
		};
		synchronizer.removePeer = (peerId: PeerId) => {
			const touched = this.#touched.get(peerId);
			this.#touched.delete(peerId);
			if (touched?.size && !this.announced(peerId)) {
				this.#left.delete(peerId);
				this.#left.set(peerId, touched);
				if (this.#left.size > PeerChurn.LEFT_LIMIT)
					this.#left.delete(this.#left.keys().next().value!);
			}
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
