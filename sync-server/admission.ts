/**
 * Admission: which new documents this server agrees to store. Consulted once per document, with the
 * changes of the first message that would create it on this server; documents already held are not
 * asked about again. Without a policy the server is a dumb relay and admits everything.
 */
import { admitEnvelope } from '../src/lib/index.js';

export interface Admission {
	/**
	 * Whether `changes` (raw Automerge change or document chunks from a sync message, as sent) may
	 * create `documentId` here. Return false to drop the message; the connection stays open.
	 */
	admit(documentId: string, changes: Uint8Array[]): Promise<boolean> | boolean;
}

/**
 * Charter's allow list: only envelope documents of the listed spaces (`space_…`) or of spaces
 * whose genesis one of the listed owners (`user_…`) signed — judged from entry headers and
 * signatures, never from bodies (see src/lib/sync/admission.ts).
 */
export function allowListAdmission(allow: string[]): Admission {
	const spaces = allow.filter((id) => id.startsWith('space_'));
	const owners = allow.filter((id) => id.startsWith('user_'));
	return {
		async admit(documentId, changes) {
			return (await admitEnvelope(documentId, changes, { spaces, owners })).admitted;
		}
	};
}
