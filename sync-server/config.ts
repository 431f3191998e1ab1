/**
 * Configuration from flags and environment (flags win). Every option has a safe default for a
 * single small server; `--help` lists them all. Bad input throws ConfigError (the CLI exits 2).
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { isSyncServerUrl } from '../src/lib/index.js';

export interface Limits {
	/** Largest WebSocket message a client may send (bytes). */
	maxMessageBytes: number;
	/** Sustained messages per second per connection (bursts up to 10×). */
	messagesPerSecond: number;
	/** Sustained bytes per second per connection (bursts up to 4×). */
	bytesPerSecond: number;
	/**
	 * New documents one connection may bring to this server per hour: created with changes, or
	 * only asked for (the repo then holds a handle for the id in memory all the same).
	 */
	documentsPerHour: number;
	/** The same, summed over every connection from one remote address. */
	documentsPerAddressPerHour: number;
	/**
	 * Documents the server holds (stored, or asked for since start); 0 = unlimited. A new one beyond
	 * it is refused ("doc-unavailable" for that document; the connection stays).
	 */
	maxDocuments: number;
	/**
	 * Changes an address may send that are refused (unsealed, or for a document the admission policy
	 * refuses) within one window before the connection that sends the next is closed.
	 */
	maxRefusedChanges: number;
	/** That window, which is also the interval of at most one log line per address and reason. */
	refusedWindowSeconds: number;
	/** Storage per document (bytes); 0 = unlimited. */
	maxDocumentBytes: number;
	/** Storage for the whole server (bytes); 0 = unlimited. */
	maxTotalBytes: number;
	/**
	 * Ephemeral messages (presence and typing signals) one connection may have relayed per second,
	 * bursts 10×; beyond it they are dropped and counted (the connection stays).
	 */
	ephemeralPerSecond: number;
}

export interface SyncServerConfig {
	port: number;
	host: string;
	dataDir: string;
	staticDir?: string;
	logLevel: string;
	/** WebSocket URLs of other sync servers this one dials and replicates with. */
	peers: string[];
	/**
	 * Shared secret of a group of peered servers. A connection that presents it is a peer server:
	 * it gets every document announced and is exempt from per-connection limits.
	 */
	peerToken?: string;
	/** Admission: only envelope documents of these spaces (ids) or owners (user ids). Empty = any. */
	allow: string[];
	/** Store and relay changes without a publication seal (a generic automerge-repo relay). */
	allowUnsealed: boolean;
	/**
	 * Behind a reverse proxy: per-address limits use the last X-Forwarded-For entry (the proxy's
	 * own), not the proxy's address, which every connection would share.
	 */
	trustProxy: boolean;
	limits: Limits;
}

export const DEFAULT_LIMITS: Limits = {
	maxMessageBytes: 16 * 1024 * 1024,
	messagesPerSecond: 2000,
	bytesPerSecond: 16 * 1024 * 1024,
	documentsPerHour: 2000,
	// one household or office behind one NAT: several devices, each opening every document it has
	documentsPerAddressPerHour: 10_000,
	// ~60 KB of memory per document touched since start (docs/self-hosting.md, Memory): ≤ 3 GB
	maxDocuments: 50_000,
	// an honest Charter client sends only sealed changes; a stock automerge-repo client resends a
	// refused change on every sync round (several per second), so it trips this within seconds
	maxRefusedChanges: 50,
	refusedWindowSeconds: 60,
	maxDocumentBytes: 512 * 1024 * 1024,
	maxTotalBytes: 0,
	// an honest client sends one typing signal per 3 s per channel being typed in and one heartbeat
	// per space per 25 s: a user in 100 spaces typing in one channel is ~4.3 per second
	ephemeralPerSecond: 20
};

