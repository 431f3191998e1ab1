/**
 * Bytes held per document and in total, for quotas and the documents gauge. Seeded from the data
 * directory at start (NodeFSStorageAdapter keeps one directory per document,
 * <id[0..2]>/<id[2..]>/…) and grown by the change bytes accepted since. Compaction on disk only ever
 * shrinks what is stored, so the ledger errs on the side of refusing.
 */
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { isValidDocumentId } from '@automerge/automerge-repo';
import type { Limits } from './config.js';
import type { RejectionReason } from './metrics.js';

export class StorageLedger {
	#bytes = new Map<string, number>();
	#total = 0;
	/** Documents a peer asked for that hold nothing here yet: the repo keeps a handle for each. */
	#askedFor = new Set<string>();

	constructor(
		dataDir: string,
		private readonly limits: Pick<Limits, 'maxDocumentBytes' | 'maxTotalBytes'>
	) {
		if (!existsSync(dataDir)) return;
		for (const prefix of readdirSync(dataDir)) {
			const dir = join(dataDir, prefix);
			if (prefix.length !== 2 || !statSync(dir).isDirectory()) continue;
			for (const rest of readdirSync(dir)) {
				// the same layout also holds the adapter's own "storage-adapter-id" key: skip non-documents
				if (!isValidDocumentId(prefix + rest)) continue;
				const size = sizeOf(join(dir, rest));
				this.#bytes.set(prefix + rest, size);
				this.#total += size;
			}
		}
	}

	get documents(): number {
		return this.#bytes.size;
	}

	/** Documents held in any form: stored, or asked for since start (what --max-documents bounds). */
	get held(): number {
		return this.#bytes.size + this.#askedFor.size;
	}

	/** Whether the server has seen this document at all: stored, or asked for since start. */
	knows(documentId: string): boolean {
		return this.#bytes.has(documentId) || this.#askedFor.has(documentId);
	}

	/** A peer asked for a document held nowhere here (the repo now holds a handle for it). */
	askedFor(documentId: string): void {
		if (!this.#bytes.has(documentId)) this.#askedFor.add(documentId);
	}

	get totalBytes(): number {
		return this.#total;
	}

	/** Every document id held (on disk at start, or received since). */
	ids(): IterableIterator<string> {
		return this.#bytes.keys();
	}

	has(documentId: string): boolean {
		return this.#bytes.has(documentId);
	}

	wouldExceed(
		documentId: string,
		incoming: number
	): Extract<RejectionReason, 'document-quota' | 'total-quota'> | undefined {
		const current = this.#bytes.get(documentId) ?? 0;
		if (this.limits.maxDocumentBytes && current + incoming > this.limits.maxDocumentBytes)
			return 'document-quota';
		if (this.limits.maxTotalBytes && this.#total + incoming > this.limits.maxTotalBytes)
			return 'total-quota';
		return undefined;
	}

	add(documentId: string, bytes: number): void {
		this.#askedFor.delete(documentId);
		this.#bytes.set(documentId, (this.#bytes.get(documentId) ?? 0) + bytes);
		this.#total += bytes;
	}
}

function sizeOf(path: string): number {
	const info = statSync(path);
	if (!info.isDirectory()) return info.size;
	let total = 0;
	for (const entry of readdirSync(path)) total += sizeOf(join(path, entry));
	return total;
}
