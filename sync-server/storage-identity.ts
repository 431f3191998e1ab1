/**
 * The server's storage id: the name automerge-repo announces to peers for this data directory, and
 * the one clients see in `remote-heads` once the server holds their changes (Charter's
 * "guaranteed" durability waits for it). It must never change for a data directory.
 *
 * automerge-repo 2.5.6 creates it lazily, and two concurrent first calls (the repo's own peer
 * metadata and any caller of repo.storageId()) each generate and save a different one: clients
 * would be told one id while another lands on disk, and after a restart every confirmation would
 * point to a storage that no longer exists. So the id is settled here, before the repo exists.
 */
import { randomUUID } from 'node:crypto';
import type { StorageAdapterInterface, StorageId } from '@automerge/automerge-repo';

/** The key automerge-repo's StorageSubsystem keeps the id under. */
const STORAGE_ID_KEY = ['storage-adapter-id'];

export async function settleStorageId(storage: StorageAdapterInterface): Promise<StorageId> {
	const stored = await storage.load(STORAGE_ID_KEY);
	if (stored) return new TextDecoder().decode(stored) as StorageId;
	const id = randomUUID();
	await storage.save(STORAGE_ID_KEY, new TextEncoder().encode(id));
	return id as StorageId;
}
