import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startSyncServerProcess, type SyncServerProcess } from '../support/sync-server-process.js';

const root = resolve(import.meta.dirname, '../..');
let server: SyncServerProcess | undefined;

export async function setup(project: TestProject) {
	const build = spawnSync(join(root, 'node_modules/.bin/vite'), ['build', '--logLevel', 'error'], { cwd: root, stdio: 'inherit' });
	if (build.status !== 0) throw new Error('vite build failed');
	server = await startSyncServerProcess({ args: ['--static', join(root, 'build')] });
	project.provide('baseUrl', server.url);
}

export async function teardown() {
	await server?.stop();
}

declare module 'vitest' {
	export interface ProvidedContext {
		baseUrl: string;
	}
}
