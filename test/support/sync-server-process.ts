/** Starts the project's real sync server CLI as a child process on an ephemeral loopback port. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface SyncServerProcess {
	url: string;
	wsUrl: string;
	dataDir: string;
	child: ChildProcess;
	stop(): Promise<void>;
}

const root = resolve(import.meta.dirname, '../..');

export async function startSyncServerProcess(
	options: { dataDir?: string; args?: string[] } = {}
): Promise<SyncServerProcess> {
	const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'charter-server-')));
	const child = spawn(
		process.execPath,
		[
			// CHARTER_SERVER_CPU_PROF=<dir>: the server writes a CPU profile there when it stops (run
			// in this node process with tsx's loader: the tsx CLI would profile only its launcher)
			...(process.env.CHARTER_SERVER_CPU_PROF
				? ['--cpu-prof', `--cpu-prof-dir=${process.env.CHARTER_SERVER_CPU_PROF}`, '--import', 'tsx']
				: [join(root, 'node_modules/tsx/dist/cli.mjs')]),
			join(root, 'sync-server/main.ts'),
			'--port',
			'0',
			'--host',
			'127.0.0.1',
			'--data',
			dataDir,
			...(options.args ?? [])
		],
		{ cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } }
	);
	let stderr = '';
	child.stderr!.on('data', (d) => (stderr += d));
	// CHARTER_SERVER_LOG=1: the server's log lines (warn and above) on this process's stderr
	if (process.env.CHARTER_SERVER_LOG) child.stdout!.on('data', (d) => process.stderr.write(d));
	const url = await new Promise<string>((resolveUrl, reject) => {
		let out = '';
		const timer = setTimeout(
			() => reject(new Error(`sync server did not start:\n${out}\n${stderr}`)),
			30_000
		);
		child.stdout!.on('data', (d) => {
			out += d;
			const match = /listening on (http:\/\/\S+)/.exec(out);
			if (match) {
				clearTimeout(timer);
				resolveUrl(match[1]!);
			}
		});
		child.once('exit', (code) =>
			reject(new Error(`sync server exited with ${code}:\n${out}\n${stderr}`))
		);
	});
	return {
		url,
		wsUrl: url.replace(/^http/, 'ws'),
		dataDir,
		child,
		stop: () =>
			new Promise<void>((done) => {
				if (child.exitCode !== null) return done();
				child.once('exit', () => done());
				child.kill('SIGTERM');
				setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
			})
	};
}