/** Each limit's flag and environment variable. */
const LIMIT_OPTIONS: Record<keyof Limits, { flag: string; env: string; min: number }> = {
	maxMessageBytes: { flag: 'max-message-bytes', env: 'CHARTER_MAX_MESSAGE_BYTES', min: 1024 },
	messagesPerSecond: { flag: 'messages-per-second', env: 'CHARTER_MESSAGES_PER_SECOND', min: 1 },
	bytesPerSecond: { flag: 'bytes-per-second', env: 'CHARTER_BYTES_PER_SECOND', min: 1024 },
	documentsPerHour: { flag: 'documents-per-hour', env: 'CHARTER_DOCUMENTS_PER_HOUR', min: 0 },
	documentsPerAddressPerHour: {
		flag: 'documents-per-address-per-hour',
		env: 'CHARTER_DOCUMENTS_PER_ADDRESS_PER_HOUR',
		min: 0
	},
	maxDocuments: { flag: 'max-documents', env: 'CHARTER_MAX_DOCUMENTS', min: 0 },
	maxRefusedChanges: { flag: 'max-refused-changes', env: 'CHARTER_MAX_REFUSED_CHANGES', min: 0 },
	refusedWindowSeconds: {
		flag: 'refused-window-seconds',
		env: 'CHARTER_REFUSED_WINDOW_SECONDS',
		min: 1
	},
	maxDocumentBytes: { flag: 'max-document-bytes', env: 'CHARTER_MAX_DOCUMENT_BYTES', min: 0 },
	maxTotalBytes: { flag: 'max-total-bytes', env: 'CHARTER_MAX_TOTAL_BYTES', min: 0 },
	ephemeralPerSecond: {
		flag: 'ephemeral-per-second',
		env: 'CHARTER_EPHEMERAL_PER_SECOND',
		min: 0
	}
};

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const HELP = `Charter sync server — stores and relays ciphertext envelope documents; holds no keys.

Usage: npm run sync-server -- [options]

  --port <n>                 port (env PORT, default 3030; 0 picks a free port)
  --host <addr>              address to bind (env HOST, default 127.0.0.1; 0.0.0.0 for all)
  --data <dir>               storage directory (env CHARTER_DATA, default ./.charter-data/sync-server)
  --static <dir>             also serve this directory (the built web client) on the same port,
                             unknown paths fall back to index.html (env CHARTER_STATIC)
  --log-level <level>        ${LOG_LEVELS.join('|')} (env LOG_LEVEL, default info)
  --peer <ws-url>            replicate with another sync server (repeatable; env CHARTER_PEERS,
                             comma-separated)
  --peer-token <secret>      shared secret of a group of peered servers (env CHARTER_PEER_TOKEN);
                             sent when dialing --peer, and lets servers that present it replicate
                             both ways without client limits
  --spaces-allow <ids>       store only envelope documents of these space ids or owner user ids
                             (comma-separated or repeated; env CHARTER_SPACES_ALLOW). Default: store any.
  --allow-unsealed           also store changes that carry no Charter publication seal: a generic
                             automerge-repo relay (env CHARTER_ALLOW_UNSEALED=1). Default: refuse
                             them, so no peer can equivocate on a Charter writer's changes.
  --trust-proxy              behind a reverse proxy that sets X-Forwarded-For: per-address limits
                             use the address it forwards (env CHARTER_TRUST_PROXY=1). Default:
                             the connecting address.
  --max-message-bytes <n>    largest client message (env CHARTER_MAX_MESSAGE_BYTES, default ${DEFAULT_LIMITS.maxMessageBytes})
  --messages-per-second <n>  per-connection message rate, bursts 10× (env CHARTER_MESSAGES_PER_SECOND, default ${DEFAULT_LIMITS.messagesPerSecond})
  --bytes-per-second <n>     per-connection byte rate, bursts 4× (env CHARTER_BYTES_PER_SECOND, default ${DEFAULT_LIMITS.bytesPerSecond})
  --documents-per-hour <n>   new documents (created or asked for) per connection per hour
                             (env CHARTER_DOCUMENTS_PER_HOUR, default ${DEFAULT_LIMITS.documentsPerHour})
  --documents-per-address-per-hour <n>
                             the same for all connections from one IP address
                             (env CHARTER_DOCUMENTS_PER_ADDRESS_PER_HOUR, default ${DEFAULT_LIMITS.documentsPerAddressPerHour})
  --max-documents <n>        documents held in total, 0 = none; beyond it new ones are refused
                             (env CHARTER_MAX_DOCUMENTS, default ${DEFAULT_LIMITS.maxDocuments})
  --max-refused-changes <n>  refused changes (unsealed, or not admitted) one address may send per
                             window before its connection is closed; 0 = close on the first
                             (env CHARTER_MAX_REFUSED_CHANGES, default ${DEFAULT_LIMITS.maxRefusedChanges})
  --refused-window-seconds <n>
                             that window; also the interval of at most one log line per address
                             and reason (env CHARTER_REFUSED_WINDOW_SECONDS, default ${DEFAULT_LIMITS.refusedWindowSeconds})
  --max-document-bytes <n>   storage quota per document, 0 = none (env CHARTER_MAX_DOCUMENT_BYTES, default ${DEFAULT_LIMITS.maxDocumentBytes})
  --max-total-bytes <n>      storage quota for the server, 0 = none (env CHARTER_MAX_TOTAL_BYTES, default 0)
  --ephemeral-per-second <n> presence and typing signals relayed per connection per second, bursts
                             10×; the rest are dropped (env CHARTER_EPHEMERAL_PER_SECOND, default ${DEFAULT_LIMITS.ephemeralPerSecond})
  --help                     show this help

Endpoints: WebSocket on any path; GET /healthz, /readyz, /metrics (Prometheus).
Close codes: 4008 rate limited, 4009 message too big, 4013 storage quota, 4029 too many new
documents, 4400 malformed message, 4422 kept sending refused changes (see docs/self-hosting.md).
`;

