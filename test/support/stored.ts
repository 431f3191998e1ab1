/**
 * What a sync server's data directory holds, read as automerge-repo wrote it: the documents
 * (snapshot and incremental chunks of `NodeFSStorageAdapter`'s layout, `<2 chars>/<rest of the id>/
 * <kind>/<name>`), loaded with Automerge. Raw bytes alone do not say what is there: Automerge
 * deflates a document's large columns when it compacts, so an entry may be on disk and not show.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import * as A from '@automerge/automerge';
import { bytesWrittenBy } from '../../src/lib/sync/envelope.js';

/** Every file under `dir`, recursively. */
export async function filesUnder(dir: string): Promise<string[]> {
	const out: string[] = [];
	for (const entry of await readdir(dir, { withFileTypes: true })) {
		const path = join(dir, entry.name);
		if (entry.isDirectory()) out.push(...(await filesUnder(path)));
		else out.push(path);
	}
	return out;
}

/** Every document chunk file under `dataDir`: its document id, kind and path. */
export async function chunkFiles(
	dataDir: string
): Promise<{ id: string; kind: 'snapshot' | 'incremental'; file: string }[]> {
	const out: { id: string; kind: 'snapshot' | 'incremental'; file: string }[] = [];
	for (const file of await filesUnder(dataDir)) {
		const [a, b, kind, ...rest] = relative(dataDir, file).split(sep);
		if (rest.length !== 1 || (kind !== 'snapshot' && kind !== 'incremental')) continue;
		out.push({ id: a! + b!, kind, file });
	}
	return out;
}

/** The documents stored under `dataDir`, by document id. */
export async function storedDocuments(dataDir: string): Promise<Map<string, A.Doc<unknown>>> {
	const chunks = new Map<string, Uint8Array[]>();
	for (const { id, file } of await chunkFiles(dataDir))
		chunks.set(id, [...(chunks.get(id) ?? []), new Uint8Array(await readFile(file))]);
	const docs = new Map<string, A.Doc<unknown>>();
	for (const [id, parts] of chunks) {
		let doc = A.init<unknown>();
		for (const part of parts) doc = A.loadIncremental(doc, part);
		docs.set(id, doc);
	}
	return docs;
}

/** Every byte string written into any document stored under `dataDir`. */
export async function bytesStored(dataDir: string): Promise<Uint8Array[]> {
	const docs = await storedDocuments(dataDir);
	return [...docs.values()].flatMap((doc) => bytesWrittenBy(A.getAllChanges(doc)));
}
