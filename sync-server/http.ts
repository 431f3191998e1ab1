/**
 * The plain-HTTP side of the server's one port: health, readiness, Prometheus metrics and,
 * optionally, the built web client (a static SPA: unknown paths fall back to index.html).
 * WebSocket upgrades never reach this handler; ws takes them on any path.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import sirv from 'sirv';
import type { Metrics } from './metrics.js';

export interface ServerStatus {
	/** True once storage is open and the port listens; false again while shutting down. */
	ready(): boolean;
	/** The body of /healthz. */
	health(): Record<string, unknown>;
	/** Refreshes gauges that are read rather than counted, just before a scrape. */
	refreshGauges(): void;
}

export function createRequestHandler(metrics: Metrics, status: ServerStatus, staticDir?: string) {
	const statics = staticDir ? sirv(staticDir, { single: true, etag: true, dev: false }) : undefined;
	return (req: IncomingMessage, res: ServerResponse): void => {
		const path = (req.url ?? '/').split('?')[0];
		if (path === '/healthz') return json(res, 200, { ok: true, ...status.health() });
		if (path === '/readyz') return json(res, status.ready() ? 200 : 503, { ready: status.ready() });
		if (path === '/metrics') {
			status.refreshGauges();
			metrics.registry.metrics().then(
				(text) => {
					res.writeHead(200, { 'content-type': metrics.registry.contentType });
					res.end(text);
				},
				(error: Error) => json(res, 500, { error: error.message })
			);
			return;
		}
		if (statics) return statics(req, res, () => json(res, 404, { error: 'not found' }));
		json(res, 404, { error: 'not found' });
	};
}

function json(res: ServerResponse, status: number, body: unknown): void {
	res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
	res.end(JSON.stringify(body));
}
