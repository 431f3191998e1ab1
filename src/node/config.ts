/**
 * The home node's configuration from flags and environment (flags win). Bad input throws
 * NodeConfigError (the CLI prints it with the help and exits 2).
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { isSyncServerUrl, isValidRecoveryPhrase, parseInviteLink } from '../lib/index.js';

export interface HomeNodeConfig {
	/** Directory holding this device's secrets (0600), envelopes (ciphertext) and replicas. */
	dataDir: string;
	/** Accept WebSocket peers (the user's devices, other members, bots) on this port; 0 = any free. */
	listen?: { port: number; host: string };
	/** Sync servers and other nodes to dial (`--sync-server` and `--peer`). */
	syncServers: string[];
	peers: string[];
	/** A recovery phrase, used only when the data directory holds no identity yet. */
	phrase?: string;
	/** A device-link code, used only when the data directory holds no identity yet. */
	link?: string;
	/** Create a new user (a bot) when the data directory holds no identity yet. */
	newIdentity: boolean;
	/** Invite links to join (e.g. for a bot), each once. */
	join: string[];
	/** Spaces this user was added to by member card, to open (their account lists them after). */
	open: string[];
	deviceName: string;
	logLevel: string;
	/** Log each space's and channel's sync progress at most this often. */
	statusIntervalMs: number;
	/**
	 * Compact a channel this user moderates (MANAGE_MESSAGES) once a new device would download more
	 * than this many envelope changes for it; 0 = never.
	 */
	compactAfter: number;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const HELP = `Charter home node — a headless client that holds your identity, stays online for your
spaces, and serves your other devices and the other members (the base for bots).

Usage: npm run node -- --data <dir> [--listen <port>] [--sync-server <ws-url>]... [options]

  --data <dir>            this node's data directory: secrets (0600), ciphertext, replicas
                          (env CHARTER_NODE_DATA; required)
  --listen <port>         accept WebSocket peers on this port, 0 = any free port (env CHARTER_NODE_PORT);
                          without it the node only dials out
  --host <addr>           address to listen on (env CHARTER_NODE_HOST, default 127.0.0.1;
                          0.0.0.0 for all)
  --sync-server <ws-url>  a sync server to use (repeatable; env CHARTER_SYNC_SERVERS, comma-separated)
  --peer <ws-url>         another home node or listening client to dial (repeatable;
                          env CHARTER_PEERS, comma-separated)
  --phrase-file <file>    first start only: restore the user from the 24-word recovery phrase in
                          this file (or set CHARTER_PHRASE); ignored once the data directory has an
                          identity
  --link <code>           first start only: become a new device of a user by a link code shown on
                          one of their devices (Settings → Devices → Link a device)
  --new-identity          first start only: create a new user (for a bot); the recovery phrase is
                          written to <dir>/recovery-phrase.txt (0600) and the member card to
                          <dir>/member-card.txt
  --join <invite-link>    join a space with an invite link (repeatable; spaces already joined are
                          skipped)
  --open <space-id>       open a space this user was added to by member card (repeatable; once is
                          enough: the user's account remembers it)
  --compact-after <n>     compact a channel you moderate (MANAGE_MESSAGES) once it holds more than n
                          uncompacted entries, so new devices download a few fragments instead
                          (env CHARTER_COMPACT_AFTER, default 2000; 0 = never)
  --device-name <name>    name of this device on the user's card (default "home node on <host>")
  --log-level <level>     ${LOG_LEVELS.join('|')} (env LOG_LEVEL, default info)
  --help                  show this help

Prints one line to stdout once online ("Charter home node listening on ws://…"); logs JSON (pino) to
stderr without message text, phrases or keys. SIGINT/SIGTERM flush storage and exit 0; a bad flag
exits 2; a failure to start exits 1.
`;

export class NodeConfigError extends Error {}

