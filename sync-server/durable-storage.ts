/**
 * automerge-repo's nodefs storage, with two changes a long-running server needs; the files and
 * layout on disk are exactly the stock adapter's, so a data directory works with either.
 *
 *  - Atomic writes. The stock adapter writes chunks in place; a crash mid-write leaves a truncated
 *    chunk that fails the whole document's next load. Here each chunk is written to a temporary
 *    file outside the document tree and renamed into place, so a chunk is either whole or absent.
 *  - No unbounded cache. The stock adapter keeps every chunk it ever saved or loaded in memory for
 *    the life of the process — on a server, the whole data set. Loads go to disk instead (the page
 *    cache keeps hot files cheap); automerge-repo holds the documents it is syncing anyway.
 *
 * What the stock cache also gave is order: a range lists chunks saved by this process in the order
 * they were saved (automerge-repo's shared storage suite checks it; automerge-repo itself does not
 * depend on it). That order is kept as a list of key names only, then come chunks from earlier runs.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Chunk, StorageKey } from '@automerge/automerge-repo';
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs';

/** Where half-written chunks live until renamed: never inside a document's directory. */
export const TEMPORARY_DIRECTORY = '.incoming';

export class DurableNodeFSStorageAdapter extends NodeFSStorageAdapter {
	readonly #base: string;
	readonly #temporary: string;
	/** Key names saved by this process → when (a counter), for the order of a range. */
	readonly #saved = new Map<string, number>();
	#saves = 0;
	/** Writes and removals under way: `idle()` waits for them (a server's close, after its repo's). */
	readonly #inFlight = new Set<Promise<unknown>>();

	constructor(baseDirectory: string) {
		super(baseDirectory);
		this.#base = baseDirectory;
		this.#temporary = join(baseDirectory, TEMPORARY_DIRECTORY);
	}

	/** Clears temporary files a crash left behind (call before use). */
	async open(): Promise<this> {
		await rm(this.#temporary, { recursive: true, force: true });
		await mkdir(this.#temporary, { recursive: true });
		return this;
	}

	/**
	 * Resolves once no write or removal is under way. automerge-repo saves some things (a peer's
	 * sync state) on a timer that its flush and shutdown do not wait for.
	 */
	async idle(): Promise<void> {
		while (this.#inFlight.size) await Promise.allSettled([...this.#inFlight]);
	}

	#track<R>(work: Promise<R>): Promise<R> {
		this.#inFlight.add(work);
		void work.finally(() => this.#inFlight.delete(work)).catch(() => undefined);
		return work;
	}

	override save(keyArray: StorageKey, binary: Uint8Array): Promise<void> {
		return this.#track(this.#save(keyArray, binary));
	}

	async #save(keyArray: StorageKey, binary: Uint8Array): Promise<void> {
		const target = this.#pathOf(keyArray);
		const temporary = join(this.#temporary, randomBytes(12).toString('hex'));
		await mkdir(dirname(target), { recursive: true });
		await writeFile(temporary, binary);
		await rename(temporary, target);
		const name = keyArray.join('/');
		if (!this.#saved.has(name)) this.#saved.set(name, this.#saves++);
	}

	override async loadRange(keyPrefix: StorageKey): Promise<Chunk[]> {
		const chunks = await super.loadRange(keyPrefix);
		const rank = (chunk: Chunk) => this.#saved.get(chunk.key.join('/')) ?? Number.MAX_SAFE_INTEGER;
		return chunks.sort((a, b) => rank(a) - rank(b) || (a.key.join('/') < b.key.join('/') ? -1 : 1));
	}

	override remove(keyArray: StorageKey): Promise<void> {
		this.#saved.delete(keyArray.join('/'));
		return this.#track(super.remove(keyArray));
	}

	override removeRange(keyPrefix: StorageKey): Promise<void> {
		const prefix = keyPrefix.join('/');
		for (const key of this.#saved.keys())
			if (key === prefix || key.startsWith(`${prefix}/`)) this.#saved.delete(key);
		return this.#track(super.removeRange(keyPrefix));
	}

	/** The stock adapter's layout (its own helper is private): <key0[0..2]>/<key0[2..]>/<rest…>. */
	#pathOf([first, ...rest]: StorageKey): string {
		return join(this.#base, first!.slice(0, 2), first!.slice(2), ...rest);
	}
}
