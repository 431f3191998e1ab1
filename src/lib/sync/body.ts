/**
 * The plaintext body of a sealed entry: a batch of Automerge changes.
 *   body = 'CHB' ‖ version (1) ‖ u32 count ‖ count × (u32 length ‖ change)
 */
import { CharterError } from '../errors.js';
import { BinaryReader, BinaryWriter } from '../util/binary.js';
import { bytesEqual, utf8 } from '../util/bytes.js';
import { MAX_ENTRY_BYTES } from '../encryption/entry.js';

const MAGIC = utf8.encode('CHB');
const VERSION = 1;
const MAX_CHANGES = 100_000;

export function encodeChangeBatch(changes: Uint8Array[]): Uint8Array {
	const w = new BinaryWriter().bytes(MAGIC).u8(VERSION).u32(changes.length);
	for (const c of changes) w.blob(c);
	return w.finish();
}

export function decodeChangeBatch(body: Uint8Array): Uint8Array[] {
	const r = new BinaryReader(body, 'entry body');
	if (!bytesEqual(r.bytes(3), MAGIC)) throw new CharterError('malformed', 'entry body is not a change batch');
	if (r.u8() !== VERSION) throw new CharterError('unsupported-version', 'unsupported change batch version');
	const count = r.u32();
	if (count === 0 || count > MAX_CHANGES) throw new CharterError('malformed', 'change batch has a bad count');
	const changes: Uint8Array[] = [];
	for (let i = 0; i < count; i++) changes.push(r.blob(MAX_ENTRY_BYTES));
	r.end();
	return changes;
}
