/**
 * Browser tests run against the real thing: the production build of the web client, served by the
 * real sync server CLI on an ephemeral loopback port with a fresh data directory.
 */
import type { TestProject } from 'vitest/node';
import { buildClient, buildDir } from '../../scripts/client-build.mjs';
import { startSyncServerProcess, type SyncServerProcess } from '../support/sync-server-process.js';

let server: SyncServerProcess | undefined;
let stopping = false;

export async function setup(project: TestProject) {
	buildClient({ quiet: true });
	server = await startSyncServerProcess({ args: ['--static', buildDir] });
	// A server that dies mid-run would show up as "connection refused" in the browser: say why.
	let stderr = '';
	server.child.stderr?.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
	const child = server.child;
	child.once('exit', (code, signal) => {
		if (stopping) return;
		console.error(
			`\nThe sync server under test exited (code ${code}, signal ${signal}):\n${stderr}`
		);
	});
	project.provide('baseUrl', server.url);
	project.provide('wsUrl', server.wsUrl);
}

export async function teardown() {
	stopping = true;
	await server?.stop();
}

declare module 'vitest' {
	export interface ProvidedContext {
		baseUrl: string;
		wsUrl: string;
	}
}
