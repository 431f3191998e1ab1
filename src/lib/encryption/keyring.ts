/**
 * Epoch keys this device holds, per space, document and epoch. Keys come from lockboxes (or are made
 * here) and are cached in the SecretStore, never in a repo.
 */
import { base58 } from '../util/bytes.js';
import type { SecretStore } from '../identity/secret-store.js';
import { ID_BYTES } from '../identity/ids.js';
import { hash, newKey } from '../crypto/primitives.js';
import { DOMAIN } from '../crypto/domains.js';
import { bytesEqual } from '../util/bytes.js';

/**
 * An epoch id is the hash of its key: a lockbox can name an epoch and deliver a key, but never a
 * wrong key for a real epoch (no lock-out by bogus lockboxes), and knowing the id reveals nothing.
 */
export function epochIdOf(key: Uint8Array): Uint8Array {
	return hash(DOMAIN.epochId, key).subarray(0, ID_BYTES);
}

export interface EpochKey {
	document: Uint8Array;
	epoch: Uint8Array;
	key: Uint8Array;
}

const slot = (space: Uint8Array, document: Uint8Array, epoch: Uint8Array) =>
	`epoch/${base58.encode(space)}/${base58.encode(document)}/${base58.encode(epoch)}`;

export class KeyRing {
	#keys = new Map<string, Uint8Array>();
	#listeners = new Set<() => void>();

	private constructor(
		private readonly store: SecretStore,
		private readonly space: Uint8Array
	) {}

	static async load(store: SecretStore, space: Uint8Array): Promise<KeyRing> {
		const ring = new KeyRing(store, space);
		const prefix = `epoch/${base58.encode(space)}/`;
		for (const name of await store.list(prefix)) {
			const key = await store.get(name);
			if (key) ring.#keys.set(name, key);
		}
		return ring;
	}

	get(document: Uint8Array, epoch: Uint8Array): Uint8Array | undefined {
		return this.#keys.get(slot(this.space, document, epoch));
	}

	has(document: Uint8Array, epoch: Uint8Array): boolean {
		return this.#keys.has(slot(this.space, document, epoch));
	}

	/** Adds a key; returns false when it was already known or is not the key of that epoch. */
	async add(document: Uint8Array, epoch: Uint8Array, key: Uint8Array): Promise<boolean> {
		if (!bytesEqual(epochIdOf(key), epoch)) return false;
		const name = slot(this.space, document, epoch);
		if (this.#keys.has(name)) return false;
		this.#keys.set(name, key);
		await this.store.set(name, key);
		for (const listener of this.#listeners) listener();
		return true;
	}

	/** Makes and keeps a fresh epoch for a document. */
	async createEpoch(document: Uint8Array): Promise<EpochKey> {
		const key = newKey();
		const epoch = epochIdOf(key);
		await this.add(document, epoch, key);
		return { document, epoch, key };
	}

	/** Every key held for a document (all its epochs this device could read). */
	allFor(document: Uint8Array): EpochKey[] {
		const prefix = `epoch/${base58.encode(this.space)}/${base58.encode(document)}/`;
		return [...this.#keys]
			.filter(([name]) => name.startsWith(prefix))
			.map(([name, key]) => ({ document, epoch: base58.decode(name.slice(prefix.length)), key }));
	}

	onChange(listener: () => void): () => void {
		this.#listeners.add(listener);
		return () => this.#listeners.delete(listener);
	}
}
