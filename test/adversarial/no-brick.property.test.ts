/**
 * Property (invariant #3, "no brick"): whatever a hostile member (Mallory, genuine keys, no client
 * checks), two invitees and a raw automerge-repo outsider write — genuine, forged, equivocating,
 * sealed junk, unsealed envelope changes, rule-table edge cases — and in whatever order honest peers
 * receive it, afterwards the owner can still
 *   (a) write in every channel, and every honest peer accepts it,
 *   (b) change the space (rename it), and every honest peer accepts it,
 *   (c) ban every other member, and every honest peer accepts the bans,
 *   (d) and every honest peer — the owner, the admin, fresh devices of the owner fed every entry in
 *       different orders — ends with the same space.
 *
 * Peers are real clients (real keys, Automerge, replicas and validators) in one process; entries
 * move between their envelope documents as sealed publications of a relay, through the same
 * publication check as the network (test/support/siege.ts), so envelope-level attacks reach a
 * peer exactly as they would through a sync server.
 *
 * Runs: the sieges in FOUND, then CHARTER_SOAK_RUNS random ones (npm run test:soak) or 12 in CI;
 * CHARTER_SOAK_SEED replays a seed.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as A from '@automerge/automerge';
import {
	Charter,
	isCharterError,
	Permission,
	type Space,
	type SpaceId
} from '../../src/lib/index.js';
import { Identity } from '../../src/lib/identity/identity.js';
import { MemorySecretStore } from '../../src/lib/identity/secret-store.js';
import { actorFor } from '../../src/lib/authority/actors.js';
import { atom, type ChannelDoc, type SpaceDoc } from '../../src/lib/authority/schema.js';
import { inviteKeys, parseInviteLink, signInviteProof } from '../../src/lib/authority/invites.js';
import { channelIdBytes, type ChannelId } from '../../src/lib/identity/ids.js';
import { epochIdOf, type KeyRing } from '../../src/lib/encryption/keyring.js';
import { newKey } from '../../src/lib/crypto/primitives.js';
import { entryHash, MAX_ENTRY_BYTES, parseEntry } from '../../src/lib/encryption/entry.js';
import { base58, hex, randomBytes } from '../../src/lib/util/bytes.js';
import { entriesOf, picture } from '../support/personas.js';
import {
	devicesOf,
	heldEntries,
	Outsider,
	Relay,
	receiveChanges,
	sealAs
} from '../support/siege.js';

const SOAK = process.env.CHARTER_SOAK_RUNS !== undefined;
const RUNS = SOAK ? Number(process.env.CHARTER_SOAK_RUNS) : 12;
const SEED = process.env.CHARTER_SOAK_SEED ? Number(process.env.CHARTER_SOAK_SEED) : undefined;

// ---- what the attackers can do ----------------------------------------------------------------

type Doc = 'space' | 'general' | 'staff';
type Peer = 'owner' | 'admin';
type Escalation =
	| 'grant-self-mod'
	| 'everyone-administrator'
	| 'role-above-owner'
	| 'ban-owner'
	| 'kick-admin'
	| 'delete-channel'
	| 'deny-owner-view'
	| 'rename'
	| 'delete-epochs'
	| 'overwrite-owner-card'
	| 'revoke-invite';

type Command =
	/** A junk epoch id named as current for a document (issue #12, item 2). */
	| { by: 'mallory'; kind: 'epoch'; doc: Doc; fork: boolean }
	/** An existing (perhaps used-up) invite re-made with fresh counters (item 4). */
	| { by: 'mallory'; kind: 'reinvite'; maxUses: 0 | 1; fork: boolean }
	/** Two entries carrying different changes with one Automerge (actor, seq) (item 3). */
	| { by: 'mallory'; kind: 'equivocate'; doc: 'space' | 'general'; fork: boolean }
	/** A message, possibly back-dated (empty authority context). */
	| { by: 'mallory'; kind: 'send'; backdated: boolean; fork: boolean }
	| { by: 'mallory'; kind: 'escalate'; how: Escalation; fork: boolean }
	| { by: 'mallory'; kind: 'nicknames'; count: number; fork: boolean }
	/** Genuinely signed entries that are not what they claim: bodies that are not changes, a
	 * change under someone else's actor, an epoch nobody holds a key for, a foreign document. */
	| {
			by: 'mallory';
			kind: 'malformed';
			what: 'garbage-body' | 'foreign-actor' | 'unknown-epoch' | 'wrong-document';
			doc: 'space' | 'general';
	  }
	| { by: 'joiner'; who: 0 | 1; kind: 'join'; fork: boolean }
	| { by: 'joiner'; who: 0 | 1; kind: 'send'; fork: boolean }
	/** An unsealed change vouched for by a sealed one of the same publishing actor (item 1). */
	| { by: 'outsider'; kind: 'vandalise'; doc: Doc; at: Peer }
	| { by: 'outsider'; kind: 'unsealed'; doc: Doc; at: Peer }
	/** Sealed junk: random bytes, truncated or re-signed entries, entries replayed from another
	 * channel, a validly sealed change with a seq gap (Automerge panics applying it), 4 MB. */
	| {
			by: 'outsider';
			kind: 'junk';
			doc: Doc;
			at: Peer;
			what: 'random' | 'truncated' | 'forged' | 'replayed' | 'colliding' | 'huge';
	  }
	| { by: 'owner' | 'admin'; kind: 'send' }
	| { by: 'admin'; kind: 'ban-mallory' }
	| { by: 'net'; kind: 'sync'; to: Peer | 'mallory' };

