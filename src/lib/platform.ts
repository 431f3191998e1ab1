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

/**
 * Node only: accept direct peer connections (other clients, bots, the user's other devices) on a
 * WebSocket port — peer to peer, no sync server in between.
 */
export async function listenForPeers(port: number, host = '127.0.0.1') {
	const [{ createServer }, { WebSocketServer }, { WebSocketServerAdapter }] = await Promise.all([
		import('node:http'),
		import('ws'),
		import('@automerge/automerge-repo-network-websocket')
	]);
	const http = createServer((_req, res) => res.end());
	const wss = new WebSocketServer({ server: http });
	const adapter = new WebSocketServerAdapter(wss as never);
	await new Promise<void>((resolve, reject) => {
		http.once('error', reject);
		http.listen(port, host, () => resolve());
	});
	const address = http.address() as { port: number };
	return {
		adapter,
		url: `ws://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
		close: async () => {
			for (const client of wss.clients) client.terminate();
			await new Promise<void>((resolve) => wss.close(() => resolve()));
			await new Promise<void>((resolve) => http.close(() => resolve()));
		}
	};
}
