/**
 * Storage defaults per platform, loaded lazily so browser bundles never pull in `node:fs`.
 */
import type { StorageAdapterInterface } from '@automerge/automerge-repo';
import type { SecretStore } from './identity/secret-store.js';

export interface PlatformStores {
	wire?: StorageAdapterInterface;
	local?: StorageAdapterInterface;
	secrets: SecretStore;
}

export async function nodeStores(dataDir: string): Promise<PlatformStores> {
	const [{ NodeFSStorageAdapter }, { FileSecretStore }, { join }] = await Promise.all([
		import('@automerge/automerge-repo-storage-nodefs'),
		import('./identity/file-secret-store.js'),
		import('node:path')
	]);
	return {
		wire: new NodeFSStorageAdapter(join(dataDir, 'wire')),
		local: new NodeFSStorageAdapter(join(dataDir, 'local')),
		secrets: new FileSecretStore(dataDir)
	};
}

export async function browserStores(name: string): Promise<PlatformStores> {
	const [{ IndexedDBStorageAdapter }, { IndexedDBSecretStore }] = await Promise.all([
		import('@automerge/automerge-repo-storage-indexeddb'),
		import('./identity/secret-store.js')
	]);
	return {
		wire: new IndexedDBStorageAdapter(`${name}-wire`),
		local: new IndexedDBStorageAdapter(`${name}-local`),
		secrets: new IndexedDBSecretStore(`${name}-secrets`)
	};
}

export async function memoryStores(): Promise<PlatformStores> {
	const { MemorySecretStore } = await import('./identity/secret-store.js');
	return { secrets: new MemorySecretStore() };
}
