/**
 * An app-declared document type inside a space: any Automerge shape, governed by the app's own rule
 * table (the same engine as channels), readable by every member, sealed under keys derived from the
 * space document's epoch keys (so a space key rotation covers it too).
 */
import * as A from '@automerge/automerge';
import { CharterError } from '../errors.js';
import { RuleDocumentValidator } from '../authority/document-validators.js';
import type { RuleSet } from '../authority/rules.js';
import { ROOT_ACTOR } from '../authority/schema.js';
import { DOMAIN, KDF } from '../crypto/domains.js';
import { deriveKey, hash } from '../crypto/primitives.js';
import type { KeyRing } from '../encryption/keyring.js';
import { ID_BYTES } from '../identity/ids.js';
import { DocumentReplica } from '../sync/replica.js';
import { utf8 } from '../util/bytes.js';
import type { ClientContext, SpaceView } from './context.js';

export interface SharedDocumentType<T> {
	/** Unique name of the document within the space, e.g. "polls" or "myapp/board". */
	name: string;
	/** The rule table every change must satisfy (see docs/embedding.md). */
	rules: RuleSet<T>;
	/** Creates the top-level containers; runs once, deterministically, on every peer. */
	init(doc: T): void;
}

export class SharedDocument<T> {
	#listeners = new Set<(doc: A.Doc<T>) => void>();

	private constructor(
		readonly name: string,
		/** @internal The document id (16 bytes) inside the space. */
		readonly idBytes: Uint8Array,
		/** @internal Its space, as the space's children see it (context.ts). */
		readonly space: SpaceView,
		private readonly replica: DocumentReplica<T>,
		private readonly rebuildWith: () => RuleDocumentValidator<T>
	) {
		replica.subscribe((doc) => {
			for (const listener of this.#listeners) listener(doc);
		});
	}

	/** @internal Opened by `space.openDocument()`. */
	static async open<T>(
		space: SpaceView,
		type: SharedDocumentType<T>,
		context: ClientContext,
		ring: KeyRing
	): Promise<SharedDocument<T>> {
		const document = hash(DOMAIN.appDocument, space.idBytes, utf8.encode(type.name)).subarray(
			0,
			ID_BYTES
		);
		const root = A.save(
			A.change(A.init<T>({ actor: ROOT_ACTOR }), { time: 0 }, (d) => type.init(d as T))
		);
		const validator = () =>
			new RuleDocumentValidator<T>(undefined, type.rules, root, () => space.evaluation);
		const derived = (epoch: Uint8Array) => {
			const spaceKey = ring.get(space.idBytes, epoch);
			return spaceKey && deriveKey(spaceKey, document, KDF.appDocument);
		};
		const replica = await DocumentReplica.open<T>({
			space: space.idBytes,
			document,
			wire: context.wire,
			local: context.local,
			root,
			keys: { get: (_document, epoch) => derived(epoch) },
			signer: context.signer,
			validator: validator(),
			currentEpoch: () => space.currentEpoch(space.idBytes),
			context: () => space.contextHeads
		});
		return new SharedDocument(type.name, document, space, replica, validator);
	}

	/** The current (valid) state. */
	get value(): A.Doc<T> {
		return this.replica.doc;
	}

	/** Changes the document; refused with `not-authorized` if the rules refuse it. */
	async change(fn: A.ChangeFn<T>): Promise<void> {
		if (!this.space.isMember)
			throw new CharterError('not-authorized', 'you are not a member of this space');
		await this.space.ensureEpoch(this.space.idBytes);
		await this.replica.change(fn);
	}

	subscribe(listener: (doc: A.Doc<T>) => void): () => void {
		this.#listeners.add(listener);
		listener(this.replica.doc);
		return () => this.#listeners.delete(listener);
	}

	get rejections() {
		return this.replica.rejections;
	}

	/** @internal */
	reevaluate(): Promise<void> {
		return this.replica.reevaluate();
	}

	/** @internal */
	rebuild(): Promise<void> {
		return this.replica.rebuild({ validator: this.rebuildWith() });
	}

	/** @internal */
	settled(): Promise<void> {
		return this.replica.settled();
	}

	/** @internal */
	close(): Promise<void> {
		this.#listeners.clear();
		return this.replica.close();
	}
}
