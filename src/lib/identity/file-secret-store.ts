/**
 * Node secret store: one JSON file (`secrets.json`, mode 0600) in the client's data directory,
 * rewritten atomically (write to a 0600 temp file, fsync, rename) so a crash never leaves half a key.
 */
import { mkdir, open, readFile, rename, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import type { SecretStore } from './secret-store.js';
import { base64url } from '../util/bytes.js';

export class FileSecretStore implements SecretStore {
	readonly path: string;
	#values: Promise<Map<string, Uint8Array>>;
	#writing: Promise<void> = Promise.resolve();

	constructor(private readonly dir: string) {
		this.path = join(dir, 'secrets.json');
		this.#values = this.#load();
	}

	async #load(): Promise<Map<string, Uint8Array>> {
		await mkdir(this.dir, { recursive: true, mode: 0o700 });
		try {
			const json = JSON.parse(await readFile(this.path, 'utf8')) as Record<string, string>;
			await chmod(this.path, 0o600);
			return new Map(Object.entries(json).map(([k, v]) => [k, base64url.decode(v)]));
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
			throw error;
		}
	}

	async #persist(values: Map<string, Uint8Array>): Promise<void> {
		const text = JSON.stringify(
			Object.fromEntries([...values].map(([k, v]) => [k, base64url.encode(v)]))
		);
		const write = async () => {
			const tmp = `${this.path}.${process.pid}.tmp`;
			const handle = await open(tmp, 'w', 0o600);
			try {
				await handle.writeFile(text, 'utf8');
				await handle.sync();
			} finally {
				await handle.close();
			}
			await rename(tmp, this.path);
		};
		this.#writing = this.#writing.then(write, write);
		await this.#writing;
	}

	async get(name: string) {
		return (await this.#values).get(name);
	}
	async set(name: string, value: Uint8Array) {
		const values = await this.#values;
		values.set(name, Uint8Array.from(value));
		await this.#persist(values);
	}
	async delete(name: string) {
		const values = await this.#values;
		if (values.delete(name)) await this.#persist(values);
	}
	async list(prefix: string) {
		return [...(await this.#values).keys()].filter((k) => k.startsWith(prefix));
	}
}
