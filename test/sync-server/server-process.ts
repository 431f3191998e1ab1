/**
 * The sync server CLI as one real child process (`node --import tsx sync-server/main.ts`, no tsx
 * wrapper process in between, so a SIGKILL really kills the server).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface ServerProcess {
	url: string;
	wsUrl: string;
	dataDir: string;
	child: ChildProcess;
	stdout: () => string;
	stderr: () => string;
	/** Sends the signal and resolves with the exit code. */
	stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const root = resolve(import.meta.dirname, '../..');

export async function spawnServer(
	options: { dataDir?: string; args?: string[]; env?: NodeJS.ProcessEnv } = {}
): Promise<ServerProcess> {
	const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'charter-sync-')));
	const child = spawn(
		process.execPath,
		[
			'--import',
			'tsx',
			join(root, 'sync-server/main.ts'),
			'--port',
			'0',
			'--data',
			dataDir,
			...(options.args ?? [])
		],
		{
			cwd: root,
			stdio: ['ignore', 'pipe', 'pipe'],
			env: { ...process.env, LOG_LEVEL: 'warn', ...options.env }
		}
	);
	// never outlive the test process, whatever happens to its cleanup
	const reap = () => child.kill('SIGKILL');
	process.once('exit', reap);
	child.once('exit', () => process.off('exit', reap));
	let out = '';
	let err = '';
	child.stderr!.on('data', (d) => (err += d));
	const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
	const url = await new Promise<string>((resolveUrl, reject) => {
		const timer = setTimeout(
			() => reject(new Error(`sync server did not start:\n${out}\n${err}`)),
			20_000
		);
		child.stdout!.on('data', (d) => {
			out += d;
			const match = /listening on (http:\/\/\S+)/.exec(out);
			if (match) {
				clearTimeout(timer);
				resolveUrl(match[1]!);
			}
		});
		void exited.then((code) =>
			reject(new Error(`sync server exited with ${code}:\n${out}\n${err}`))
		);
	});
	return {
		url,
		wsUrl: url.replace(/^http/, 'ws'),
		dataDir,
		child,
		stdout: () => out,
		stderr: () => err,
		stop(signal = 'SIGTERM') {
			if (child.exitCode === null && child.signalCode === null) child.kill(signal);
			return exited;
		}
	};
}

/**
 * Polls `url` one request after another from a separate process (so the test's own work, such as
 * opening hundreds of sockets, cannot delay the poller) until `stop()`, which resolves with the
 * longest wait for an answer, in milliseconds, counting a request still in flight at the end.
 */
export function pollUntilStopped(url: string): { stop(): Promise<number> } {
	const script = `
		let worst = 0, stopped = false;
		process.stdin.on('end', () => (stopped = true)).resume();
		while (!stopped) {
			const since = performance.now();
			await fetch(process.env.POLL_URL).then((r) => r.text()).catch(() => undefined);
			worst = Math.max(worst, performance.now() - since);
			await new Promise((r) => setTimeout(r, 20));
		}
		process.stdout.write(JSON.stringify({ worst }));`;
	const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
		stdio: ['pipe', 'pipe', 'inherit'],
		env: { ...process.env, POLL_URL: url }
	});
	const reap = () => child.kill('SIGKILL');
	process.once('exit', reap);
	let out = '';
	child.stdout!.on('data', (d) => (out += d));
	const exited = new Promise<void>((r) => child.once('exit', () => r()));
	return {
		async stop() {
			child.stdin!.end();
			await exited;
			process.off('exit', reap);
			return (JSON.parse(out) as { worst: number }).worst;
		}
	};
}
