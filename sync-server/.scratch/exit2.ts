import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startSyncServer } from '../server.ts';
const log = pino({ level: 'silent' });
const mode = process.argv[2];
const t = 'x'.repeat(20);
const a = await startSyncServer({ port: 0, dataDir: await mkdtemp(join(tmpdir(), 'x-')), logger: log, peerToken: t });
if (mode === 'peer') {
  const b = await startSyncServer({ port: 0, dataDir: await mkdtemp(join(tmpdir(), 'x-')), logger: log, peerToken: t, peers: [a.wsUrl] });
  await new Promise((r) => setTimeout(r, 500));
  await b.close();
}
if (mode === 'fetch') await fetch(a.url + '/healthz');
await a.close();
const start = performance.now();
process.on('exit', () => console.log(mode, 'exit after close', (performance.now() - start).toFixed(0)));