const doc = fc.constantFrom<Doc>('space', 'general', 'staff');
const peer = fc.constantFrom<Peer>('owner', 'admin');
const fork = fc.boolean();
const command: fc.Arbitrary<Command> = fc.oneof(
	{
		weight: 3,
		arbitrary: fc.record({
			by: fc.constant('mallory' as const),
			kind: fc.constant('epoch' as const),
			doc,
			fork
		})
	},
	{
		weight: 2,
		arbitrary: fc.record({
			by: fc.constant('mallory' as const),
			kind: fc.constant('reinvite' as const),
			maxUses: fc.constantFrom<0 | 1>(0, 1),
			fork
		})
	},
	{
		weight: 3,
		arbitrary: fc.record({
			by: fc.constant('mallory' as const),
			kind: fc.constant('equivocate' as const),
			doc: fc.constantFrom<'space' | 'general'>('space', 'general'),
			fork
		})
	},
	fc.record({
		by: fc.constant('mallory' as const),
		kind: fc.constant('send' as const),
		backdated: fc.boolean(),
		fork
	}),
	{
		weight: 3,
		arbitrary: fc.record({
			by: fc.constant('mallory' as const),
			kind: fc.constant('escalate' as const),
			how: fc.constantFrom<Escalation>(
				'grant-self-mod',
				'everyone-administrator',
				'role-above-owner',
				'ban-owner',
				'kick-admin',
				'delete-channel',
				'deny-owner-view',
				'rename',
				'delete-epochs',
				'overwrite-owner-card',
				'revoke-invite'
			),
			fork
		})
	},
	fc.record({
		by: fc.constant('mallory' as const),
		kind: fc.constant('nicknames' as const),
		count: fc.integer({ min: 1, max: 200 }),
		fork
	}),
	fc.record({
		by: fc.constant('mallory' as const),
		kind: fc.constant('malformed' as const),
		what: fc.constantFrom(
			'garbage-body' as const,
			'foreign-actor' as const,
			'unknown-epoch' as const,
			'wrong-document' as const
		),
		doc: fc.constantFrom<'space' | 'general'>('space', 'general')
	}),
	{
		weight: 3,
		arbitrary: fc.record({
			by: fc.constant('joiner' as const),
			who: fc.constantFrom<0 | 1>(0, 1),
			kind: fc.constantFrom('join' as const, 'send' as const),
			fork
		})
	},
	{
		weight: 2,
		arbitrary: fc.record({
			by: fc.constant('outsider' as const),
			kind: fc.constantFrom('vandalise' as const, 'unsealed' as const),
			doc,
			at: peer
		})
	},
	fc.record({
		by: fc.constant('outsider' as const),
		kind: fc.constant('junk' as const),
		doc,
		at: peer,
		// a 4 MB entry costs seconds at every peer: only in the soak run (hostile-peer.test.ts has it
		// through a real sync server)
		what: fc.constantFrom<'random' | 'truncated' | 'forged' | 'replayed' | 'colliding' | 'huge'>(
			'random',
			'truncated',
			'forged',
			'replayed',
			'colliding',
			...(SOAK ? (['huge'] as const) : [])
		)
	}),
	fc.record({
		by: fc.constantFrom('owner' as const, 'admin' as const),
		kind: fc.constant('send' as const)
	}),
	fc.record({ by: fc.constant('admin' as const), kind: fc.constant('ban-mallory' as const) }),
	{
		weight: 3,
		arbitrary: fc.record({
			by: fc.constant('net' as const),
			kind: fc.constant('sync' as const),
			to: fc.constantFrom<Peer | 'mallory'>('owner', 'admin', 'mallory')
		})
	}
);

// ---- the cast: keys made once, clients fresh per run ------------------------------------------

