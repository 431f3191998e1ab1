/**
 * CLI entry: `npm run sync-server -- --help`. Prints exactly one line to stdout once listening
 * ("Charter sync server listening on http://…"); logs go to stderr as pino JSON. SIGINT/SIGTERM
 * close gracefully (storage flushed) and exit 0; a bad flag exits 2.
 */
import { ConfigError, HELP, parseConfig, type SyncServerConfig } from './config.js';
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

let server: RunningSyncServer;
try {
	server = await startSyncServer(config);
} catch (error) {
	const { code, message } = error as NodeJS.ErrnoException;
	console.error(`charter sync server: could not start: ${code === 'EADDRINUSE' ? `port ${config.port} on ${config.host} is already in use` : message}`);
	process.exit(1);
}
console.log(`Charter sync server listening on ${server.url}`);

let stopping = false;
const stop = async (signal: string) => {
	if (stopping) return;
	stopping = true;
	setTimeout(() => {
		console.error(`charter sync server: graceful close after ${signal} took over ${CLOSE_DEADLINE_MS} ms; exiting`);
		process.exit(1);
	}, CLOSE_DEADLINE_MS).unref();
	await server.close();
	process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
