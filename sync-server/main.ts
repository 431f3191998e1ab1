/**
 * CLI entry: `npm run sync-server -- --help`. Prints exactly one line to stdout once listening
 * ("Charter sync server listening on http://…"); logs go to stderr as pino JSON. SIGINT/SIGTERM
 * close gracefully (storage flushed) and exit 0; a bad flag exits 2.
 */
import { pino } from 'pino';
import { ConfigError, HELP, parseConfig, type SyncServerConfig } from './config.js';
import { routeConsoleToLog } from './console-to-log.js';
import { guardProcess } from './process-guards.js';
import { startSyncServer, type RunningSyncServer } from './server.js';

/** If a graceful close hangs (a stuck disk), give up after this long rather than never exiting. */
const CLOSE_DEADLINE_MS = 15_000;

let config: SyncServerConfig | 'help';
try {
	config = parseConfig(process.argv.slice(2), process.env);
} catch (error) {
	if (!(error instanceof ConfigError)) throw error;
	console.error(`charter sync server: ${error.message}\n\n${HELP}`);
	process.exit(2);
}
if (config === 'help') {
	console.log(HELP);
	process.exit(0);
}

const log = pino({ level: config.logLevel }, pino.destination(2));
const stdout = (line: string) => process.stdout.write(`${line}\n`);
const stderr = (line: string) => process.stderr.write(`${line}\n`);
routeConsoleToLog(log);
let running: RunningSyncServer | undefined = undefined; // set once listening
guardProcess(log, () => running?.metrics);

// signals are handled from the first moment, so a SIGTERM during startup still closes cleanly
let stopping = false;
const starting: Promise<RunningSyncServer | undefined> = startSyncServer({
	...config,
	logger: log
}).catch((error: NodeJS.ErrnoException) => {
	const reason =
		error.code === 'EADDRINUSE'
			? `port ${(config as SyncServerConfig).port} on ${(config as SyncServerConfig).host} is already in use`
			: error.message;
	stderr(`charter sync server: could not start: ${reason}`);
	process.exit(1);
});
const stop = async (signal: string) => {
	if (stopping) return;
	stopping = true;
	setTimeout(() => {
		stderr(
			`charter sync server: graceful close after ${signal} took over ${CLOSE_DEADLINE_MS} ms; exiting`
		);
		process.exit(1);
	}, CLOSE_DEADLINE_MS).unref();
	await (await starting)?.close();
	process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

running = await starting;
if (running && !stopping) stdout(`Charter sync server listening on ${running.url}`);
