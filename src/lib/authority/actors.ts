/**
 * Binding Automerge actors to signers. Every change a device makes carries the actor
 * hex(SHA-256(DOMAIN.actor ‖ device key)[0..12] ‖ session), where `session` is the 8-byte writer
 * session named in the entry header. So two tabs of one device never share an actor, and a change can
 * be traced to the device that signed the entry carrying it; any other actor is rejected.
 */
import { DOMAIN } from '../crypto/domains.js';
import { hash } from '../crypto/primitives.js';
import { concatBytes, hex } from '../util/bytes.js';

export function actorFor(deviceKey: Uint8Array, session: Uint8Array): string {
	return hex.encode(concatBytes(hash(DOMAIN.actor, deviceKey).subarray(0, 12), session));
}
