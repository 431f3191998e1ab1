/**
 * The baseline: a plain automerge-repo sync server (as automerge-repo-sync-server does it: ws +
 * NodeWSServerAdapter + NodeFSStorageAdapter, sharePolicy false), for side-by-side benchmarks.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { Repo } from '@automerge/automerge-repo';
import { NodeWSServerAdapter } from '@automerge/automerge-repo-network-websocket';
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs';

const dataDir = process.argv[process.argv.indexOf('--data') + 1] ?? './.stock-data';
const http = createServer((req, res) =>
	res.end(
		req.url === '/healthz' ? JSON.stringify({ ok: true, rssBytes: process.memoryUsage().rss }) : ''
	)
);
const wss = new WebSocketServer({ server: http });
new Repo({
	network: [new NodeWSServerAdapter(wss as never)],
	storage: new NodeFSStorageAdapter(dataDir),
	sharePolicy: async () => false
});
await new Promise((r) => setTimeout(r, 100));
http.listen(0, '127.0.0.1', () =>
	console.log(
		`Charter sync server listening on http://127.0.0.1:${(http.address() as AddressInfo).port}`
	)
);
process.on('SIGTERM', () => process.exit(0));
