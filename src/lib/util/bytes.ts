/** Byte helpers shared by every layer. Kept tiny on purpose: encodings come from @scure/base. */
import { base58, base64urlnopad, hex } from '@scure/base';
import { randomBytes as nobleRandomBytes } from '@noble/hashes/utils.js';

export const utf8 = {
	encode: (text: string): Uint8Array => new TextEncoder().encode(text),
	decode: (bytes: Uint8Array): string => new TextDecoder('utf-8', { fatal: true }).decode(bytes)
};

export { base58, base64urlnopad as base64url, hex };

export function randomBytes(length: number): Uint8Array {
	return nobleRandomBytes(length);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
	let length = 0;
	for (const part of parts) length += part.length;
	const out = new Uint8Array(length);
	let offset = 0;
	for (const part of parts) {
		out.set(part, offset);
		offset += part.length;
	}
	return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
	if (a.length !== b.length) return false;
	let diff = 0;
	for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
	return diff === 0;
}

export function u32be(value: number): Uint8Array {
	const out = new Uint8Array(4);
	new DataView(out.buffer).setUint32(0, value >>> 0, false);
	return out;
}

export function u64be(value: number): Uint8Array {
	const out = new Uint8Array(8);
	new DataView(out.buffer).setBigUint64(0, BigInt(Math.max(0, Math.floor(value))), false);
	return out;
}

/** Copies into a fresh, exactly-sized Uint8Array (Automerge may hand back arrays or views). */
export function toBytes(value: unknown): Uint8Array | undefined {
	if (value instanceof Uint8Array) return value;
	if (Array.isArray(value) && value.every((v) => typeof v === 'number' && v >= 0 && v < 256))
		return Uint8Array.from(value as number[]);
	return undefined;
}

/** Lexicographic order of byte strings (for deterministic sorting). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
	const n = Math.min(a.length, b.length);
	for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
	return a.length - b.length;
}
