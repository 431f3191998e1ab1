/**
 * Charter's encoder for the one kind of Automerge change a publisher writes: `set` operations that
 * put byte strings under fresh keys of the envelope's `entries` map, with no predecessors.
 *
 * Why Charter encodes these itself: the publication seal (publication.ts) needs the canonical
 * bytes of a change from its fields, so that a verifier can rebuild them and refuse any other
 * encoding of "the same" change. `Automerge.encodeChange` builds changes from fields, but accepts no
 * byte-string values (checked on Automerge 3.5: "expected a number, string, bool, or null"), and
 * entries held as base64url strings cost ~23× the load time and ~5× the memory of bytes.
 *
 * The output is exactly what Automerge's own encoder writes for such a change (a change made
 * natively with `Automerge.change` has the same bytes and hash: test/unit/change-encoder.test.ts
 * checks that over random shapes). That equality is what lets these changes survive a document's
 * save/load round trip, which rebuilds changes from the document's columns and checks their hashes.
 *
 * Layout (Automerge binary format, change chunk, uncompressed columns):
 *
 *   magic (4) ‖ checksum (4) ‖ chunk type 1 ‖ uLEB body length ‖ body
 *   body = uLEB |deps| ‖ deps (32 bytes each, sorted) ‖ uLEB |actor| ‖ actor ‖ uLEB seq ‖
 *          uLEB startOp ‖ sLEB time ‖ uLEB |message| ‖ message ‖ uLEB |other actors| ‖
 *          (uLEB |actor| ‖ actor)* ‖ uLEB |columns| ‖ (uLEB spec ‖ uLEB length)* ‖ column data
 *   checksum = the first 4 bytes of SHA-256(chunk type ‖ uLEB body length ‖ body), which is also
 *   the change hash in full.
 */
import { concatBytes, hex, utf8 } from '../util/bytes.js';
import { AUTOMERGE_CHUNK_MAGIC } from '../crypto/domains.js';
import { hash } from '../crypto/primitives.js';

const MAGIC = AUTOMERGE_CHUNK_MAGIC;
/** Chunk type of an uncompressed change. */
const CHANGE_CHUNK = 1;
/** Action code of `set` in the action column. */
const ACTION_SET = 1;
/** Value type code of a byte string in the value-metadata column (length << 4 | type). */
const VALUE_BYTES = 7;

/**
 * Column specifications: column id << 4 | column type (0 group, 1 actor, 2 uLEB, 4 boolean,
 * 5 string, 6 value metadata, 7 value bytes). Only the columns these changes use, in the order
 * Automerge writes them; Automerge leaves out the ones that would be empty.
 */
const COLUMN = {
	objActor: 0x01,
	objCounter: 0x02,
	keyString: 0x15,
	insert: 0x34,
	action: 0x42,
	valueMeta: 0x56,
	valueRaw: 0x57,
	predGroup: 0x70
} as const;

export interface BytesSetChange {
	/** The writer's actor id, hex. */
	actor: string;
	seq: number;
	startOp: number;
	time: number;
	/** Hashes (hex) of the changes this one depends on. */
	deps: string[];
	message: string;
	/** The map every op writes into, as `counter@actor` (an object made by another actor). */
	obj: string;
	/** Keys and values, in op order; keys are distinct. */
	ops: { key: string; value: Uint8Array }[];
}

