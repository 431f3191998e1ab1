/** Prometheus metrics of one sync server (its own registry, so several can live in one process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type RejectionReason =
	| 'message-too-big'
	| 'rate-limited'
	| 'too-many-documents'
	| 'document-quota'
	| 'total-quota'
	| 'admission'
	| 'malformed';

export function createMetrics() {
	const registry = new Registry();
	collectDefaultMetrics({ register: registry, prefix: 'charter_sync_process_' });
	return {
		registry,
		connections: new Gauge({ name: 'charter_sync_connections', help: 'Open WebSocket connections', registers: [registry] }),
		connectionsTotal: new Counter({ name: 'charter_sync_connections_total', help: 'WebSocket connections accepted', registers: [registry] }),
		documents: new Gauge({ name: 'charter_sync_documents', help: 'Documents held (on disk or in memory)', registers: [registry] }),
		messagesIn: new Counter({ name: 'charter_sync_messages_in_total', help: 'Messages received from peers', registers: [registry] }),
		bytesIn: new Counter({ name: 'charter_sync_bytes_in_total', help: 'Bytes received from peers', registers: [registry] }),
		bytesOut: new Counter({ name: 'charter_sync_bytes_out_total', help: 'Bytes sent to peers', registers: [registry] }),
		changesStored: new Counter({ name: 'charter_sync_changes_received_total', help: 'Automerge changes received in sync messages (entries and their envelopes)', registers: [registry] }),
		rejections: new Counter({ name: 'charter_sync_rejections_total', help: 'Messages or connections refused, by reason', labelNames: ['reason'], registers: [registry] }),
		relayLatency: new Histogram({
			name: 'charter_sync_relay_latency_seconds',
			help: 'From receiving a sync message for a document to sending the next sync message for it to another peer',
			buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
			registers: [registry]
		})
	};
}

export type Metrics = ReturnType<typeof createMetrics>;
