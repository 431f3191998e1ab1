/**
 * `npm run node -- --help`: the home node. Prints exactly one line to stdout once online
 * ("Charter home node listening on ws://…"); logs go to stderr as pino JSON, without message text,
 * phrases or keys. SIGINT/SIGTERM close gracefully (storage flushed) and exit 0; a bad flag exits 2;
 * a failure to start exits 1.
 */
import { runHomeNodeCli } from './cli.js';

await runHomeNodeCli();