/** The canonical bytes of a change that sets byte strings into one map, and its hash (hex). */
export function encodeBytesSetChange(change: BytesSetChange): { bytes: Uint8Array; hash: string } {
	const [counterText, objActor] = change.obj.split('@') as [string, string];
	const objCounter = Number(counterText);
	if (!objActor || !Number.isSafeInteger(objCounter) || objActor === change.actor)
		throw new RangeError('the target map must be an object made by another actor');
	const n = change.ops.length;
	if (n === 0) throw new RangeError('a change needs at least one op');

	const body = new Writer();
	const deps = [...change.deps].sort();
	body.uleb(deps.length);
	for (const dep of deps) body.raw(hex.decode(dep));
	body.prefixed(hex.decode(change.actor));
	body.uleb(change.seq);
	body.uleb(change.startOp);
	body.sleb(change.time);
	body.prefixed(utf8.encode(change.message));
	body.uleb(1); // other actors: the map's maker, actor index 1
	body.prefixed(hex.decode(objActor));

	const all: [number, Uint8Array][] = [
		[COLUMN.objActor, uintRle(new Array<number>(n).fill(1))],
		[COLUMN.objCounter, uintRle(new Array<number>(n).fill(objCounter))],
		[COLUMN.keyString, stringRle(change.ops.map((op) => op.key))],
		[COLUMN.insert, new Writer().uleb(n).finish()], // one run of n `false`
		[COLUMN.action, uintRle(new Array<number>(n).fill(ACTION_SET))],
		[COLUMN.valueMeta, uintRle(change.ops.map((op) => op.value.length * 16 + VALUE_BYTES))],
		[COLUMN.valueRaw, concatBytes(...change.ops.map((op) => op.value))],
		[COLUMN.predGroup, uintRle(new Array<number>(n).fill(0))]
	];
	const columns = all.filter(([, data]) => data.length > 0); // empty columns are left out
	body.uleb(columns.length);
	for (const [spec, data] of columns) body.uleb(spec).uleb(data.length);
	for (const [, data] of columns) body.raw(data);
	const contents = body.finish();

	const header = new Writer().raw(Uint8Array.of(CHANGE_CHUNK)).uleb(contents.length).finish();
	const digest = hash(header, contents);
	const bytes = concatBytes(Uint8Array.from(MAGIC), digest.subarray(0, 4), header, contents);
	return { bytes, hash: hex.encode(digest) };
}

/**
 * Reads a change written by `encodeBytesSetChange` back into its fields, or undefined if the bytes
 * are anything else (another kind of change, another encoding of the same change, junk). Strict by
 * construction: the fields are re-encoded and must give the very same bytes, so what this accepts
 * is canonical. Cheaper than `Automerge.decodeChange`, which hands byte values back as arrays of
 * numbers.
 */
export function decodeBytesSetChange(
	bytes: Uint8Array
): (BytesSetChange & { hash: string; bytes: Uint8Array }) | undefined {
	try {
		const r = new Reader(bytes);
		for (const m of MAGIC) if (r.byte() !== m) return undefined;
		r.skip(4); // checksum: checked by the re-encoding below
		if (r.byte() !== CHANGE_CHUNK) return undefined;
		const length = r.uleb();
		if (r.at + length !== bytes.length) return undefined;
		const deps: string[] = [];
		for (let i = r.uleb(); i > 0; i--) deps.push(hex.encode(r.take(32)));
		const actor = hex.encode(r.prefixed());
		const seq = r.uleb();
		const startOp = r.uleb();
		const time = r.sleb();
		const message = utf8.decode(r.prefixed());
		if (r.uleb() !== 1) return undefined;
		const objActor = hex.encode(r.prefixed());
		const specs: [number, number][] = [];
		for (let i = r.uleb(); i > 0; i--) specs.push([r.uleb(), r.uleb()]);
		const data = new Map<number, Uint8Array>();
		for (const [spec, len] of specs) data.set(spec, r.take(len));
		const keys = rleDecode(data.get(COLUMN.keyString), (c) => utf8.decode(c.prefixed()));
		const metas = rleDecode(data.get(COLUMN.valueMeta), (c) => c.uleb());
		const counters = rleDecode(data.get(COLUMN.objCounter), (c) => c.uleb());
		if (keys.length === 0 || metas.length !== keys.length || counters.length === 0)
			return undefined;
		const raw = new Reader(data.get(COLUMN.valueRaw) ?? new Uint8Array(0));
		const ops = keys.map((key, i) => {
			const meta = metas[i]!;
			if (meta % 16 !== VALUE_BYTES) throw new RangeError('not a byte string');
			return { key, value: raw.take(Math.floor(meta / 16)) };
		});
		const change: BytesSetChange = {
			actor,
			seq,
			startOp,
			time,
			deps,
			message,
			obj: `${counters[0]}@${objActor}`,
			ops
		};
		const canonical = encodeBytesSetChange(change);
		if (canonical.bytes.length !== bytes.length) return undefined;
		for (let i = 0; i < bytes.length; i++) if (canonical.bytes[i] !== bytes[i]) return undefined;
		return { ...change, hash: canonical.hash, bytes };
	} catch {
		return undefined;
	}
}

function rleDecode<T>(column: Uint8Array | undefined, read: (r: Reader) => T): T[] {
	const out: T[] = [];
	if (!column) return out;
	const r = new Reader(column);
	while (!r.done) {
		const count = r.sleb();
		if (count > 0) {
			const value = read(r);
			for (let i = 0; i < count; i++) out.push(value);
		} else if (count < 0) for (let i = 0; i < -count; i++) out.push(read(r));
		else throw new RangeError('null runs do not occur in these columns');
		if (out.length > MAX_OPS) throw new RangeError('too many ops');
	}
	return out;
}

