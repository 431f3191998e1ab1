/**
 * The per-entry check shared by every document type: the signer is a certified device of a member,
 * every change's Automerge actor belongs to that signer's session, every op resolves to a path, and
 * the document's rule table allows each op under the authority state at the entry's causal point.
 */
import type * as A from '@automerge/automerge';
import type { ChannelId, UserId } from '../identity/ids.js';
import { actorFor } from './actors.js';
import type { OpenedEntry } from './opened-entry.js';
import type { PathIndex, ResolvedOp } from './paths.js';
import type { RuleSet } from './rules.js';
import type { SpaceState } from './state.js';
import { invalid, type Verdict } from './verdict.js';

export interface EntryCheck {
	verdict: Verdict;
	signer?: UserId;
	ops?: ResolvedOp[];
}

export function checkEntry<Doc>(
	rules: RuleSet<Doc>,
	paths: PathIndex,
	state: SpaceState,
	before: Doc,
	header: OpenedEntry['header'],
	decoded: A.DecodedChange[],
	channel?: ChannelId
): EntryCheck {
	const expectedActor = actorFor(header.author, header.session);
	for (const change of decoded) if (change.actor !== expectedActor) return { verdict: invalid('actor-not-signer') };
	const signer = state.userOfDevice(header.author);
	if (!signer) return { verdict: invalid('not a member device') };
	const ops = paths.resolveBatch(decoded);
	if (!ops) return { verdict: invalid('touches an unknown object'), signer };
	return { verdict: rules.authorize(ops, { signer, state, before, ...(channel ? { channel } : {}) }), signer, ops };
}