async function phraseOf(name: string): Promise<string> {
	return (await Identity.create(new MemorySecretStore(), name)).phrase;
}
const PHRASES = {
	owner: await phraseOf('owner'),
	admin: await phraseOf('admin'),
	mallory: await phraseOf('mallory')
};
/** Invitees: only their keys matter (they sign their join and messages; they read nothing). */
const JOINERS = [
	(await Identity.create(new MemorySecretStore(), 'j0')).identity,
	(await Identity.create(new MemorySecretStore(), 'j1')).identity
];

async function client(phrase: string, name: string): Promise<Charter> {
	const c = await Charter.open({ inMemory: true, deviceName: name });
	await c.restoreIdentity(phrase);
	return c;
}

type Pool = Map<Doc, Uint8Array[]>;

interface Siege {
	owner: Charter;
	admin: Charter;
	mallory: Charter;
	id: SpaceId;
	docs: Record<Doc, Uint8Array>;
	channels: { general: ChannelId; staff: ChannelId };
	invite: { id: string; secret: Uint8Array };
	/** Entries the attackers wrote, not yet delivered anywhere. */
	pool: Pool;
	/** Raw envelope changes of the outsider, per document (re-played to every fresh peer). */
	raw: { doc: Doc; changes: Uint8Array[] }[];
	relays: Map<Charter, Relay>;
	/** Changes Mallory and the invitees made that honest peers may not have: what they build on. */
	forged: { space: Uint8Array[]; general: Uint8Array[] };
	joined: Set<number>;
	/** Keys the attackers hold: Mallory's device, plus the invite's lockboxed keys for invitees. */
	malloryKeys: KeyRing;
	ownerKeys: KeyRing;
	malloryIdentity: Identity;
	cleanup: Charter[];
	/** What each envelope change sets, decoded once. */
	decoded: Map<string, Uint8Array[]>;
}

const user = (c: Charter) => c.identity!.userId;
const spaceOf = (c: Charter, id: SpaceId) => c.space(id)!;
const generalOf = (s: Space, id: ChannelId) => s.channel(id);

/**
 * Every entry any of `from` holds, plus the attackers' pool, per document. Byte strings larger than
 * any entry may be are left out: every reader drops them unread, so relaying them again to every
 * peer would only slow the test (the outsider's raw changes still reach every fresh peer).
 */
async function union(s: Siege, from: Charter[]): Promise<Map<Doc, Uint8Array[]>> {
	const out = new Map<Doc, Uint8Array[]>();
	for (const d of Object.keys(s.docs) as Doc[]) {
		const seen = new Set<string>();
		const list: Uint8Array[] = [];
		for (const bytes of [
			...(s.pool.get(d) ?? []),
			...(await Promise.all(from.map((c) => heldEntries(c, s.id, s.docs[d], s.decoded)))).flat()
		]) {
			const key = hex.encode(entryHash(bytes));
			if (seen.has(key) || bytes.length > MAX_ENTRY_BYTES) continue;
			seen.add(key);
			list.push(bytes);
		}
		out.set(d, list);
	}
	return out;
}

async function deliverTo(s: Siege, to: Charter, entries: Map<Doc, Uint8Array[]>) {
	let relay = s.relays.get(to);
	if (!relay) s.relays.set(to, (relay = await Relay.create()));
	if (!to.space(s.id)) await to.openSpace(s.id);
	for (const d of ['space', 'general', 'staff'] as Doc[])
		await relay.deliver(to, s.id, s.docs[d], entries.get(d) ?? []);
}

/** Everyone (and the attackers' pool) to `to`. */
async function syncTo(s: Siege, to: Charter) {
	await deliverTo(s, to, await union(s, [s.owner, s.admin, s.mallory]));
}

async function syncEveryone(s: Siege) {
	for (let round = 0; round < 2; round++)
		for (const c of [s.owner, s.admin, s.mallory]) await syncTo(s, c);
}

