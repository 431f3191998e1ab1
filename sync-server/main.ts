/** CLI entry: `npm run sync-server -- --help`. Prints one line with the URL once listening. */
import { ConfigError, HELP, parseConfig } from './config.js';
import { startSyncServer } from './server.js';

let config;
try {
	config = parseConfig(process.argv.slice(2), process.env);
} catch (error) {
	if (!(error instanceof ConfigError)) throw error;
	console.error(`${error.message}\n\n${HELP}`);
	process.exit(2);
}
if (config === 'help') {
	console.log(HELP);
	process.exit(0);
}
const server = await startSyncServer(config);
console.log(`Charter sync server listening on ${server.url}`);
let stopping = false;
const stop = async () => {
	if (stopping) return;
	stopping = true;
	await server.close();
	process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
