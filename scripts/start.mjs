#!/usr/bin/env node
/**
 * `npm start`: builds the web client when `build/` is missing or older than its sources, then runs
 * the sync server, which serves both the client and the WebSocket endpoint on one port.
 *
 * Defaults: port $PORT or 3030, address $HOST or 127.0.0.1, storage $CHARTER_DATA or
 * ./.charter-data/sync-server (the same defaults as `npm run sync-server`). Anything after `--` goes
 * to the sync server: `npm start -- --port 4000 --peer ws://other:3030`.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { buildClient, buildDir, root } from './client-build.mjs';

try {
	buildClient();
} catch (error) {
	console.error(String(error instanceof Error ? error.message : error));
	process.exit(1);
}

const data = resolve(process.env.CHARTER_DATA ?? join(root, '.charter-data', 'sync-server'));
const args = [
	join(root, 'sync-server', 'main.ts'),
	'--static',
	buildDir,
	'--data',
	data,
	...process.argv.slice(2)
];

// Its own process group, so a terminal's Ctrl+C reaches the server once (forwarded below), not once
// from the terminal and again from us: a second SIGINT would cut its final save short.
const server = spawn(join(root, 'node_modules', '.bin', 'tsx'), args, {
	cwd: root,
	stdio: ['ignore', 'pipe', 'inherit'],
	detached: true
});

let announced = false;
server.stdout.on('data', (chunk) => {
	process.stdout.write(chunk);
	if (announced) return;
	const match = /listening on (https?:\/\/\S+)/.exec(chunk.toString());
	if (!match) return;
	announced = true;
	console.log(`\n  Charter is running: open ${match[1]} in your browser.`);
	console.log(`  Sync server storage: ${data}`);
	console.log('  Press Ctrl+C to stop.\n');
});

let stopping = false;
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
	process.on(signal, () => {
		if (stopping) return;
		stopping = true;
		server.kill(signal === 'SIGHUP' ? 'SIGTERM' : signal);
		// Never leave an orphan behind if it does not stop in time.
		setTimeout(() => server.kill('SIGKILL'), 15_000).unref();
	});
}
process.on('exit', () => {
	if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
});
server.on('exit', (code, signal) => {
	if (!announced && code) console.error(`The sync server exited with code ${code}.`);
	process.exit(code ?? (signal ? 0 : 1));
});
