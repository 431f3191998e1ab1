import { x25519 } from '@noble/curves/ed25519.js';

export function nobleX25519Pair() {
	const secret = x25519.utils.randomSecretKey();
	return { secret, publicKey: x25519.getPublicKey(secret) };
}
