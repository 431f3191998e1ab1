/**
 * In-memory Charter clients for authority stories. Each persona is a real client with its own
 * keys, wire repo and replicas; `deliver` moves sealed entries between their envelope documents,
 * in any order — exactly the "set of entries received" the authority layer must be a function of.
 */
import * as A from '@automerge/automerge';
import fc from 'fast-check';
import {
	Charter,
	type Channel,
	type Message,
	type Space,
	type SpaceId
} from '../../src/lib/index.js';
import { bytesWrittenBy, envelopeDocumentId } from '../../src/lib/sync/envelope.js';
import { entryHash, entryKey } from '../../src/lib/encryption/entry.js';
import { channelIdBytes, spaceIdBytes } from '../../src/lib/identity/ids.js';

export interface Persona {
	name: string;
	client: Charter;
}

export async function personas<N extends string>(...names: N[]): Promise<Record<N, Persona>> {
	const out = {} as Record<N, Persona>;
	for (const name of names) {
		const client = await Charter.open({ inMemory: true, deviceName: name });
		await client.createIdentity();
		out[name] = { name, client };
	}
	return out;
}

export const userOf = (p: Persona) => p.client.identity!.userId;

/** The ids of every document of a space known to any of the given clients. */
function documentsOf(spaceId: SpaceId, clients: Charter[]): Uint8Array[] {
	const docs = new Map<string, Uint8Array>([[spaceId, spaceIdBytes(spaceId)]]);
	for (const c of clients) {
		const space = c.space(spaceId);
		for (const id of Object.keys(space?.document.channels ?? {})) docs.set(id, channelIdBytes(id));
	}
	return [...docs.values()];
}

export async function entriesOf(
	client: Charter,
	spaceId: SpaceId,
	document: Uint8Array
): Promise<Uint8Array[]> {
	const handle = await client.wire.open(envelopeDocumentId(spaceIdBytes(spaceId), document));
	return bytesWrittenBy(A.getAllChanges(handle.doc()));
}

/** A new device of a user, restored from their phrase: a reader that has received nothing yet. */
export async function freshDevice(phrase: string, name = 'reader'): Promise<Persona> {
	const client = await Charter.open({ inMemory: true });
	await client.restoreIdentity(phrase);
	return { name, client };
}

/** A delivery order for `deliver` drawn by fast-check: 64 numbers that sort any n positions. */
export const orderBy =
	(keys: readonly number[]) =>
	(n: number): number[] =>
		[...Array(n).keys()].sort((a, b) => keys[a % 64]! - keys[b % 64]! || a - b);

/**
 * Delivers every entry `from` holds for the space to `to` (opening the space there if needed), in the
 * given order (default: as found). Returns once `to` has processed them.
 */
export async function deliver(
	from: Persona,
	to: Persona,
	spaceId: SpaceId,
	options: { shuffle?: (n: number) => number[]; batch?: number; also?: Uint8Array[] } = {}
): Promise<void> {
	const space = to.client.space(spaceId) ?? (await to.client.openSpace(spaceId));
	for (let round = 0; round < 3; round++) {
		for (const document of [
			...documentsOf(spaceId, [from.client, to.client]),
			...(options.also ?? [])
		]) {
			const entries = await entriesOf(from.client, spaceId, document);
			const order = options.shuffle ? options.shuffle(entries.length) : entries.map((_, i) => i);
			const handle = await to.client.wire.open(envelopeDocumentId(spaceIdBytes(spaceId), document));
			const batch = Math.max(1, options.batch ?? entries.length);
			for (let i = 0; i < order.length; i += batch) {
				const slice = order.slice(i, i + batch).map((k) => entries[k]!);
				await to.client.wire.append(
					handle,
					slice.map((bytes) => ({ key: entryKey(entryHash(bytes)), bytes }))
				);
				await space.settled();
			}
		}
		await space.settled();
	}
}

/**
 * The delivery-order property: a fresh device of the user whose `phrase` is given receives every
 * entry `people` hold for the space, in a random order drawn by fast-check (in batches of 1–3, any
 * of them first), and `check` sees its #general (the space's first channel) once it has them all.
 */
export async function inEveryDeliveryOrder(
	people: Persona[],
	phrase: string,
	spaceId: SpaceId,
	check: (general: Channel) => void,
	numRuns = 6
): Promise<void> {
	await fc.assert(
		fc.asyncProperty(
			fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
			fc.integer({ min: 1, max: 3 }),
			fc.constantFrom(...people.map((_, i) => i)),
			async (keys, batch, firstFrom) => {
				const reader = await freshDevice(phrase);
				try {
					const shuffle = orderBy(keys);
					const from = [...people.slice(firstFrom), ...people.slice(0, firstFrom)];
					for (const p of from) await deliver(p, reader, spaceId, { shuffle, batch });
					check(reader.client.space(spaceId)!.channels[0]!);
				} finally {
					await reader.client.close();
				}
			}
		),
		{ numRuns }
	);
}

/** Everyone delivers to everyone (several rounds so relayed entries propagate). */
export async function syncAll(people: Persona[], spaceId: SpaceId): Promise<void> {
	for (const a of people) for (const b of people) if (a !== b) await deliver(a, b, spaceId);
	for (const p of people) await p.client.space(spaceId)?.settled();
}

/** A comparable picture of everything a member sees of a space. */
export function picture(space: Space) {
	return {
		name: space.name,
		members: space.members
			.map((m) => ({ user: m.user, roles: [...m.roles].sort(), nickname: m.nickname ?? '' }))
			.sort((a, b) => (a.user < b.user ? -1 : 1)),
		roles: space.roles
			.map((r) => ({ id: r.id, name: r.name, position: r.position, permissions: r.permissions }))
			.sort((a, b) => (a.id < b.id ? -1 : 1)),
		bans: space.bans.map((b) => b.user).sort(),
		channels: Object.keys(space.document.channels ?? {}).sort(),
		messages: Object.fromEntries(
			[...Object.keys(space.document.channels ?? {})]
				.sort()
				.map((id) => [
					id,
					space.channel(id as never)?.messages.map((m) => `${m.author}:${m.text}`) ?? null
				])
		)
	};
}

export async function shutdown(people: Persona[]) {
	for (const p of people) await p.client.close();
}

/**
 * A space of Ada's with Ben and Cy, everyone synced (and, given `first`, a first message of Ada's in
 * #general). Ada's `phrase` lets a test restore a fresh device of hers (`freshDevice`).
 */
export async function bookClub(first?: string) {
	const adaClient = await Charter.open({ inMemory: true, deviceName: 'ada' });
	const { phrase } = await adaClient.createIdentity();
	const ada: Persona = { name: 'ada', client: adaClient };
	const cast = { ada, ...(await personas('ben', 'cy')) };
	const people = Object.values(cast);
	const space = await ada.client.createSpace({ name: 'Book club' });
	for (const p of [cast.ben, cast.cy]) await space.addMember(await p.client.memberCard());
	const message: Message | undefined = first ? await space.channels[0]!.send(first) : undefined;
	await syncAll(people, space.id);
	const on = (p: Persona): Space => p.client.space(space.id)!;
	const general = (p: Persona): Channel => on(p).channels[0]!;
	return { cast, people, space, first: message, on, general, phrase };
}
