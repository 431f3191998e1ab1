/**
 * Nicknames are unique per space. Two nicknames are the same when their comparison keys are equal:
 * Unicode NFC, trimmed, lower-cased (`nicknameKey`) — so "Zoë", " zoë " and "ZOE\u0308" are one
 * nickname.
 *
 * - **The rule** (`members/:user/nickname` in space-rules.ts): a change may not give a member a
 *   nickname that another current member's record carries, at the change's causal point (with the
 *   other nickname ops of the same entry applied — two members may swap nicknames in one entry).
 * - **Concurrent claims**: two members who pick the same nickname without having seen each other's
 *   pick both write valid changes. A nickname carried by more than one current member is then held
 *   by **none** of them (`heldNicknames`) until all but one have moved on — then the one left holds
 *   it again. No clock or hash decides, because anyone can write a change concurrent with anything
 *   (old dependencies) and stamp it with any clock: with "the earlier (or later) claim keeps it", a
 *   member could take a long-held nickname by back-dating a claim; with "nobody keeps it" they can at
 *   most make it contested, never wear it — and a member with MANAGE_NICKNAMES above them (the owner
 *   always) clears theirs.
 *
 * A member's nickname is the value `singleValue` resolves (single-values.ts); a record carries a
 * nickname only while its member is a current member (not removed, not banned). Everything here is
 * a function of the materialised valid document, so every peer agrees in every delivery order.
 */
import type * as A from '@automerge/automerge';
import type { UserId } from '../identity/ids.js';
import type { ResolvedOp } from './paths.js';
import { asString, type SpaceDoc } from './schema.js';
import { singleValue } from './single-values.js';
import type { SpaceState } from './state.js';

/** The comparison key of a nickname: NFC, trimmed, lower-cased; '' means no nickname. */
export function nicknameKey(nickname: string): string {
	return nickname.normalize('NFC').trim().toLowerCase();
}

/** The form a nickname is stored in: NFC, trimmed. */
export function nicknameForm(nickname: string): string {
	return nickname.normalize('NFC').trim();
}

const storedCache = new WeakMap<object, Map<UserId, string>>();

/** Every member record's nickname in `doc` (as `singleValue` resolves it), empty ones left out. */
function stored(doc: SpaceDoc): Map<UserId, string> {
	let out = storedCache.get(doc);
	if (out) return out;
	out = new Map();
	for (const [user, record] of Object.entries(doc.members ?? {})) {
		if (!record || record.nickname === undefined) continue;
		const resolved =
			singleValue(doc as A.Doc<unknown>, ['members', user], 'nickname')?.value ?? record.nickname;
		const nickname = asString(resolved);
		if (nickname && nicknameKey(nickname)) out.set(user as UserId, nickname);
	}
	storedCache.set(doc, out);
	return out;
}

/** The nickname each current member's record carries (empty ones left out). */
function carried(state: SpaceState, doc: SpaceDoc): Map<UserId, string> {
	const out = new Map<UserId, string>();
	for (const [user, nickname] of stored(doc)) if (state.isMember(user)) out.set(user, nickname);
	return out;
}

/**
 * The nicknames current members hold: their own, carried by no other current member. A member
 * whose nickname is contested (concurrent claims) holds none.
 */
export function heldNicknames(state: SpaceState, doc: SpaceDoc): Map<UserId, string> {
	const byKey = new Map<string, UserId[]>();
	const all = carried(state, doc);
	for (const [user, nickname] of all) {
		const key = nicknameKey(nickname);
		byKey.set(key, [...(byKey.get(key) ?? []), user]);
	}
	const out = new Map<UserId, string>();
	for (const [user, nickname] of all)
		if (byKey.get(nicknameKey(nickname))!.length === 1) out.set(user, nickname);
	return out;
}

/**
 * The other member (not `user`) whose record carries `nickname`, once `ops` (the other ops of the
 * same entry, if any) apply: the reason `user` may not take it. `undefined` when it is free.
 */
export function nicknameTakenBy(
	state: SpaceState,
	doc: SpaceDoc,
	user: UserId,
	nickname: string,
	ops: readonly ResolvedOp[] = []
): UserId | undefined {
	const key = nicknameKey(nickname);
	if (!key) return undefined;
	const others = carried(state, doc);
	for (const op of ops) {
		const [top, member, field] = op.path;
		if (top !== 'members' || !member) continue;
		if (op.path.length === 2 && op.kind === 'delete') others.delete(member as UserId);
		else if (op.path.length === 3 && field === 'nickname') {
			const value = op.kind === 'put' ? asString(op.value) : undefined;
			if (value) others.set(member as UserId, value);
			else others.delete(member as UserId);
		}
	}
	for (const [other, carriedName] of others)
		if (other !== user && nicknameKey(carriedName) === key) return other;
	return undefined;
}