export class ConfigError extends Error {}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): SyncServerConfig | 'help' {
	let values: Values;
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
				'peer-token': { type: 'string' },
				'spaces-allow': { type: 'string', multiple: true },
				'allow-unsealed': { type: 'boolean' },
				'trust-proxy': { type: 'boolean' },
				...Object.fromEntries(
					Object.values(LIMIT_OPTIONS).map((o) => [o.flag, { type: 'string' as const }])
				),
				help: { type: 'boolean' }
			},
			strict: true,
			allowPositionals: false
		}));
	} catch (error) {
		throw new ConfigError((error as Error).message);
	}
	if (values.help) return 'help';

	const limits: Limits = { ...DEFAULT_LIMITS };
	for (const [key, option] of Object.entries(LIMIT_OPTIONS) as [
		keyof Limits,
		(typeof LIMIT_OPTIONS)[keyof Limits]
	][]) {
		const raw = values[option.flag] ?? env[option.env];
		if (raw !== undefined && raw !== '') limits[key] = integer(option.flag, raw, option.min);
	}

	const peers = list(values.peer, env.CHARTER_PEERS);
	for (const peer of peers)
		if (!isSyncServerUrl(peer))
			throw new ConfigError(`--peer must be a ws:// or wss:// URL, got ${peer}`);
	const peerToken = String(values['peer-token'] ?? env.CHARTER_PEER_TOKEN ?? '') || undefined;
	if (peerToken !== undefined && peerToken.length < 16)
		throw new ConfigError('--peer-token must be at least 16 characters (use a random secret)');

	const allow = list(values['spaces-allow'], env.CHARTER_SPACES_ALLOW);
	for (const id of allow)
		if (!/^(space|user)_[1-9A-HJ-NP-Za-km-z]+$/.test(id))
			throw new ConfigError(`--spaces-allow takes space_… or user_… ids, got ${id}`);

	const level = String(values['log-level'] ?? env.LOG_LEVEL ?? 'info');
	if (!(LOG_LEVELS as readonly string[]).includes(level))
		throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${level}`);

	const staticDir = values.static ?? env.CHARTER_STATIC;
	return {
		port: integer('port', values.port ?? env.PORT ?? 3030, 0, 65535),
		host: String(values.host ?? env.HOST ?? '127.0.0.1'),
		dataDir: resolve(String(values.data ?? env.CHARTER_DATA ?? '.charter-data/sync-server')),
		...(staticDir ? { staticDir: resolve(String(staticDir)) } : {}),
		logLevel: level,
		peers,
		...(peerToken ? { peerToken } : {}),
		allow,
		allowUnsealed: values['allow-unsealed'] === true || env.CHARTER_ALLOW_UNSEALED === '1',
		trustProxy: values['trust-proxy'] === true || env.CHARTER_TRUST_PROXY === '1',
		limits
	};
}

function integer(name: string, raw: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
	const n =
		typeof raw === 'string' && raw.trim() !== ''
			? Number(raw)
			: typeof raw === 'number'
				? raw
				: NaN;
	if (!Number.isInteger(n) || n < min || n > max)
		throw new ConfigError(`--${name} must be an integer from ${min} to ${max}, got ${String(raw)}`);
	return n;
}

/** Repeated flags win over the environment; both may hold comma-separated values. */
function list(flagValues: unknown, fallback: string | undefined): string[] {
	const raw = Array.isArray(flagValues) ? flagValues.map(String) : fallback ? [fallback] : [];
	return raw
		.flatMap((s) => s.split(','))
		.map((s) => s.trim())
		.filter(Boolean);
}
