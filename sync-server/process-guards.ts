/**
 * What the CLI process does with errors nobody caught.
 *
 * automerge-repo 2.5.6 starts some work and forgets the promise: e.g. DocSynchronizer.beginSync
 * waits (60 s timeout) for a document a peer claimed to have, and nothing catches the timeout. In
 * Node that is an unhandled rejection, which by default kills the process — so any client that
 * claims a document and then goes quiet could take the server down. Such rejections are logged and
 * counted, and the server carries on: they end work that was already abandoned, not server state.
 * A thrown exception nobody caught is different — state may be half-updated — so that still ends
 * the process (exit 1; systemd or Docker restarts it, and storage is only ever written atomically).
 */
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';

export function guardProcess(log: Logger, metrics: () => Metrics | undefined): void {
	process.on('unhandledRejection', (reason) => {
		metrics()?.internalErrors.inc();
		const error =
			reason instanceof Error
				? {
						name: reason.name,
						message: reason.message,
						stack: reason.stack?.split('\n').slice(0, 4).join('\n')
					}
				: { message: String(reason).slice(0, 200) };
		log.error({ error }, 'unhandled rejection (logged; the server carries on)');
	});
	process.on('uncaughtException', (error) => {
		log.fatal(
			{ error: { name: error.name, message: error.message, stack: error.stack } },
			'uncaught exception; exiting'
		);
		process.exit(1);
	});
}
