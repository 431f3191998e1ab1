/**
 * Where secrets live: never in a repo, never on the wire. The store is a seam with one
 * implementation per platform (a 0600 file in Node, IndexedDB in browsers, memory in tests).
 */
export interface SecretStore {
	get(name: string): Promise<Uint8Array | undefined>;
	set(name: string, value: Uint8Array): Promise<void>;
	delete(name: string): Promise<void>;
	list(prefix: string): Promise<string[]>;
}

export class MemorySecretStore implements SecretStore {
	#values = new Map<string, Uint8Array>();
	async get(name: string) {
		return this.#values.get(name);
	}
	async set(name: string, value: Uint8Array) {
		this.#values.set(name, Uint8Array.from(value));
	}
	async delete(name: string) {
		this.#values.delete(name);
	}
	async list(prefix: string) {
		return [...this.#values.keys()].filter((k) => k.startsWith(prefix));
	}
}

/** Browser store: one IndexedDB object store of name → bytes. */
export class IndexedDBSecretStore implements SecretStore {
	#db: Promise<IDBDatabase>;
	constructor(databaseName = 'charter-secrets') {
		this.#db = new Promise((resolve, reject) => {
			const request = indexedDB.open(databaseName, 1);
			request.onupgradeneeded = () => request.result.createObjectStore('secrets');
			request.onsuccess = () => resolve(request.result);
			request.onerror = () => reject(request.error);
		});
	}
	async #run<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
		const db = await this.#db;
		return new Promise((resolve, reject) => {
			const tx = db.transaction('secrets', mode);
			const request = fn(tx.objectStore('secrets'));
			tx.oncomplete = () => resolve(request.result);
			tx.onerror = () => reject(tx.error);
			tx.onabort = () => reject(tx.error);
		});
	}
	async get(name: string) {
		const value = await this.#run('readonly', (s) => s.get(name));
		return value instanceof Uint8Array ? value : undefined;
	}
	async set(name: string, value: Uint8Array) {
		await this.#run('readwrite', (s) => s.put(Uint8Array.from(value), name));
	}
	async delete(name: string) {
		await this.#run('readwrite', (s) => s.delete(name));
	}
	async list(prefix: string) {
		const keys = await this.#run('readonly', (s) => s.getAllKeys());
		return keys.map(String).filter((k) => k.startsWith(prefix));
	}
	async close() {
		(await this.#db).close();
	}
}