export function parseNodeConfig(
	argv: string[],
	env: NodeJS.ProcessEnv,
	readFile: (path: string) => string
): HomeNodeConfig | 'help' {
	let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
	try {
		({ values } = parseArgs({
			args: argv,
			options: {
				data: { type: 'string' },
				listen: { type: 'string' },
				host: { type: 'string' },
				'sync-server': { type: 'string', multiple: true },
				peer: { type: 'string', multiple: true },
				'phrase-file': { type: 'string' },
				link: { type: 'string' },
				'new-identity': { type: 'boolean' },
				join: { type: 'string', multiple: true },
				open: { type: 'string', multiple: true },
				'device-name': { type: 'string' },
				'log-level': { type: 'string' },
				'status-interval-ms': { type: 'string' },
				'compact-after': { type: 'string' },
				help: { type: 'boolean' }
			},
			strict: true,
			allowPositionals: false
		}));
	} catch (error) {
		throw new NodeConfigError((error as Error).message);
	}
	if (values.help) return 'help';

	const data = values.data ?? env.CHARTER_NODE_DATA;
	if (typeof data !== 'string' || data.trim() === '')
		throw new NodeConfigError('--data <dir> is required (the directory that holds this node)');

	const rawPort = values.listen ?? env.CHARTER_NODE_PORT;
	const listen =
		rawPort === undefined || rawPort === ''
			? undefined
			: {
					port: integer('listen', rawPort, 0, 65535),
					host: String(values.host ?? env.CHARTER_NODE_HOST ?? '127.0.0.1')
				};
	if (!listen && values.host !== undefined)
		throw new NodeConfigError('--host needs --listen <port>');

	const syncServers = urls('--sync-server', values['sync-server'], env.CHARTER_SYNC_SERVERS);
	const peers = urls('--peer', values.peer, env.CHARTER_PEERS);

	let phrase: string | undefined;
	const phraseFile = values['phrase-file'];
	if (typeof phraseFile === 'string') {
		try {
			phrase = readFile(resolve(phraseFile));
		} catch (error) {
			throw new NodeConfigError(
				`--phrase-file: cannot read ${phraseFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`
			);
		}
	} else if (env.CHARTER_PHRASE) phrase = env.CHARTER_PHRASE;
	phrase = phrase?.trim().split(/\s+/).join(' ');
	// never echo the phrase itself, not even in an error
	if (phrase !== undefined && !isValidRecoveryPhrase(phrase))
		throw new NodeConfigError(
			`the recovery phrase is not valid (${phrase ? phrase.split(' ').length : 0} words; expected 24 words from the recovery sheet)`
		);

	const link = typeof values.link === 'string' ? values.link.trim() : undefined;
	if (values.link !== undefined && !link) throw new NodeConfigError('--link needs a code');
	const newIdentity = values['new-identity'] === true;
	const sources = [phrase !== undefined, link !== undefined, newIdentity].filter(Boolean).length;
	if (sources > 1)
		throw new NodeConfigError(
			'give at most one of --phrase-file / CHARTER_PHRASE, --link and --new-identity'
		);

	const join = (Array.isArray(values.join) ? values.join : []).map((l) => String(l).trim());
	for (const l of join)
		try {
			parseInviteLink(l);
		} catch {
			throw new NodeConfigError('--join takes an invite link (from “Invite people” in a space)');
		}

	const open = (Array.isArray(values.open) ? values.open : []).map((id) => String(id).trim());
	for (const id of open)
		if (!/^space_[1-9A-HJ-NP-Za-km-z]+$/.test(id))
			throw new NodeConfigError(`--open takes a space id (space_…), got ${id.slice(0, 60)}`);

	const level = String(values['log-level'] ?? env.LOG_LEVEL ?? 'info');
	if (!(LOG_LEVELS as readonly string[]).includes(level))
		throw new NodeConfigError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${level}`);

	const deviceName = String(values['device-name'] ?? `home node on ${hostname(env)}`).trim();
	if (!deviceName || deviceName.length > 60)
		throw new NodeConfigError('--device-name must have 1 to 60 characters');

	return {
		dataDir: resolve(data),
		...(listen ? { listen } : {}),
		syncServers,
		peers,
		...(phrase !== undefined ? { phrase } : {}),
		...(link !== undefined ? { link } : {}),
		newIdentity,
		join,
		open,
		deviceName,
		logLevel: level,
		statusIntervalMs: integer(
			'status-interval-ms',
			values['status-interval-ms'] ?? '2000',
			50,
			3_600_000
		),
		compactAfter: integer(
			'compact-after',
			values['compact-after'] ?? env.CHARTER_COMPACT_AFTER ?? '2000',
			0,
			10_000_000
		)
	};
}

function hostname(env: NodeJS.ProcessEnv): string {
	return (env.HOSTNAME || 'this machine').slice(0, 40);
}

function integer(name: string, raw: unknown, min: number, max: number): number {
	const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
	if (!Number.isInteger(n) || n < min || n > max)
		throw new NodeConfigError(
			`--${name} must be an integer from ${min} to ${max}, got ${String(raw)}`
		);
	return n;
}

function urls(flag: string, flagValues: unknown, fallback: string | undefined): string[] {
	const raw = Array.isArray(flagValues) ? flagValues.map(String) : fallback ? [fallback] : [];
	const list = raw
		.flatMap((s) => s.split(','))
		.map((s) => s.trim())
		.filter(Boolean);
	for (const url of list)
		if (!isSyncServerUrl(url))
			throw new NodeConfigError(`${flag} must be a ws:// or wss:// URL, got ${url}`);
	return [...new Set(list)];
}