async function setup(): Promise<Siege> {
	const [owner, admin, mallory] = await Promise.all([
		client(PHRASES.owner, 'owner'),
		client(PHRASES.admin, 'admin'),
		client(PHRASES.mallory, 'mallory')
	]);
	const space = await owner.createSpace({ name: 'Guild' });
	const staff = await space.createChannel({ name: 'staff', private: true });
	const general = space.channels.find((c) => c.name === 'general')!;
	const mod = await space.createRole({
		name: 'Mod',
		permissions: ['KICK_MEMBERS', 'BAN_MEMBERS', 'MANAGE_SPACE', 'CREATE_INVITE']
	});
	await space.addMembers([await admin.memberCard(), await mallory.memberCard()]);
	await space.assignRole(user(admin), mod.id);
	const { id: inviteId, link } = await space.createInvite({ maxUses: 1 });
	await general.send('welcome');
	const s: Siege = {
		owner,
		admin,
		mallory,
		id: space.id,
		docs: {
			space: space.idBytes,
			general: channelIdBytes(general.id),
			staff: channelIdBytes(staff.id)
		},
		channels: { general: general.id, staff: staff.id },
		invite: { id: inviteId, secret: parseInviteLink(link).secret },
		pool: new Map(),
		raw: [],
		relays: new Map(),
		forged: { space: [], general: [] },
		joined: new Set(),
		malloryKeys: undefined as never,
		ownerKeys: undefined as never,
		malloryIdentity: undefined as never,
		cleanup: [owner, admin, mallory],
		decoded: new Map()
	};
	// the owner wrote everything so far: one delivery each brings the others up to date
	const everything = await union(s, [owner]);
	await Promise.all([deliverTo(s, admin, everything), deliverTo(s, mallory, everything)]);
	const m = await devicesOf(mallory, s.id);
	s.malloryKeys = m.keys;
	s.malloryIdentity = m.identity;
	s.ownerKeys = (await devicesOf(owner, s.id)).keys;
	return s;
}

// ---- the attackers' moves ---------------------------------------------------------------------

/** The document an attacker writes on: what Mallory received, plus (unless forking) what the
 * attackers already wrote. */
function base<T>(live: A.Doc<T>, forged: Uint8Array[], fork: boolean): A.Doc<T> {
	let d = A.clone(live);
	if (fork) return d;
	for (const change of forged) {
		try {
			if (!A.hasHeads(d, [A.decodeChange(change).hash!])) [d] = A.applyChanges(d, [change]);
		} catch {
			/* the second change of an equivocating pair: not part of anyone's view */
		}
	}
	return d;
}

function malloryView(s: Siege, fork: boolean): A.Doc<SpaceDoc> {
	return base(spaceOf(s.mallory, s.id).document, s.forged.space, fork);
}

function generalView(s: Siege, fork: boolean): A.Doc<ChannelDoc> {
	const live = (
		spaceOf(s.mallory, s.id).channel(s.channels.general) as unknown as {
			replica: { doc: A.Doc<ChannelDoc> };
		}
	).replica.doc;
	return base(live, s.forged.general, fork);
}

/** An epoch key the writer holds for `d`: the one the view names current, else any. */
function keyFor(keys: KeyRing, view: A.Doc<SpaceDoc>, d: Uint8Array) {
	const name = String(view.epochs?.[base58.encode(d)] ?? '');
	try {
		const epoch = base58.decode(name);
		const key = keys.get(d, epoch);
		if (key) return { epoch, key };
	} catch {
		/* a junk name */
	}
	const any = keys.allFor(d).at(-1);
	if (!any) throw new Error('no key held for that document');
	return { epoch: any.epoch, key: any.key };
}

function changeOf<T>(view: A.Doc<T>, actor: string, fn: A.ChangeFn<T>): Uint8Array | undefined {
	const after = A.change(A.clone(view, { actor }), fn);
	return A.getLastLocalChange(after) ?? undefined;
}

function addToPool(s: Siege, d: Doc, bytes: Uint8Array) {
	s.pool.set(d, [...(s.pool.get(d) ?? []), bytes]);
}

async function signed(
	s: Siege,
	author: Identity,
	keys: KeyRing,
	d: 'space' | 'general',
	view: A.Doc<SpaceDoc>,
	channelView: A.Doc<ChannelDoc> | undefined,
	fn: (d: never) => void,
	options: { backdated?: boolean; session?: Uint8Array; keep?: boolean } = {}
) {
	const session = options.session ?? randomBytes(8);
	const actor = actorFor(author.deviceKey, session);
	const target = d === 'space' ? view : channelView!;
	const change = changeOf(target as A.Doc<unknown>, actor, fn as A.ChangeFn<unknown>);
	if (!change) return;
	const { epoch, key } = keyFor(keys, view, s.docs[d]);
	const bytes = await sealAs(author, {
		space: s.docs.space,
		document: s.docs[d],
		epoch,
		epochKey: key,
		session,
		body: {
			context: d === 'space' || options.backdated ? [] : A.getHeads(view),
			changes: [change]
		}
	});
	addToPool(s, d, bytes);
	if (options.keep !== false) s.forged[d].push(change);
}

