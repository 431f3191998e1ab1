/**
 * The web client's build, shared by `npm start` and the browser tests: `vite build` into `build/`
 * when `build/` is missing or older than anything it is made from.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const buildDir = join(root, 'build');

/** What the client is built from: a change to any of these makes `build/` stale. */
const SOURCES = [
	'src',
	'static',
	'svelte.config.js',
	'vite.config.ts',
	'package.json',
	'package-lock.json'
];

/** Newest modification time under `path` (0 when it does not exist). */
function newest(path) {
	if (!existsSync(path)) return 0;
	const info = statSync(path);
	if (!info.isDirectory()) return info.mtimeMs;
	let time = info.mtimeMs;
	for (const entry of readdirSync(path)) time = Math.max(time, newest(join(path, entry)));
	return time;
}

/** True when `build/` is missing or older than its sources. */
export function clientIsStale() {
	const index = join(buildDir, 'index.html');
	if (!existsSync(index)) return true;
	const built = statSync(index).mtimeMs;
	return SOURCES.some((source) => newest(join(root, source)) > built);
}

/**
 * Runs `vite build` (always a production build: NODE_ENV is forced, since a test runner's
 * NODE_ENV=test would otherwise make Svelte and SvelteKit ship their development code).
 * @param {{ force?: boolean, quiet?: boolean }} [options]
 * @returns {boolean} whether it built
 */
export function buildClient({ force = false, quiet = false } = {}) {
	if (!force && !clientIsStale()) return false;
	if (!quiet) console.log('Building the web client…');
	const result = spawnSync(
		join(root, 'node_modules', '.bin', 'vite'),
		['build', '--logLevel', 'error'],
		{
			cwd: root,
			stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit',
			env: { ...process.env, NODE_ENV: 'production' }
		}
	);
	if (result.error) throw result.error;
	if (result.status !== 0)
		throw new Error(`vite build failed (exit ${result.status ?? result.signal})`);
	return true;
}
