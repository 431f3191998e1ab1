/**
 * Durability policies per channel (the white paper's three modes), enforced in the wire repo:
 *
 * - `replicated` (default): any peer may store and forward the channel's envelope — ciphertext only.
 * - `strict`: only devices of users who can read the channel (VIEW_CHANNEL in the space's current
 *   state) get the envelope. The wire repo's `shareConfig` (`announce` and `access`) refuses it to
 *   every other peer: sync servers and stock automerge-repo peers (they prove no identity), Charter
 *   peers authenticated (peer-auth.ts) as devices of non-readers, and — when this client's own user
 *   cannot read it — everyone, while this client drops the envelope from its own wire storage.
 * - `guaranteed`: a message counts as sent once a persistent node — a peer that announced a storage
 *   id and is not ephemeral (a sync server, a home node) — reports, through automerge-repo's sync
 *   protocol (the heads of its sync messages, kept by `RemoteHeads`), heads that include the
 *   envelope heads this device had right after the message's entry was appended. `DeliveryTracker`
 *   follows that per message; nothing is assumed stored.
 */
import * as A from '@automerge/automerge';
import type { DocHandle, DocumentId, PeerId } from '@automerge/automerge-repo';
import { CharterError } from '../errors.js';
import type { AuthenticatedPeer, PeerDirectory } from './peer-auth.js';
import type { EnvelopeDoc } from './envelope.js';
import type { RemoteHeads } from './remote-heads.js';
import { sameHeads } from '../util/heads.js';

export type Delivery = 'pending' | 'stored';

/** For a strict envelope: who may hold it. */
export interface StrictDecision {
	/**
	 * This client's user can read the channel (otherwise it neither stores nor forwards it);
	 * undefined while the space's state is not known yet (nothing is shared, nothing dropped).
	 */
	selfMayHold: boolean | undefined;
	/** Whether a peer (authenticated or not) may hold it. */
	peerMayHold(peer: AuthenticatedPeer | undefined): boolean;
}

/** What a client knows about a document when deciding whether to share it. */
export interface SharingInputs {
	/** Who may hold `doc`, when it is the envelope of a strict channel; undefined otherwise. */
	strict(doc: DocumentId): StrictDecision | undefined;
	/** `doc` is an envelope of a space this client holds (the space's own, or one of its channels). */
	known(doc: DocumentId): boolean;
	/** This client already holds (has opened or received) `doc`. */
	held(doc: DocumentId): boolean;
}

/**
 * The wire repo's share decisions. Non-strict documents are announced and served to every peer
 * (automerge-repo's default); strict ones only to authenticated readers. `announce` must refuse too,
 * since automerge-repo shares when `announce || (access && requested)`.
 *
 * A document a peer sends before this client can place it (a channel of a space whose document has
 * not arrived or been decrypted yet) is *foreign*: it may be strict, so it is kept and served to
 * peers that ask, but announced to nobody — no relay pushes it to a sync server — until the space
 * says what it is.
 */
export class DurabilitySharing {
	#foreign = new Set<DocumentId>();

	constructor(
		private readonly inputs: SharingInputs,
		private readonly directory: PeerDirectory
	) {}

	/** Synchronous decision (`announce`: push it to the peer; otherwise: serve it when asked). */
	mayShare(peer: PeerId, doc: DocumentId | undefined, announce = true): boolean {
		if (!doc) return true;
		const decision = this.inputs.strict(doc);
		if (decision)
			return decision.selfMayHold === true && decision.peerMayHold(this.directory.get(peer));
		if (this.#foreign.has(doc)) {
			if (!this.inputs.known(doc)) return !announce;
			this.#foreign.delete(doc);
		}
		return true;
	}

	/** Documents received before they could be placed, now placed: sharing must be re-evaluated. */
	settle(): boolean {
		let changed = false;
		for (const doc of this.#foreign)
			if (this.inputs.known(doc)) {
				this.#foreign.delete(doc);
				changed = true;
			}
		return changed;
	}

	get foreign(): number {
		return this.#foreign.size;
	}

	shareConfig() {
		return {
			announce: async (peer: PeerId, doc?: DocumentId) => this.mayShare(peer, doc, true),
			access: async (peer: PeerId, doc: DocumentId) => {
				// asked about a document before holding it: a peer is sending us something new
				if (doc && !this.inputs.held(doc) && !this.inputs.known(doc)) this.#foreign.add(doc);
				return this.mayShare(peer, doc, false);
			}
		};
	}
}

interface Checkpoint {
	/** Envelope heads this device had once the messages' entries were in the envelope. */
	heads: A.Heads;
	ids: Set<string>;
}

/**
 * Per-message delivery for one envelope: `pending` until a persistent node's reported heads include
 * the checkpoint heads recorded for the message, then `stored` (for good).
 */
export class DeliveryTracker {
	#checkpoints: Checkpoint[] = [];
	#state = new Map<string, Delivery>();
	#listeners = new Set<(stored: string[]) => void>();
	#scheduled = false;
	#stopped = false;
	readonly #offRemote: () => void;
	readonly #onLocal = () => {
		if (this.#checkpoints.length && this.#aheadOfUs) this.#schedule();
	};
	/**
	 * A node reported heads this device has not received: new local changes may be those, so the
	 * next ones are worth a check. Otherwise only a new report can change anything — checking on
	 * every incoming change cost a busy chat member a lookup per change and checkpoint.
	 */
	#aheadOfUs = false;