async function malloryMoves(s: Siege, c: Extract<Command, { by: 'mallory' }>) {
	const me = s.malloryIdentity;
	const keys = s.malloryKeys;
	const fork = 'fork' in c && c.fork;
	const view = malloryView(s, fork);
	const ownerId = user(s.owner);
	const mine = me.userId;
	// her own member record — gone from her view once her ban reached her (whether it has depends on
	// delivery timing): she writes one anyway, which the rules must refuse like the rest
	const own = (d: SpaceDoc) => (d.members[mine] ??= { roles: {} } as never)!;
	const space = (fn: (d: SpaceDoc) => void) =>
		signed(s, me, keys, 'space', view, undefined, fn as never);
	switch (c.kind) {
		case 'epoch':
			return space((d) => {
				d.epochs[base58.encode(s.docs[c.doc])] = atom(base58.encode(randomBytes(16)));
			});
		case 'reinvite': {
			const old = view.invites?.[s.invite.id];
			if (!old) return;
			return space((d) => {
				d.invites[s.invite.id] = {
					key: old.key,
					encryptionKey: old.encryptionKey,
					roles: {},
					maxUses: c.maxUses,
					expiresAt: 0,
					createdBy: atom(mine),
					createdAt: Date.now(),
					uses: {}
				};
			});
		}
		case 'equivocate': {
			const session = randomBytes(8);
			const channelView = c.doc === 'general' ? generalView(s, fork) : undefined;
			for (const [i, text] of ['one thing', 'another'].entries()) {
				const fn =
					c.doc === 'space'
						? (d: SpaceDoc) => {
								own(d).nickname = atom(text);
							}
						: (d: ChannelDoc) => {
								d.buckets['eq'] ??= {};
								d.buckets['eq']![`eq.${i}`] = {
									author: atom(mine),
									text: new A.ImmutableString(text),
									createdAt: Date.now()
								};
							};
				await signed(s, me, keys, c.doc, view, channelView, fn as never, {
					session,
					keep: i === 0
				});
			}
			return;
		}
		case 'send':
			return signed(
				s,
				me,
				keys,
				'general',
				view,
				generalView(s, fork),
				((d: ChannelDoc) => {
					const id = `m.${base58.encode(randomBytes(4))}`;
					d.buckets['m'] ??= {};
					d.buckets['m']![id] = {
						author: atom(mine),
						text: new A.ImmutableString(c.backdated ? 'back-dated' : 'hello from mallory'),
						createdAt: c.backdated ? 1 : Date.now()
					};
				}) as never,
				{ backdated: c.backdated }
			);
		case 'nicknames':
			return space((d) => {
				for (let i = 0; i < c.count; i++) own(d).nickname = atom(`n${i}`);
			});
		case 'escalate':
			return space((d) => {
				const mod = Object.entries(d.roles).find(([, r]) => r.name === 'Mod')?.[0];
				switch (c.how) {
					case 'grant-self-mod':
						if (mod) own(d).roles[mod] = true;
						break;
					case 'everyone-administrator':
						d.roles['everyone']!.permissions = 0x3fff;
						break;
					case 'role-above-owner':
						d.roles['boss'] = { name: 'Boss', position: 1000, permissions: 0x3fff } as never;
						own(d).roles['boss'] = true;
						break;
					case 'ban-owner':
						d.bans[ownerId] = { by: atom(mine), at: Date.now() };
						delete d.members[ownerId];
						d.removals['rm_m'] = {
							user: atom(ownerId),
							kind: atom('ban'),
							by: atom(mine),
							at: Date.now(),
							cutoffs: {}
						};
						break;
					case 'kick-admin':
						delete d.members[user(s.admin)];
						break;
					case 'delete-channel':
						delete d.channels[s.channels.general];
						break;
					case 'deny-owner-view':
						d.channels[s.channels.general]!.overwrites[`user:${ownerId}`] = {
							allow: 0,
							deny: Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES
						};
						break;
					case 'rename':
						d.name = 'Mallory was here';
						break;
					case 'delete-epochs':
						for (const k of Object.keys(d.epochs)) delete d.epochs[k];
						break;
					case 'overwrite-owner-card':
						d.members[ownerId]!.card = own(d).card;
						break;
					case 'revoke-invite':
						if (d.invites[s.invite.id]) d.invites[s.invite.id]!.revoked = true;
						break;
				}
			});
		case 'malformed': {
			const document = s.docs[c.doc];
			const { epoch, key } = keyFor(keys, view, document);
			const session = randomBytes(8);
			const honest = changeOf(
				view,
				c.what === 'foreign-actor'
					? actorFor(randomBytes(32), session)
					: actorFor(me.deviceKey, session),
				(d) => {
					own(d).nickname = atom('odd');
				}
			)!;
			const other = newKey();
			const bytes = await sealAs(me, {
				space: s.docs.space,
				document:
					c.what === 'wrong-document' ? s.docs[c.doc === 'space' ? 'general' : 'space'] : document,
				epoch: c.what === 'unknown-epoch' ? epochIdOf(other) : epoch,
				epochKey: c.what === 'unknown-epoch' ? other : key,
				session,
				body:
					c.what === 'garbage-body'
						? new TextEncoder().encode('not automerge at all')
						: { context: [], changes: [honest] }
			});
			return addToPool(s, c.doc, bytes);
		}
	}
}

