/**
 * The plaintext body of a sealed entry: a batch of Automerge changes and its authority context.
 *   body = 'CHB' ‖ version (1) ‖ u8 n ‖ n × context head (32) ‖ u32 count ‖ count × (u32 length ‖ change)
 * The context heads are, for channel documents, the space-document heads the writer had seen: the
 * causal point in the space at which the batch is authorised. Space-document batches carry none.
 */
import { CharterError } from '../errors.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { bytesEqual, hex } from '../util/bytes.js';
import { MAX_ENTRY_BYTES } from '../encryption/entry.js';
import { MAGIC } from '../crypto/domains.js';

const BODY_MAGIC = MAGIC.body;
const VERSION = 1;
const MAX_CHANGES = 100_000;

export interface ChangeBatch {
	context: string[];
	changes: Uint8Array[];
}

const MAX_CONTEXT = 64;

export function encodeChangeBatch({ context, changes }: ChangeBatch): Uint8Array {
	if (context.length > MAX_CONTEXT) throw new CharterError('too-large', 'too many context heads');
	const w = new BinaryWriter().bytes(BODY_MAGIC).u8(VERSION).u8(context.length);
	for (const head of context) w.bytes(hex.decode(head), 32);
	w.u32(changes.length);
	for (const c of changes) w.blob(c);
	return w.finish();
}

export function decodeChangeBatch(body: Uint8Array): ChangeBatch {
	const r = new BinaryReader(body, 'entry body');
	if (!bytesEqual(r.bytes(3), BODY_MAGIC))
		throw new CharterError('malformed', 'entry body is not a change batch');
	if (r.u8() !== VERSION)
		throw new CharterError('unsupported-version', 'unsupported change batch version');
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
	return { context, changes };
}
