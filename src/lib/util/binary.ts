/** A bounds-checked reader/writer for Charter's small binary formats. Readers never over-read. */
import { CharterError } from '../errors.js';
import { concatBytes, u32be, u64be, utf8 } from './bytes.js';

export class BinaryReader {
	#offset = 0;
	constructor(
		private readonly data: Uint8Array,
		private readonly what: string
	) {}

	get offset(): number {
		return this.#offset;
	}

	bytes(length: number): Uint8Array {
		if (length < 0 || this.#offset + length > this.data.length)
			throw new CharterError('malformed', `${this.what} is truncated`);
		const out = this.data.subarray(this.#offset, this.#offset + length);
		this.#offset += length;
		return out;
	}

	u8(): number {
		return this.bytes(1)[0]!;
	}

	u16(): number {
		const b = this.bytes(2);
		return (b[0]! << 8) | b[1]!;
	}

	u32(): number {
		const b = this.bytes(4);
		return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, false);
	}

	u64(): number {
		const b = this.bytes(8);
		const value = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, false);
		if (value > BigInt(Number.MAX_SAFE_INTEGER))
			throw new CharterError('malformed', `${this.what} has an out-of-range number`);
		return Number(value);
	}

	/** A u16-length-prefixed UTF-8 string. */
	string(): string {
		try {
			return utf8.decode(this.bytes(this.u16()));
		} catch (error) {
			if (error instanceof CharterError) throw error;
			throw new CharterError('malformed', `${this.what} has invalid UTF-8`);
		}
	}

	/** A u32-length-prefixed byte string. */
	blob(max: number): Uint8Array {
		const length = this.u32();
		if (length > max)
			throw new CharterError('too-large', `${this.what} has a field over ${max} bytes`);
		return this.bytes(length);
	}

	rest(): Uint8Array {
		return this.bytes(this.data.length - this.#offset);
	}

	end(): void {
		if (this.#offset !== this.data.length)
			throw new CharterError('malformed', `${this.what} has trailing bytes`);
	}
}

export class BinaryWriter {
	#parts: Uint8Array[] = [];
	bytes(value: Uint8Array, expectedLength?: number): this {
		if (expectedLength !== undefined && value.length !== expectedLength)
			throw new CharterError(
				'invalid-argument',
				`expected ${expectedLength} bytes, got ${value.length}`
			);
		this.#parts.push(value);
		return this;
	}
	u8(value: number): this {
		this.#parts.push(Uint8Array.of(value & 0xff));
		return this;
	}
	u16(value: number): this {
		this.#parts.push(Uint8Array.of((value >> 8) & 0xff, value & 0xff));
		return this;
	}
	u32(value: number): this {
		this.#parts.push(u32be(value));
		return this;
	}
	u64(value: number): this {
		this.#parts.push(u64be(value));
		return this;
	}
	string(value: string): this {
		const encoded = utf8.encode(value);
		if (encoded.length > 0xffff) throw new CharterError('too-large', 'string over 65535 bytes');
		return this.u16(encoded.length).bytes(encoded);
	}
	blob(value: Uint8Array): this {
		return this.u32(value.length).bytes(value);
	}
	finish(): Uint8Array {
		return concatBytes(...this.#parts);
	}
}
