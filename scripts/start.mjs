#!/usr/bin/env node
/**
 * `npm start`: builds the web client when it is missing or older than its sources, then runs the
 * sync server on one port serving both the client and the WebSocket endpoint, on local defaults.
 * Honours PORT, HOST and CHARTER_DATA.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const bin = (name) => join(root, 'node_modules', '.bin', name);

function newest(path) {
	if (!existsSync(path)) return 0;
	const info = statSync(path);
	if (!info.isDirectory()) return info.mtimeMs;
	return Math.max(info.mtimeMs, ...readdirSync(path).map((entry) => newest(join(path, entry))));
}

const built = join(root, 'build', 'index.html');
const sources = Math.max(newest(join(root, 'src')), newest(join(root, 'static')), newest(join(root, 'svelte.config.js')), newest(join(root, 'vite.config.ts')));
if (!existsSync(built) || statSync(built).mtimeMs < sources) {
	console.log('Building the web client…');
	const result = spawnSync(bin('vite'), ['build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
	if (result.status !== 0) process.exit(result.status ?? 1);
}

const data = resolve(process.env.CHARTER_DATA ?? join(root, '.charter-data'));
const args = [join(root, 'sync-server', 'main.ts'), '--static', join(root, 'build'), '--data', join(data, 'sync-server'), ...process.argv.slice(2)];
const server = spawn(bin('tsx'), args, { cwd: root, stdio: ['inherit', 'pipe', 'inherit'], env: process.env });
server.stdout.on('data', (chunk) => {
	const text = chunk.toString();
	process.stdout.write(text);
	const match = /listening on (http:\/\/\S+)/.exec(text);
	if (match) console.log(`\nOpen ${match[1]} in your browser. Data is kept in ${data}. Press Ctrl+C to stop.`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.kill(signal));
server.on('exit', (code) => process.exit(code ?? 0));
