/**
 * The only parsing the sync server does of what peers send: automerge-repo's CBOR envelope
 * (type, sender, document id) and, for messages that can add to a document, the list of change
 * byte strings inside the Automerge sync message — to count and size them. The change bytes are
 * passed on as they are; their contents (Charter's sealed entries) are never opened here.
 */
import * as A from '@automerge/automerge';
import { cbor, isValidDocumentId } from '@automerge/automerge-repo';

export interface WireEnvelope {
	type: string;
	senderId?: string;
	targetId?: string;
	documentId?: string;
	data?: Uint8Array;
}

/** The message types whose `data` is an Automerge sync message the repo applies to a document. */
const DOCUMENT_WRITING_TYPES = new Set(['sync', 'request']);

/** Message types the repo routes to a document: they must name a valid one. */
const DOCUMENT_TYPES = new Set(['sync', 'request', 'ephemeral', 'doc-unavailable']);

/**
 * The envelope, or undefined if the bytes are not a well-formed automerge-repo message. Stricter than
 * the repo itself, which answers some malformed messages by logging them whole.
 */
export function decodeEnvelope(bytes: Uint8Array): WireEnvelope | undefined {
	let message: unknown;
	try {
		message = cbor.decode(bytes);
	} catch {
		return undefined;
	}
	if (typeof message !== 'object' || message === null) return undefined;
	const { type, senderId, documentId } = message as Record<string, unknown>;
	if (typeof type !== 'string' || typeof senderId !== 'string') return undefined;
	if (
		DOCUMENT_TYPES.has(type) &&
		(typeof documentId !== 'string' || !isValidDocumentId(documentId))
	)
		return undefined;
	return message as WireEnvelope;
}

/** The document a message is routed to (the repo loads or creates it), if it is routed to one. */
export function documentOf(message: WireEnvelope): string | undefined {
	return DOCUMENT_TYPES.has(message.type) ? message.documentId : undefined;
}

/** Whether the repo would apply this message's data to a document. */
export function writesDocument(
	message: WireEnvelope
): message is WireEnvelope & { documentId: string; data: Uint8Array } {
	return (
		DOCUMENT_WRITING_TYPES.has(message.type) &&
		typeof message.documentId === 'string' &&
		message.data instanceof Uint8Array
	);
}

/** The decoded sync message, or undefined if the bytes are not one. */
export function decodeSyncMessage(syncMessage: Uint8Array): A.DecodedSyncMessage | undefined {
	try {
		return A.decodeSyncMessage(syncMessage);
	} catch {
		return undefined;
	}
}

export const encodeSyncMessage = (message: A.DecodedSyncMessage): Uint8Array =>
	A.encodeSyncMessage(message);

/** The raw changes a sync message carries, or undefined if it is not a sync message at all. */
export function changesIn(syncMessage: Uint8Array): Uint8Array[] | undefined {
	try {
		return A.decodeSyncMessage(syncMessage).changes;
	} catch {
		return undefined;
	}
}

export function totalBytes(chunks: Uint8Array[]): number {
	let total = 0;
	for (const chunk of chunks) total += chunk.byteLength;
	return total;
}
