/**
 * Runs a bench script in a fresh Node process (`node [nodeArgs] --import tsx script ...args`, from the
 * project root) and returns the JSON object it prints on a line of its own: a measurement that must
 * not inherit the heap, caches or wasm memory of whatever this process ran before.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export async function jsonFromFreshProcess<T>(
	script: string,
	args: string[],
	{ nodeArgs = [], what }: { nodeArgs?: string[]; what: string }
): Promise<T> {
	const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, ...args], {
		cwd: resolve(import.meta.dirname, '..'),
		stdio: ['ignore', 'pipe', 'inherit']
	});
	let out = '';
	child.stdout!.on('data', (d) => (out += d));
	const code = await new Promise<number | null>((r) => child.once('exit', r));
	const line = out.split('\n').find((l) => l.startsWith('{'));
	if (code !== 0 || !line) throw new Error(`${what} failed: ${out}`);
	return JSON.parse(line) as T;
}