	constructor(
		private readonly handle: DocHandle<EnvelopeDoc>,
		/** What the client's persistent peers reported holding (the wire's `RemoteHeads`). */
		private readonly remote: RemoteHeads
	) {
		this.#offRemote = remote.onChange(handle.documentId, () => this.check());
		// a node may hold changes we had not received yet: decide again once they arrive
		handle.on('heads-changed', this.#onLocal);
	}

	/**
	 * Starts following messages whose entries are in the envelope at `heads` (default: now).
	 * Messages already followed keep their state.
	 */
	track(ids: string[], heads?: A.Heads): void {
		const fresh = ids.filter((id) => !this.#state.has(id));
		if (!fresh.length || this.#stopped) return;
		const doc = this.handle.doc();
		const at = heads ?? (doc ? A.getHeads(doc) : []);
		for (const id of fresh) this.#state.set(id, 'pending');
		const same = this.#checkpoints.find((c) => sameHeads(c.heads, at));
		if (same) for (const id of fresh) same.ids.add(id);
		else this.#checkpoints.push({ heads: at, ids: new Set(fresh) });
		this.#schedule();
	}

	delivery(id: string): Delivery | undefined {
		return this.#state.get(id);
	}

	/** Messages followed and not yet confirmed by a persistent node. */
	get pending(): number {
		let n = 0;
		for (const c of this.#checkpoints) n += c.ids.size;
		return n;
	}

	/** Calls `listener` with the ids that became `stored`. */
	onStored(listener: (stored: string[]) => void): () => void {
		this.#listeners.add(listener);
		return () => this.#listeners.delete(listener);
	}

	/**
	 * Resolves once `id` is stored; rejects with `unavailable` after `timeoutMs` (the message stays
	 * sent and pending) and with `invalid-argument` for a message not followed.
	 */
	whenStored(id: string, timeoutMs = 30_000): Promise<void> {
		const state = this.#state.get(id);
		if (state === 'stored') return Promise.resolve();
		if (!state)
			return Promise.reject(
				new CharterError('invalid-argument', `message ${id} is not followed for delivery`)
			);
		return new Promise<void>((resolve, reject) => {
			const timer = setTimeout(() => {
				off();
				reject(
					new CharterError(
						'unavailable',
						`no persistent node confirmed message ${id} within ${timeoutMs} ms; it stays pending and is delivered when one is reachable`
					)
				);
			}, timeoutMs);
			const off = this.onStored(() => {
				if (this.#state.get(id) !== 'stored') return;
				clearTimeout(timer);
				off();
				resolve();
			});
			this.#schedule();
		});
	}

	#schedule() {
		if (this.#scheduled || this.#stopped) return;
		this.#scheduled = true;
		setTimeout(() => {
			this.#scheduled = false;
			this.check();
		}, 0);
	}

	/** Compares every pending checkpoint with what each persistent node reported; returns the flips. */
	check(): string[] {
		if (this.#stopped || this.#checkpoints.length === 0) return [];
		const doc = this.handle.isReady() ? this.handle.doc() : undefined;
		if (!doc) return [];
		const covered = new Set<Checkpoint>();
		this.#aheadOfUs = false;
		for (const storageId of this.remote.persistentStorageIds()) {
			const theirs = this.remote.heads(this.handle.documentId, storageId);
			if (!theirs?.length) continue;
			const open = this.#checkpoints.filter((c) => !covered.has(c));
			if (!open.length) break;
			// (getMissingDeps asks the change graph; hasHeads would rebuild each change's bytes)
			if (A.getMissingDeps(doc, theirs).length > 0) {
				// the node holds changes we have not received: only an exact match can be decided now
				this.#aheadOfUs = true;
				const set = new Set(theirs);
				for (const c of open) if (c.heads.every((h) => set.has(h))) covered.add(c);
				continue;
			}
			// a checkpoint is covered when none of its heads is a change the node lacks
			const missing = new Set(A.getChangesMetaSince(doc, theirs).map((m) => m.hash));
			for (const c of open) if (c.heads.every((h) => !missing.has(h))) covered.add(c);
		}
		if (!covered.size) return [];
		const stored: string[] = [];
		for (const c of covered)
			for (const id of c.ids) {
				this.#state.set(id, 'stored');
				stored.push(id);
			}
		this.#checkpoints = this.#checkpoints.filter((c) => !covered.has(c));
		for (const listener of [...this.#listeners]) {
			try {
				listener(stored);
			} catch {
				/* a subscriber's bug must not stop delivery tracking */
			}
		}
		return stored;
	}

	stop(): void {
		this.#stopped = true;
		this.#offRemote();
		this.handle.off('heads-changed', this.#onLocal);
		this.#listeners.clear();
	}
}
