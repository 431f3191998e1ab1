/**
 * Joining with an invite link between in-memory clients, with no network: the newcomer's client
 * joins as it would through a sync server, reading the envelopes a holder's entries are copied into.
 */
import { isCharterError, type Space } from '../../src/lib/index.js';
import { envelopeDocumentId } from '../../src/lib/sync/envelope.js';
import { entryHash, entryKey } from '../../src/lib/encryption/entry.js';
import { channelIdBytes, spaceIdBytes } from '../../src/lib/identity/ids.js';
import { entriesOf, type Persona } from './personas.js';

/** Resolves to 'joined', or to the CharterError code the attempt was refused with. */
export const codeOf = (p: Promise<unknown>): Promise<string> =>
	p.then(
		() => 'joined',
		(e) => (isCharterError(e) ? e.code : `untyped: ${e}`)
	);

/** Copies every entry `from` holds of the space and its channels into `to`'s envelopes. */
export async function push(from: Persona, to: Persona, space: Space): Promise<void> {
	const documents = [
		space.idBytes,
		...Object.keys(space.document.channels).map((c) => channelIdBytes(c))
	];
	for (const document of documents) {
		const entries = await entriesOf(from.client, space.id, document);
		const handle = await to.client.wire.open(envelopeDocumentId(spaceIdBytes(space.id), document));
		await to.client.wire.append(
			handle,
			entries.map((bytes) => ({ key: entryKey(entryHash(bytes)), bytes }))
		);
	}
}

/** A newcomer joins with `link`, reading the space from `holder`. Resolves as `codeOf`. */
export async function joinFrom(
	newcomer: Persona,
	holder: Persona,
	space: Space,
	link: string
): Promise<string> {
	const joining = codeOf(newcomer.client.joinSpace(link, { timeoutMs: 10_000 }));
	await push(holder, newcomer, space);
	return joining;
}