async function joinerMoves(s: Siege, c: Extract<Command, { by: 'joiner' }>) {
	const j = JOINERS[c.who]!;
	const view = malloryView(s, c.fork);
	if (c.kind === 'join') {
		const invite = inviteKeys(s.invite.secret);
		const card = await j.card();
		const proof = signInviteProof(invite, s.docs.space, j.userKey);
		s.joined.add(c.who);
		return signed(s, j, s.ownerKeys, 'space', view, undefined, ((d: SpaceDoc) => {
			if (d.members[j.userId] || !d.invites[invite.id]) return;
			d.members[j.userId] = {
				card: card.bytes,
				addedAt: Date.now(),
				addedBy: atom(j.userId),
				roles: {},
				invite: { id: atom(invite.id), proof }
			};
			d.invites[invite.id]!.uses[j.userId] = true;
		}) as never);
	}
	return signed(s, j, s.ownerKeys, 'general', view, generalView(s, c.fork), ((d: ChannelDoc) => {
		const id = `j${c.who}.${base58.encode(randomBytes(4))}`;
		d.buckets['j'] ??= {};
		d.buckets['j']![id] = {
			author: atom(j.userId),
			text: new A.ImmutableString(`hello from j${c.who}`),
			createdAt: Date.now()
		};
	}) as never);
}

async function outsiderMoves(
	s: Siege,
	outsider: Outsider,
	c: Extract<Command, { by: 'outsider' }>
) {
	const document = s.docs[c.doc];
	let changes: Uint8Array[];
	if (c.kind === 'vandalise') changes = await outsider.vouchedVandalism();
	else if (c.kind === 'unsealed') changes = outsider.unsealed(s.id, document);
	else if (c.what === 'colliding') changes = (await outsider.collidingOps()).slice(1);
	else {
		const real = (await entriesOf(s.owner, s.id, s.docs.general)).find((b) => {
			try {
				return !!parseEntry(b);
			} catch {
				return false;
			}
		})!;
		const forged = Uint8Array.from(real);
		forged[forged.length - 1]! ^= 0xff;
		// an entry of another document of this space (both always hold one)
		const other = (
			await entriesOf(s.owner, s.id, s.docs[c.doc === 'space' ? 'general' : 'space'])
		)[0]!;
		const values = {
			random: [randomBytes(64), randomBytes(300)],
			truncated: [real.subarray(0, real.length - 10), real.subarray(0, 40)],
			forged: [forged],
			replayed: [other, real],
			huge: [new Uint8Array(MAX_ENTRY_BYTES + 1).fill(0x43)]
		}[c.what];
		changes = await outsider.publishes(s.id, document, values);
	}
	s.raw.push({ doc: c.doc, changes });
	await receiveChanges(s[c.at], s.id, document, changes);
	await spaceOf(s[c.at], s.id).settled();
}

/** Honest peers acting during the siege: refusals (typed errors) are fine, anything else is not. */
async function honestMoves(s: Siege, c: Extract<Command, { by: 'owner' | 'admin' }>) {
	const who = s[c.by];
	const space = spaceOf(who, s.id);
	try {
		if (c.kind === 'send') await generalOf(space, s.channels.general)?.send(`${c.by} chats`);
		else await space.ban(user(s.mallory));
	} catch (error) {
		if (c.by === 'owner') throw new Error(`the owner could not chat mid-siege: ${String(error)}`);
		if (!isCharterError(error)) throw error;
	}
}

// ---- the property -----------------------------------------------------------------------------

/** What an honest peer shows of the space, plus which entries it refused. */
function seen(space: Space, readableBy?: Space) {
	const p = picture(space);
	if (readableBy)
		for (const id of Object.keys(p.messages))
			if (!readableBy.can('VIEW_CHANNEL', id as ChannelId)) delete p.messages[id];
	return p;
}

function shuffled<T>(items: T[], seed: number): T[] {
	const out = [...items];
	let x = seed;
	for (let i = out.length - 1; i > 0; i--) {
		x = (x * 1103515245 + 12345) % 2147483648;
		const j = x % (i + 1);
		[out[i], out[j]] = [out[j]!, out[i]!];
	}
	return out;
}

