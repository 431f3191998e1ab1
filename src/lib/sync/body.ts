/**
 * The plaintext body of a sealed entry: a batch of Automerge changes and its authority context.
 *   body = 'CHB' ‖ version (1) ‖ u8 n ‖ n × context head (32) ‖ u32 count ‖ count × (u32 length ‖ change)
 *   body = 'CHB' ‖ version (2) ‖ segment (16) ‖ u8 n ‖ … (the same)
 * The context heads are, for channel documents, the space-document heads the writer had seen: the
 * causal point in the space at which the batch is authorised. Space-document batches carry none.
 * Version 2 names the history segment the batch was written in (docs/protocol.md §8.3: the epoch
 * that started it); version 1 is the document's first segment, so a channel whose history was never
 * cut writes what it always wrote.
 */
import { CharterError } from '../errors.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { bytesEqual, hex } from '../util/bytes.js';
import { MAX_ENTRY_BYTES } from '../encryption/entry.js';
import { MAGIC } from '../crypto/domains.js';

const BODY_MAGIC = MAGIC.body;
const VERSION = 1;
const SEGMENT_VERSION = 2;
/** A segment is named by the id of the epoch that started it. */
export const SEGMENT_BYTES = 16;
const MAX_CHANGES = 100_000;

export interface ChangeBatch {
	context: string[];
	changes: Uint8Array[];
	/** The history segment written in (absent: the document's first). */
	segment?: Uint8Array;
}

const MAX_CONTEXT = 64;

export function encodeChangeBatch({ context, changes, segment }: ChangeBatch): Uint8Array {
	if (context.length > MAX_CONTEXT) throw new CharterError('too-large', 'too many context heads');
	const w = new BinaryWriter().bytes(BODY_MAGIC);
	if (segment) w.u8(SEGMENT_VERSION).bytes(segment, SEGMENT_BYTES);
	else w.u8(VERSION);
	w.u8(context.length);
	for (const head of context) w.bytes(hex.decode(head), 32);
	w.u32(changes.length);
	for (const c of changes) w.blob(c);
	return w.finish();
}

export function decodeChangeBatch(body: Uint8Array): ChangeBatch {
	const r = new BinaryReader(body, 'entry body');
	if (!bytesEqual(r.bytes(3), BODY_MAGIC))
		throw new CharterError('malformed', 'entry body is not a change batch');
	const version = r.u8();
	if (version !== VERSION && version !== SEGMENT_VERSION)
		throw new CharterError('unsupported-version', 'unsupported change batch version');
	const segment = version === SEGMENT_VERSION ? r.bytes(SEGMENT_BYTES) : undefined;
	const contextCount = r.u8();
	if (contextCount > MAX_CONTEXT) throw new CharterError('malformed', 'too many context heads');
	const context: string[] = [];
	for (let i = 0; i < contextCount; i++) context.push(hex.encode(r.bytes(32)));
	const count = r.u32();
	if (count === 0 || count > MAX_CHANGES)
		throw new CharterError('malformed', 'change batch has a bad count');
	const changes: Uint8Array[] = [];
	for (let i = 0; i < count; i++) changes.push(r.blob(MAX_ENTRY_BYTES));
	r.end();
	return segment ? { context, changes, segment } : { context, changes };
}
