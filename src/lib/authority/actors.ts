/**
 * Binding Automerge actors to signers. Every change a device makes carries the actor
 * hex(SHA-256(DOMAIN.actor ‖ device key)[0..12] ‖ session), where `session` is the 8-byte writer
 * session named in the entry header. So two tabs of one device never share an actor, and a change can
 * be traced to the device that signed the entry carrying it; any other actor is rejected.
 */
import { DOMAIN } from '../crypto/domains.js';
import { hash } from '../crypto/primitives.js';
import { hex } from '../util/bytes.js';

/**
 * Device keys whose actor prefix was hashed, and the prefix (hex): a reader meets the same few devices
 * in every entry of a batch (a cold sync of 10,000 messages hashed one key 20,000 times). A pure
 * function's memo, bounded: past this many devices it starts again.
 */
const MAX_REMEMBERED_DEVICES = 4096;
const prefixes = new Map<string, string>();

export function actorFor(deviceKey: Uint8Array, session: Uint8Array): string {
	const device = hex.encode(deviceKey);
	let prefix = prefixes.get(device);
	if (prefix === undefined) {
		if (prefixes.size >= MAX_REMEMBERED_DEVICES) prefixes.clear();
		prefix = hex.encode(hash(DOMAIN.actor, deviceKey).subarray(0, 12));
		prefixes.set(device, prefix);
	}
	return prefix + hex.encode(session);
}
