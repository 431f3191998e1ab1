/**
 * CLI: `npm run sync-server -- --port 3030 --data ./data [--host 127.0.0.1] [--static build]`.
 * Environment: PORT, HOST, CHARTER_DATA. Prints one line with the URL once listening.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { startSyncServer } from './server.js';

const HELP = `Charter sync server — stores and relays ciphertext envelope documents only.

Usage: npm run sync-server -- [options]

  --port <n>      port to listen on (env PORT, default 3030; 0 picks a free one)
  --host <addr>   address to bind (env HOST, default 127.0.0.1)
  --data <dir>    storage directory (env CHARTER_DATA, default ./.charter-data/sync-server)
  --static <dir>  also serve this directory (the built web client) on the same port
  --help          show this help
`;

let values;
try {
	({ values } = parseArgs({
		options: {
			port: { type: 'string' },
			host: { type: 'string' },
			data: { type: 'string' },
			static: { type: 'string' },
			help: { type: 'boolean' }
		}
	}));
} catch (error) {
	console.error(`${(error as Error).message}\n\n${HELP}`);
	process.exit(2);
}
if (values.help) {
	console.log(HELP);
	process.exit(0);
}
const port = Number(values.port ?? process.env.PORT ?? 3030);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
	console.error(`--port must be a number from 0 to 65535, got ${values.port ?? process.env.PORT}`);
	process.exit(2);
}
const server = await startSyncServer({
	port,
	host: values.host ?? process.env.HOST ?? '127.0.0.1',
	dataDir: resolve(values.data ?? process.env.CHARTER_DATA ?? '.charter-data/sync-server'),
	...(values.static ? { staticDir: resolve(values.static) } : {})
});
console.log(`Charter sync server listening on ${server.url}`);
const stop = async () => {
	await server.close();
	process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
