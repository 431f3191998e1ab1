/**
 * Prometheus metrics of one sync server (its own registry, so several servers can live in one
 * process, as they do in tests and benchmarks). Names are listed in docs/self-hosting.md.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const REJECTION_REASONS = [
	'message-too-big',
	'rate-limited',
	'too-many-documents',
	'address-documents',
	'document-limit',
	'refused-changes',
	'document-quota',
	'total-quota',
	'admission',
	'impersonation',
	'malformed',
	'unsealed-change'
] as const;

export type RejectionReason = (typeof REJECTION_REASONS)[number];

/** Why a new document was refused: whose limit it hit, or the admission policy. */
export const DOCUMENT_REFUSALS = ['connection', 'address', 'server', 'admission'] as const;

export type DocumentRefusal = (typeof DOCUMENT_REFUSALS)[number];

/**
 * What became of an ephemeral message (a presence or typing signal) a client sent: relayed to the
 * other peers of its document, or dropped — past --ephemeral-per-second, not a signal's size and
 * shape, for a document this server does not hold (nobody to relay it to), or an echo: another
 * peer's message the client passes back (automerge-repo forwards every ephemeral message it
 * receives to its other peers of the document — the server included, which sent it to it).
 */
export const EPHEMERAL_OUTCOMES = [
	'relayed',
	'rate-limited',
	'malformed',
	'unknown-document',
	'echo'
] as const;

export type EphemeralOutcome = (typeof EPHEMERAL_OUTCOMES)[number];

export function createMetrics() {
	const registry = new Registry();
	collectDefaultMetrics({ register: registry, prefix: 'charter_sync_' });
	const metrics = {
		registry,
		connections: new Gauge({
			name: 'charter_sync_connections',
			help: 'Open WebSocket connections (clients and peer servers dialing in)',
			registers: [registry]
		}),
		connectionsTotal: new Counter({
			name: 'charter_sync_connections_total',
			help: 'WebSocket connections accepted',
			registers: [registry]
		}),
		peerServers: new Gauge({
			name: 'charter_sync_peer_servers',
			help: 'Peer sync servers currently connected (dialed or dialing in with the peer token)',
			registers: [registry]
		}),
		documents: new Gauge({
			name: 'charter_sync_documents',
			help: 'Documents held (on disk or received since start)',
			registers: [registry]
		}),
		storedBytes: new Gauge({
			name: 'charter_sync_stored_bytes',
			help: 'Bytes held as counted for quotas (disk at start plus change bytes accepted since)',
			registers: [registry]
		}),
		messagesIn: new Counter({
			name: 'charter_sync_messages_in_total',
			help: 'Messages received from clients',
			registers: [registry]
		}),
		messagesOut: new Counter({
			name: 'charter_sync_messages_out_total',
			help: 'Messages sent to clients',
			registers: [registry]
		}),
		bytesIn: new Counter({
			name: 'charter_sync_bytes_in_total',
			help: 'Bytes received from clients (whole wire messages)',
			registers: [registry]
		}),
		bytesOut: new Counter({
			name: 'charter_sync_bytes_out_total',
			help: 'Bytes sent to clients (whole wire messages)',
			registers: [registry]
		}),
		changesStored: new Counter({
			name: 'charter_sync_changes_received_total',
			help: 'Automerge changes received in sync messages (opaque; counted, never read)',
			registers: [registry]
		}),
		internalErrors: new Counter({
			name: 'charter_sync_internal_errors_total',
			help: 'Promise rejections no code handled (automerge-repo fires some and forgets them); logged, the server carries on',
			registers: [registry]
		}),
		rejections: new Counter({
			name: 'charter_sync_rejections_total',
			help: 'Messages or connections refused, by reason',
			labelNames: ['reason'],
			registers: [registry]
		}),
		documentsRefused: new Counter({
			name: 'charter_sync_documents_refused_total',
			help: 'New documents refused, by the limit they hit: connection (--documents-per-hour), address (--documents-per-address-per-hour), server (--max-documents) or admission',
			labelNames: ['scope'],
			registers: [registry]
		}),
		peersDisconnected: new Counter({
			name: 'charter_sync_peers_disconnected_total',
			help: 'Connections the server closed because the peer broke a limit, by reason (refused-changes: kept sending changes the server refuses)',
			labelNames: ['reason'],
			registers: [registry]
		}),
		ephemeral: new Counter({
			name: 'charter_sync_ephemeral_messages_total',
			help: 'Ephemeral messages (presence and typing signals; relayed, never stored) from clients, by outcome',
			labelNames: ['outcome'],
			registers: [registry]
		}),
		relayLatency: new Histogram({
			name: 'charter_sync_relay_latency_seconds',
			help: 'From receiving a sync message for a document to the next sync message the server sends for it (its reply or the relay to another peer)',
			buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
			registers: [registry]
		})
	};
	// every reason shows from the start (as 0), so alerts and dashboards need no special cases
	for (const reason of REJECTION_REASONS) {
		metrics.rejections.inc({ reason }, 0);
		metrics.peersDisconnected.inc({ reason }, 0);
	}
	for (const scope of DOCUMENT_REFUSALS) metrics.documentsRefused.inc({ scope }, 0);
	for (const outcome of EPHEMERAL_OUTCOMES) metrics.ephemeral.inc({ outcome }, 0);
	return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;
