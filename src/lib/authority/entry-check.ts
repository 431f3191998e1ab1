/**
 * The per-entry check shared by every document type: the signer is a certified device of a member,
 * every change's Automerge actor belongs to that signer's session, every op resolves to a path, and
 * the document's rule table allows each op under the authority state at the entry's causal point.
 */
import type * as A from '@automerge/automerge';
import type { ChannelId, UserId } from '../identity/ids.js';
import { decodeUserCard } from '../identity/certificates.js';
import { bytesEqual } from '../util/bytes.js';
import { NO_CARDS, type CardVerdicts } from './card-cache.js';
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
	before: () => Doc,
	header: OpenedEntry['header'],
	decoded: A.DecodedChange[],
	channel?: ChannelId,
	options: { selfCertifiedDevices?: boolean; cards?: CardVerdicts } = {}
): EntryCheck {
	const cards = options.cards ?? NO_CARDS;
	const expectedActor = actorFor(header.author, header.session);
	for (const change of decoded)
		if (change.actor !== expectedActor) return { verdict: invalid('actor-not-signer') };
	const ops = paths.resolveBatch(decoded);
	let signer = state.userOfDevice(header.author);
	// A device not yet known may still speak if this very entry carries its user's card listing it
	// (a member's new device registering itself; a newcomer joining). The card is signed by the
	// user's identity key and the rules decide what that user may do.
	if (!signer && ops && options.selfCertifiedDevices)
		signer = selfCertifiedSigner(ops, header.author, cards);
	if (!signer) return { verdict: invalid('not a member device') };
	if (!ops) return { verdict: invalid('touches an unknown object'), signer };
	return {
		verdict: rules.authorize(
			ops,
			{
				signer,
				state,
				cards,
				heads: headsOf(decoded),
				madeBefore: (path) => paths.madeAt(path),
				...(channel ? { channel } : {})
			},
			before
		),
		signer,
		ops
	};
}

/** The changes outside a batch that its changes depend on: the heads it was written on. */
function headsOf(decoded: readonly A.DecodedChange[]): string[] {
	const own = new Set(decoded.map((d) => d.hash));
	const heads = new Set<string>();
	for (const d of decoded) for (const dep of d.deps) if (!own.has(dep)) heads.add(dep);
	return [...heads];
}

function selfCertifiedSigner(
	ops: readonly ResolvedOp[],
	device: Uint8Array,
	cards: CardVerdicts
): UserId | undefined {
	for (const op of ops) {
		if (
			op.kind !== 'put' ||
			op.path.length !== 3 ||
			op.path[0] !== 'members' ||
			op.path[2] !== 'card'
		)
			continue;
		if (!(op.value instanceof Uint8Array) || !cards.isCardOf(op.value, op.path[1]!)) continue;
		try {
			if (decodeUserCard(op.value).devices.some((d) => bytesEqual(d.deviceKey, device)))
				return op.path[1] as UserId;
		} catch {
			/* not a card */
		}
	}
	return undefined;
}
