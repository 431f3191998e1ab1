/**
 * automerge-repo reports some internal trouble with console.log — on stdout, and with whole wire
 * messages as arguments (e.g. "error receiving message", { err, message }). The CLI promises one
 * line on stdout and logs without payloads, so in the CLI every console method goes to the pino log
 * on stderr instead, reduced to text: strings, error messages, and sizes in place of byte arrays.
 */
import type { Logger } from 'pino';

const MAX_TEXT = 500;

export function routeConsoleToLog(log: Logger): void {
	const write = (...args: unknown[]) =>
		log.warn(
			{ source: 'console' },
			args
				.map((arg) => describe(arg))
				.join(' ')
				.slice(0, MAX_TEXT)
		);
	console.log = write;
	console.info = write;
	console.warn = write;
	console.error = write;
	console.debug = () => undefined;
	console.trace = () => undefined;
}

function describe(value: unknown, depth = 0): string {
	if (typeof value === 'string') return value;
	if (value instanceof Error) return `${value.name}: ${value.message}`;
	if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
	if (value === null || typeof value !== 'object') return String(value);
	if (depth > 0) return '{…}';
	// one level of keys, so "{ err, message }" shows the error and the message's kind, not its data
	const entries = Object.entries(value as Record<string, unknown>).map(([key, v]) => {
		if (v && typeof v === 'object' && !(v instanceof Error) && !(v instanceof Uint8Array)) {
			const kind = (v as { type?: unknown }).type;
			return `${key}: ${typeof kind === 'string' ? `<${kind} message>` : '{…}'}`;
		}
		return `${key}: ${describe(v, depth + 1)}`;
	});
	return `{ ${entries.join(', ')} }`;
}
