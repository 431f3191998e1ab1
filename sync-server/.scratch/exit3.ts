import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Repo } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { startSyncServer } from '../server.ts';
const log = pino({ level: 'silent' });
const mode = process.argv[2];
const a = await startSyncServer({ port: 0, dataDir: await mkdtemp(join(tmpdir(), 'x-')), logger: log });
const repo = new Repo({ network: [new WebSocketClientAdapter(a.wsUrl)] });
repo.create({ a: 1 });
await new Promise((r) => setTimeout(r, 300));
if (mode === 'server-first') { await a.close(); await repo.shutdown(); }
else { await repo.shutdown(); await a.close(); }
const start = performance.now();
process.on('exit', () => console.log(mode, 'exit after close', (performance.now() - start).toFixed(0)));