/** A new device of the owner, fed every entry (and the outsider's raw changes) in some order. */
async function freshOwnerDevice(
	s: Siege,
	all: Map<Doc, Uint8Array[]>,
	order: 'interleaved' | 'channels-first',
	seed: number
): Promise<Charter> {
	const device = await client(PHRASES.owner, `owner-${order}`);
	s.cleanup.push(device);
	await device.openSpace(s.id);
	const relay = await Relay.create();
	const items: ({ doc: Doc; bytes: Uint8Array } | { doc: Doc; raw: Uint8Array[] })[] = [];
	for (const [d, list] of all) for (const bytes of list) items.push({ doc: d, bytes });
	for (const r of s.raw) items.push({ doc: r.doc, raw: r.changes });
	const sequence =
		order === 'interleaved'
			? shuffled(items, seed)
			: [...items].sort((a, b) => (a.doc === 'space' ? 1 : 0) - (b.doc === 'space' ? 1 : 0));
	if (order === 'channels-first') {
		for (const d of ['general', 'staff', 'space'] as Doc[]) {
			const entries = sequence.filter((i) => i.doc === d && 'bytes' in i) as {
				bytes: Uint8Array;
			}[];
			await relay.deliver(
				device,
				s.id,
				s.docs[d],
				entries.map((e) => e.bytes)
			);
			for (const r of sequence.filter((i) => i.doc === d && 'raw' in i) as { raw: Uint8Array[] }[])
				await receiveChanges(device, s.id, s.docs[d], r.raw);
		}
	} else
		for (const item of sequence) {
			if ('raw' in item) await receiveChanges(device, s.id, s.docs[item.doc], item.raw);
			else await relay.deliver(device, s.id, s.docs[item.doc], [item.bytes]);
		}
	await spaceOf(device, s.id).settled();
	return device;
}

async function siege(commands: Command[], seed: number): Promise<void> {
	const s = await setup();
	const outsider = await Outsider.create();
	try {
		for (const c of commands) {
			if (c.by === 'mallory') await malloryMoves(s, c);
			else if (c.by === 'joiner') await joinerMoves(s, c);
			else if (c.by === 'outsider') await outsiderMoves(s, outsider, c);
			else if (c.by === 'net') await syncTo(s, s[c.to]);
			else await honestMoves(s, c);
		}
		await syncEveryone(s);
		const owner = spaceOf(s.owner, s.id);

		// (a) the owner writes in every channel; (b) changes the space
		for (const [name, id] of Object.entries(s.channels)) {
			const channel = owner.channel(id as ChannelId);
			if (!channel) throw new Error(`the owner lost channel ${name}`);
			await channel.send(`the owner writes in ${name}`).catch((error: unknown) => {
				throw new Error(`(a) the owner cannot write in ${name}: ${String(error)}`);
			});
		}
		await owner.rename('Renamed').catch((error: unknown) => {
			throw new Error(`(b) the owner cannot rename the space: ${String(error)}`);
		});
		await syncEveryone(s);
		const admin = spaceOf(s.admin, s.id);
		const texts = (space: Space, id: ChannelId) =>
			space.channel(id)?.messages.map((m) => m.text) ?? [];
		expect(admin.name, '(b) the admin sees the rename').toBe('Renamed');
		expect(texts(admin, s.channels.general), '(a) the admin sees the owner write').toContain(
			'the owner writes in general'
		);
		// (d) the admin agrees with the owner (on what the admin may read)
		expect(seen(admin, admin), '(d) admin and owner agree').toEqual(seen(owner, admin));

		// (c) the owner bans every other member
		const others = owner.members.map((m) => m.user).filter((u) => u !== user(s.owner));
		for (const u of others)
			await owner.ban(u).catch((error: unknown) => {
				throw new Error(`(c) the owner cannot ban ${u}: ${String(error)}`);
			});
		await syncEveryone(s);
		expect(
			owner.members.map((m) => m.user),
			'(c) only the owner is left'
		).toEqual([user(s.owner)]);
		for (const [name, id] of Object.entries(s.channels))
			expect(
				texts(owner, id as ChannelId),
				`(c) after the bans the owner still reads what it wrote in ${name}`
			).toContain(`the owner writes in ${name}`);

		// (d) fresh devices of the owner, fed every entry in other orders, see the same space
		const all = await union(s, [s.owner, s.admin, s.mallory]);
		const reference = seen(owner);
		for (const order of ['interleaved', 'channels-first'] as const) {
			const device = await freshOwnerDevice(s, all, order, seed);
			const view = spaceOf(device, s.id);
			expect(view.name, `(b) a fresh device (${order}) sees the rename`).toBe('Renamed');
			for (const [name, id] of Object.entries(s.channels))
				expect(
					texts(view, id as ChannelId),
					`(a) a fresh device (${order}) reads ${name}`
				).toContain(`the owner writes in ${name}`);
			expect(
				[...view.bans.map((b) => b.user)].sort(),
				`(c) a fresh device (${order}) sees the bans`
			).toEqual(expect.arrayContaining(others));
			expect(seen(view), `(d) a fresh device (${order}) agrees`).toEqual(reference);
		}
	} finally {
		for (const c of s.cleanup) await c.close().catch(() => undefined);
	}
}

