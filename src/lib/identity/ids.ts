/**
 * Typed identifiers. A user id is its identity public key, a device id its device public key, both
 * base58; space and channel ids are 16 bytes. Template-literal types keep an id from being passed
 * where a key (or another kind of id) belongs.
 */
import { CharterError } from '../errors.js';
import { base58 } from '../util/bytes.js';

export type UserId = `user_${string}`;
export type DeviceId = `device_${string}`;
export type SpaceId = `space_${string}`;
export type ChannelId = `chan_${string}`;

export const ID_BYTES = 16;

type Prefixed = 'user_' | 'device_' | 'space_' | 'chan_';

function encode<P extends Prefixed>(prefix: P, bytes: Uint8Array): `${P}${string}` {
	return `${prefix}${base58.encode(bytes)}`;
}

function decode(prefix: Prefixed, id: string, length: number, what: string): Uint8Array {
	if (typeof id !== 'string' || !id.startsWith(prefix))
		throw new CharterError('invalid-argument', `not a ${what}: ${String(id).slice(0, 60)}`);
	let bytes: Uint8Array;
	try {
		bytes = base58.decode(id.slice(prefix.length));
	} catch {
		throw new CharterError('invalid-argument', `not a ${what}: bad base58`);
	}
	if (bytes.length !== length)
		throw new CharterError('invalid-argument', `not a ${what}: wrong length`);
	return bytes;
}

export const userId = (publicKey: Uint8Array): UserId => encode('user_', publicKey);
export const userKey = (id: UserId | string): Uint8Array => decode('user_', id, 32, 'user id');
export const deviceId = (publicKey: Uint8Array): DeviceId => encode('device_', publicKey);
export const deviceKey = (id: DeviceId | string): Uint8Array =>
	decode('device_', id, 32, 'device id');
export const spaceId = (bytes: Uint8Array): SpaceId => encode('space_', bytes);
export const spaceIdBytes = (id: SpaceId | string): Uint8Array =>
	decode('space_', id, ID_BYTES, 'space id');
export const channelId = (bytes: Uint8Array): ChannelId => encode('chan_', bytes);
export const channelIdBytes = (id: ChannelId | string): Uint8Array =>
	decode('chan_', id, ID_BYTES, 'channel id');

export function isSpaceId(value: unknown): value is SpaceId {
	try {
		spaceIdBytes(value as string);
		return true;
	} catch {
		return false;
	}
}
