/**
 * CLI entry: `npm run node -- --help`. Prints exactly one line to stdout once online
 * ("Charter home node listening on ws://…"); logs go to stderr as pino JSON, without message text,
 * phrases or keys. SIGINT/SIGTERM close gracefully (storage flushed) and exit 0; a bad flag exits 2;
 * a failure to start exits 1.
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { routeConsoleToLog } from '../../sync-server/console-to-log.js';
import { guardProcess } from '../../sync-server/process-guards.js';
import { isCharterError } from '../lib/index.js';
import { HELP, NodeConfigError, parseNodeConfig, type HomeNodeConfig } from './config.js';
import { HomeNode, HomeNodeError } from './home-node.js';

/** If a graceful close hangs (a stuck disk), give up after this long rather than never exiting. */
const CLOSE_DEADLINE_MS = 15_000;

let config: HomeNodeConfig | 'help';
try {
	config = parseNodeConfig(process.argv.slice(2), process.env, (path) =>
		readFileSync(path, 'utf8')
	);
} catch (error) {
	if (!(error instanceof NodeConfigError)) throw error;
	process.stderr.write(
		`charter home node: ${error.message}\nRun \`npm run node -- --help\` for the options.\n`
	);
	process.exit(2);
}
if (config === 'help') {
	process.stdout.write(HELP);
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
const starting: Promise<HomeNode | undefined> = HomeNode.start(config, log).catch(
	(error: NodeJS.ErrnoException) => {
		const c = config as HomeNodeConfig;
		const reason =
			error.code === 'EADDRINUSE'
				? `port ${c.listen?.port} on ${c.listen?.host} is already in use`
				: error instanceof HomeNodeError || isCharterError(error)
					? error.message
					: `${error.name}: ${error.message}`;
		process.stderr.write(`charter home node: could not start: ${reason}\n`);
		process.exit(1);
	}
);
const stop = async (signal: string) => {
	if (stopping) return;
	stopping = true;
	log.info({ signal }, 'closing');
	setTimeout(() => {
		process.stderr.write(
			`charter home node: graceful close after ${signal} took over ${CLOSE_DEADLINE_MS} ms; exiting\n`
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
			? `Charter home node listening on ${node.url}\n`
			: 'Charter home node online (not listening; pass --listen <port> to serve peers)\n'
	);
