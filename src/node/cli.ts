/**
 * The home node's command line, shared by `npm run node` (src/node/main.ts) and bots built on it
 * (src/node/echo-bot.ts): parse flags, log JSON to stderr, start the node, print one line to stdout
 * once online, close cleanly on SIGINT/SIGTERM. A bad flag exits 2; a failure to start exits 1.
 */
import { readFileSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { routeConsoleToLog } from '../../sync-server/console-to-log.js';
import { guardProcess } from '../../sync-server/process-guards.js';
import { isCharterError } from '../lib/index.js';
import { HELP, NodeConfigError, parseNodeConfig, type HomeNodeConfig } from './config.js';
import { HomeNode, HomeNodeError } from './home-node.js';

/** If a graceful close hangs (a stuck disk), give up after this long rather than never exiting. */
const CLOSE_DEADLINE_MS = 15_000;

export async function runHomeNodeCli(
	options: {
		/** Called once the node is online, before the "listening" line: register bot handlers here. */
		setup?: (node: HomeNode, log: Logger) => void | Promise<void>;
		/** Shown first by --help and in the stdout line. */
		name?: string;
	} = {}
): Promise<HomeNode | undefined> {
	const name = options.name ?? 'Charter home node';
	let config: HomeNodeConfig | 'help';
	try {
		config = parseNodeConfig(process.argv.slice(2), process.env, (path) =>
			readFileSync(path, 'utf8')
		);
	} catch (error) {
		if (!(error instanceof NodeConfigError)) throw error;
		process.stderr.write(`${name}: ${error.message}\nRun with --help for the options.\n`);
		process.exit(2);
	}
	if (config === 'help') {
		process.stdout.write(options.name ? `${options.name} — built on:\n\n${HELP}` : HELP);
		process.exit(0);
	}
	delete process.env.CHARTER_PHRASE; // read once; not passed on to anything this process starts

	const log = pino(
		{ level: config.logLevel, base: { pid: process.pid, role: 'home-node' } },
		pino.destination(2)
	);
	routeConsoleToLog(log);
	guardProcess(log, () => undefined);

	let stopping = false;
	const starting: Promise<HomeNode | undefined> = HomeNode.start(config, log)
		.then(async (node) => {
			await options.setup?.(node, log);
			return node;
		})
		.catch((error: NodeJS.ErrnoException) => {
			const c = config as HomeNodeConfig;
			const reason =
				error.code === 'EADDRINUSE'
					? `port ${c.listen?.port} on ${c.listen?.host} is already in use`
					: error instanceof HomeNodeError || isCharterError(error)
						? error.message
						: `${error.name}: ${error.message}`;
			process.stderr.write(`${name}: could not start: ${reason}\n`);
			process.exit(1);
		});
	const stop = async (signal: string) => {
		if (stopping) return;
		stopping = true;
		log.info({ signal }, 'closing');
		setTimeout(() => {
			process.stderr.write(
				`${name}: graceful close after ${signal} took over ${CLOSE_DEADLINE_MS} ms; exiting\n`
			);
			process.exit(1);
		}, CLOSE_DEADLINE_MS).unref();
		await (await starting)?.close();
		process.exit(0);
	};
	process.on('SIGINT', () => void stop('SIGINT'));
	process.on('SIGTERM', () => void stop('SIGTERM'));

	const node = await starting;
	if (node && !stopping)
		process.stdout.write(
			node.url
				? `${name} listening on ${node.url}\n`
				: `${name} online (not listening; pass --listen <port> to serve peers)\n`
		);
	return node;
}
