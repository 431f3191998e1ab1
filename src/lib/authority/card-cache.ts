/**
 * Rules are synchronous; signature checks are not. Validators verify every card that a batch of
 * changes carries before running the rules, and the rules look the result up here.
 */
import { verifyUserCard } from '../identity/certificates.js';
import { hex } from '../util/bytes.js';

const verified = new Map<string, string | false>();

export async function verifyCards(cards: Iterable<Uint8Array>): Promise<void> {
	await Promise.all(
		[...cards].map(async (bytes) => {
			const key = hex.encode(bytes);
			if (verified.has(key)) return;
			try {
				verified.set(key, (await verifyUserCard(bytes)).user);
			} catch {
				verified.set(key, false);
			}
		})
	);
	if (verified.size > 50_000) verified.clear();
}

export function isVerifiedCardFor(bytes: Uint8Array, user: string): boolean {
	return verified.get(hex.encode(bytes)) === user;
}