/**
 * Sieges this property found on 95f7df4 (shrunk), tried first on every run (examples count towards
 * fast-check's numRuns, hence FOUND.length + RUNS): holes 1–4 of issue #12, one more, a harness
 * flake, and a ban written while a channel was being decided again.
 */
const FOUND: [Command[], number][] = [
	// 1: TypeError on every publish at the owner ("Cannot use 'in' operator … in x")
	[[{ by: 'outsider', kind: 'vandalise', doc: 'space', at: 'owner' }], 1],
	// 2: the owner cannot rename: unknown-epoch ("no epoch key to write this document with")
	[[{ by: 'mallory', kind: 'epoch', doc: 'space', fork: false }], 1],
	// 3: the admin never sees the owner's rename (the space document frozen by "duplicate seq")
	[[{ by: 'mallory', kind: 'equivocate', doc: 'space', fork: false }], 1],
	// 4: the admin refuses the second join ("invite used up") and with it the owner's rename
	[
		[
			{ by: 'joiner', who: 0, kind: 'join', fork: false },
			{ by: 'mallory', kind: 'reinvite', maxUses: 1, fork: false },
			{ by: 'joiner', who: 1, kind: 'join', fork: false },
			{ by: 'joiner', who: 1, kind: 'send', fork: false }
		],
		1
	],
	// open on 95f7df4 and after the fixes of h/ingest and h/rules, with no attacker at all: an admin
	// bans (rotating every key, lockboxes by the admin), the owner bans the admin; a new device of the
	// owner that meets the admin's lockbox after the admin's ban never uses it (lockboxes are judged
	// by the current state), so the owner's own message under the admin's epoch stays unreadable there
	[[{ by: 'admin', kind: 'ban-mallory' }], 1],
	// a flake of the harness, not of Charter (2026-12-01, seed 2075497176): once her ban had reached
	// her view, mallory's moves on her own member record threw a TypeError in the test itself
	[
		[
			{ by: 'admin', kind: 'ban-mallory' },
			{ by: 'net', kind: 'sync', to: 'mallory' },
			{ by: 'mallory', kind: 'nicknames', count: 1, fork: false }
		],
		1
	],
	// found on 06efed5 (2026-12-01, seed -716565782; there it failed 40 of 40 times run alone in a
	// loop, 1 of 4 runs of this file after the other examples): the owner bans Mallory, which
	// re-decides #general from its entries (a rebuild from the bare root), and bans the admin while
	// that runs; the admin's ban recorded the half-rebuilt channel's heads (the root) as its cut-off,
	// so the admin's message — and the owner's answer, which depends on it — were refused everywhere,
	// the owner included ("written after its author was removed"). Without the equivocation or the
	// forged entry the rebuild was over before the second ban (timing only); bans-in-a-row.test.ts
	// has it deterministically.
	[
		[
			{ by: 'admin', kind: 'send' },
			{ by: 'outsider', kind: 'junk', doc: 'general', at: 'owner', what: 'forged' },
			{ by: 'mallory', kind: 'equivocate', doc: 'space', fork: false }
		],
		1
	]
];

describe('no brick: nothing below the owner can stop the owner', () => {
	it('✓ the harness: a quiet space, and one with only honest chat and syncs, pass', async () => {
		await siege([], 1);
		await siege(
			[
				{ by: 'owner', kind: 'send' },
				{ by: 'net', kind: 'sync', to: 'admin' },
				{ by: 'admin', kind: 'send' },
				{ by: 'mallory', kind: 'send', backdated: false, fork: false }
			],
			7
		);
	}, 120_000);

	it('✓ for any siege by a member, invitees and a raw peer, the owner writes, renames and bans, and honest peers agree', async () => {
		await fc.assert(
			fc.asyncProperty(
				fc.array(command, { minLength: 1, maxLength: 8 }),
				fc.integer({ min: 1, max: 1_000_000 }),
				(commands, seed) => siege(commands, seed)
			),
			{
				numRuns: FOUND.length + RUNS,
				examples: FOUND,
				...(SEED !== undefined ? { seed: SEED } : {})
			}
		);
	}, 3_600_000);
});