/** More ops than any publication carries (a publication holds at most a few thousand entries). */
const MAX_OPS = 100_000;

/**
 * Automerge's run-length encoding of an unsigned column: a run of equal values is sLEB(count) ‖
 * value; values that do not repeat go into literal runs, sLEB(-count) ‖ values. A value equal to
 * the one after it always starts a repeat run, so the encoding is unique.
 */
function uintRle(values: number[]): Uint8Array {
	return rle(values, (w, v) => w.uleb(v));
}

/** The same run-length encoding over strings (each uLEB length ‖ UTF-8). */
function stringRle(values: string[]): Uint8Array {
	return rle(values, (w, v) => w.prefixed(utf8.encode(v)));
}

function rle<T>(values: T[], put: (w: Writer, value: T) => void): Uint8Array {
	const w = new Writer();
	let i = 0;
	while (i < values.length) {
		let run = 1;
		while (i + run < values.length && values[i + run] === values[i]) run++;
		if (run > 1) {
			w.sleb(run);
			put(w, values[i]!);
			i += run;
			continue;
		}
		// a literal run: up to the first value that repeats
		let end = i + 1;
		while (end < values.length && !(end + 1 < values.length && values[end + 1] === values[end]))
			end++;
		w.sleb(-(end - i));
		for (let k = i; k < end; k++) put(w, values[k]!);
		i = end;
	}
	return w.finish();
}

/** A bounds-checked reader of LEB128 and length-prefixed fields. */
class Reader {
	at = 0;
	constructor(private readonly bytes: Uint8Array) {}

	get done(): boolean {
		return this.at >= this.bytes.length;
	}

	byte(): number {
		if (this.at >= this.bytes.length) throw new RangeError('truncated');
		return this.bytes[this.at++]!;
	}

	skip(n: number): void {
		this.take(n);
	}

	take(n: number): Uint8Array {
		if (n < 0 || this.at + n > this.bytes.length) throw new RangeError('truncated');
		const out = this.bytes.subarray(this.at, this.at + n);
		this.at += n;
		return out;
	}

	prefixed(): Uint8Array {
		return this.take(this.uleb());
	}

	uleb(): number {
		let value = 0;
		for (let shift = 0; ; shift += 7) {
			if (shift > 49) throw new RangeError('uLEB too long');
			const byte = this.byte();
			value += (byte & 0x7f) * 2 ** shift;
			if (!(byte & 0x80)) return value;
		}
	}

	sleb(): number {
		let value = 0;
		for (let shift = 0; ; shift += 7) {
			if (shift > 49) throw new RangeError('sLEB too long');
			const byte = this.byte();
			value += (byte & 0x7f) * 2 ** shift;
			if (!(byte & 0x80)) return byte & 0x40 ? value - 2 ** (shift + 7) : value;
		}
	}
}

/** A growable byte buffer with LEB128 writers. */
class Writer {
	#parts: number[] = [];
	#chunks: Uint8Array[] = [];

	uleb(value: number): this {
		if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`bad uLEB ${value}`);
		do {
			let byte = value % 128;
			value = Math.floor(value / 128);
			if (value > 0) byte |= 0x80;
			this.#parts.push(byte);
		} while (value > 0);
		return this;
	}

	sleb(value: number): this {
		if (!Number.isSafeInteger(value)) throw new RangeError(`bad sLEB ${value}`);
		for (;;) {
			const byte = ((value % 128) + 128) % 128;
			value = Math.floor(value / 128);
			const done = (value === 0 && !(byte & 0x40)) || (value === -1 && byte & 0x40);
			this.#parts.push(done ? byte : byte | 0x80);
			if (done) return this;
		}
	}

	prefixed(bytes: Uint8Array): this {
		return this.uleb(bytes.length).raw(bytes);
	}

	raw(bytes: Uint8Array): this {
		this.#flush();
		this.#chunks.push(bytes);
		return this;
	}

	finish(): Uint8Array {
		this.#flush();
		return concatBytes(...this.#chunks);
	}

	#flush() {
		if (this.#parts.length) this.#chunks.push(Uint8Array.from(this.#parts));
		this.#parts = [];
	}
}
