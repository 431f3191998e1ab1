/**
 * Configuration from flags and environment (flags win). Every option has a safe default for a
 * single small server; `--help` lists them all.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';

export interface Limits {
	/** Largest WebSocket message a client may send (bytes). */
	maxMessageBytes: number;
	/** Sustained messages per second per connection (bursts up to 2×). */
	messagesPerSecond: number;
	/** Sustained bytes per second per connection (bursts up to 4×). */
	bytesPerSecond: number;
	/** New documents one connection may create per hour. */
	documentsPerHour: number;
	/** Storage per document (bytes); 0 = unlimited. */
	maxDocumentBytes: number;
	/** Storage for the whole server (bytes); 0 = unlimited. */
	maxTotalBytes: number;
}

export interface SyncServerConfig {
	port: number;
	host: string;
	dataDir: string;
	staticDir?: string;
	logLevel: string;
	peers: string[];
	/** Admission: only envelope documents of these spaces (ids) or owners (user ids). Empty = any. */
	allow: string[];
	limits: Limits;
}

export const DEFAULT_LIMITS: Limits = {
	maxMessageBytes: 16 * 1024 * 1024,
	messagesPerSecond: 500,
	bytesPerSecond: 16 * 1024 * 1024,
	documentsPerHour: 2000,
	maxDocumentBytes: 512 * 1024 * 1024,
	maxTotalBytes: 0
};

export const HELP = `Charter sync server — stores and relays ciphertext envelope documents; holds no keys.

Usage: npm run sync-server -- [options]

  --port <n>                 port (env PORT, default 3030; 0 picks a free port)
  --host <addr>              address to bind (env HOST, default 127.0.0.1)
  --data <dir>               storage directory (env CHARTER_DATA, default ./.charter-data/sync-server)
  --static <dir>             also serve this directory (the built web client) on the same port
  --log-level <level>        fatal|error|warn|info|debug|trace|silent (env LOG_LEVEL, default info)
  --peer <ws-url>            replicate with another sync server (repeatable; env CHARTER_PEERS, comma-separated)
  --spaces-allow <ids>       store only envelope documents of these space ids or owner user ids
                             (comma-separated or repeated; env CHARTER_SPACES_ALLOW). Default: store any.
  --max-message-bytes <n>    largest client message (default ${DEFAULT_LIMITS.maxMessageBytes})
  --messages-per-second <n>  per-connection message rate (default ${DEFAULT_LIMITS.messagesPerSecond})
  --bytes-per-second <n>     per-connection byte rate (default ${DEFAULT_LIMITS.bytesPerSecond})
  --documents-per-hour <n>   new documents per connection per hour (default ${DEFAULT_LIMITS.documentsPerHour})
  --max-document-bytes <n>   storage quota per document, 0 = none (default ${DEFAULT_LIMITS.maxDocumentBytes})
  --max-total-bytes <n>      storage quota for the server, 0 = none (default 0)
  --help                     show this help

Endpoints: WebSocket on any path; GET /healthz, /readyz, /metrics (Prometheus).
`;

export class ConfigError extends Error {}

const LIMIT_FLAGS: Record<string, keyof Limits> = {
	'max-message-bytes': 'maxMessageBytes',
	'messages-per-second': 'messagesPerSecond',
	'bytes-per-second': 'bytesPerSecond',
	'documents-per-hour': 'documentsPerHour',
	'max-document-bytes': 'maxDocumentBytes',
	'max-total-bytes': 'maxTotalBytes'
};

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): SyncServerConfig | 'help' {
	let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
	try {
		({ values } = parseArgs({
			args: argv,
			options: {
				port: { type: 'string' },
				host: { type: 'string' },
				data: { type: 'string' },
				static: { type: 'string' },
				'log-level': { type: 'string' },
				peer: { type: 'string', multiple: true },
				'spaces-allow': { type: 'string', multiple: true },
				...Object.fromEntries(Object.keys(LIMIT_FLAGS).map((f) => [f, { type: 'string' as const }])),
				help: { type: 'boolean' }
			},
			strict: true
		}));
	} catch (error) {
		throw new ConfigError((error as Error).message);
	}
	if (values.help) return 'help';
	const number = (name: string, raw: unknown, min: number, max = Number.MAX_SAFE_INTEGER) => {
		const n = Number(raw);
		if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`--${name} must be an integer from ${min} to ${max}, got ${String(raw)}`);
		return n;
	};
	const list = (v: unknown, fallback: string | undefined) =>
		(Array.isArray(v) ? v.map(String) : fallback ? [fallback] : []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
	const limits: Limits = { ...DEFAULT_LIMITS };
	for (const [flag, key] of Object.entries(LIMIT_FLAGS)) if (values[flag] !== undefined) limits[key] = number(flag, values[flag], key === 'maxMessageBytes' ? 1024 : 0);
	const peers = list(values.peer, env.CHARTER_PEERS);
	for (const peer of peers) if (!/^wss?:\/\//.test(peer)) throw new ConfigError(`--peer must be a ws:// or wss:// URL, got ${peer}`);
	const allow = list(values['spaces-allow'], env.CHARTER_SPACES_ALLOW);
	for (const id of allow) if (!/^(space|user)_[1-9A-HJ-NP-Za-km-z]+$/.test(id)) throw new ConfigError(`--spaces-allow takes space_… or user_… ids, got ${id}`);
	const level = String(values['log-level'] ?? env.LOG_LEVEL ?? 'info');
	if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) throw new ConfigError(`unknown --log-level ${level}`);
	return {
		port: number('port', values.port ?? env.PORT ?? 3030, 0, 65535),
		host: String(values.host ?? env.HOST ?? '127.0.0.1'),
		dataDir: resolve(String(values.data ?? env.CHARTER_DATA ?? '.charter-data/sync-server')),
		...(values.static ? { staticDir: resolve(String(values.static)) } : {}),
		logLevel: level,
		peers,
		allow,
		limits
	};
}
