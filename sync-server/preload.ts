/**
 * Loads stored documents into the repo, a few at a time, in the background. automerge-repo
 * announces to peers only the documents a repo holds in memory, so a server in a peer group needs
 * them loaded to push what it has. Stoppable, so shutdown does not wait for a long backlog.
 */
import type { Logger } from 'pino';
import type { DocumentId, Repo } from '@automerge/automerge-repo';

const CONCURRENCY = 4;

export function preloadDocuments(
	repo: Repo,
	ids: DocumentId[],
	log: Logger
): { done: Promise<void>; stop(): Promise<void> } {
	const abort = new AbortController();
	const queue = [...ids];
	let loaded = 0;
	const worker = async () => {
		while (queue.length && !abort.signal.aborted) {
			const id = queue.pop()!;
			await repo.find(id, { signal: abort.signal }).then(
				() => loaded++,
				(error: Error) =>
					abort.signal.aborted ||
					log.warn({ documentId: id, message: error.message }, 'stored document did not load')
			);
		}
	};
	const started = performance.now();
	const done = Promise.all(Array.from({ length: CONCURRENCY }, worker)).then(() => {
		if (ids.length)
			log.info(
				{ loaded, of: ids.length, ms: Math.round(performance.now() - started) },
				'stored documents loaded for peering'
			);
	});
	return {
		done,
		async stop() {
			abort.abort();
			await done;
		}
	};
}
