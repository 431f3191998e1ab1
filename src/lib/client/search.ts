/**
 * Full-text search over the messages this device can read in a space.
 *
 * The index is a MiniSearch index **in memory**, built from the channels' materialised message lists
 * (what `channel.messages` shows: verified, decrypted, authorised, not deleted) and nothing else. It
 * is never written anywhere — not to the wire repo, not to the local store — so it cannot leave the
 * device, and it cannot disagree with the documents after a restart: a reopened client builds it
 * again from its replicas (docs/benchmarks.md, "Search", measures what that costs).
 *
 * Incremental: the index follows each channel with `onChange`. A change marks its channel; on the
 * next microtask the channel's list is walked comparing objects — `Channel` keeps the object of every
 * message no change touched, so an untouched message costs one comparison — and only new, edited or
 * vanished messages touch the index (an edit replaces the entry, a deletion or an invalidation
 * discards it). A channel the user can no longer see is dropped from the index entirely, and is
 * never searched (`space.channels` decides, as for the channel list).
 *
 * Query language, parsed here (never by MiniSearch): plain words (every word must match, the last
 * one also as a prefix; words of five letters or more allow one typo), and the operators
 * `from:<member>`, `in:<channel>`, `has:link`, `before:YYYY-MM-DD`, `after:YYYY-MM-DD`,
 * `during:YYYY-MM-DD` (dates in this device's time zone). Values with spaces go in quotes:
 * `from:"Ada Lovelace"`. A value that names nothing (an unknown member or channel, a date that does
 * not exist) gives no results and a `problem` saying why — never an exception.
 */
import MiniSearch, { type SearchResult as IndexHit } from 'minisearch';
import { CharterError } from '../errors.js';
import type { ChannelId, SpaceId, UserId } from '../identity/ids.js';
import type { Channel, Message } from './Channel.js';

/** What the index reads of a space (Space implements it; tests may too). */
export interface SearchSource {
	readonly id: SpaceId;
	/** The channels this user can see: the only ones indexed and searched. */
	readonly channels: readonly Channel[];
	readonly members: readonly { user: UserId; displayName?: string; nickname?: string }[];
	formerMember(user: UserId): { displayName?: string; nickname?: string } | undefined;
	subscribe(listener: () => void): () => void;
}

export type SearchOperator = 'from' | 'in' | 'has' | 'before' | 'after' | 'during';

/** Why a query gives no results: an operator whose value names nothing, or a query too long. */
export interface SearchProblem {
	operator: SearchOperator | 'query';
	value: string;
	reason: string;
}

export interface SearchOptions {
	/** At most this many results (default 50, at most `MAX_SEARCH_RESULTS`). */
	limit?: number;
	/** Best match first (the default with words), or newest first (the default with operators only). */
	order?: 'relevance' | 'newest';
}

export interface SearchResult {
	spaceId: SpaceId;
	channelId: ChannelId;
	messageId: string;
	/** In a thread: its root's id (open `channel.thread(thread)` to show the result in its place). */
	thread?: string;
	author: UserId;
	createdAt: number;
	editedAt?: number;
	/** Up to `SNIPPET_LENGTH` characters of the message around its first match, plain text. */
	snippet: string;
	/** Where the matched words are in `snippet` (UTF-16 offsets, `end` exclusive). */
	highlights: { start: number; end: number }[];
	/** Relevance (higher is better); 0 for a query of operators only. */
	score: number;
}

export interface SearchResults {
	results: SearchResult[];
	/** How many messages matched before `limit` cut the list. */
	total: number;
	/** Empty unless the query could not be carried out as written (then `results` is empty). */
	problems: SearchProblem[];
}

/** A query longer than this (UTF-16 units) is refused with a problem: no one types more. */
export const MAX_SEARCH_QUERY = 500;
/** Results returned when `limit` is not given. */
const DEFAULT_LIMIT = 50;
/** The most results one search returns: a list longer than this is not read by a person. */
export const MAX_SEARCH_RESULTS = 1000;
/** A snippet's length: about two lines of a results list. */
export const SNIPPET_LENGTH = 160;
/** Characters of context shown before the first match in a snippet. */
const SNIPPET_LEAD = 40;
/** Words this long or longer match with one typo: a letter missing, added or changed. */
const FUZZY_FROM = 5;
/** The edit distance MiniSearch allows them (a whole number is a distance, a fraction a share). */
const FUZZY = 1;

/** A link as the web client renders one: an http(s) URL or a `www.` address (format.ts). */
const LINK = /(?:^|[^\p{L}\p{N}_])(?:https?:\/\/[^\s<>]+\.[^\s<>]|www\.[^\s<>.]+\.[^\s<>])/iu;
/** MiniSearch's own word splitting: Unicode spaces and punctuation. */
const WORD_BREAK = /[\n\r\p{Z}\p{P}]+/u;
/** A word, as MiniSearch splits them (to find matched words again in a snippet). */
const WORD = /[^\n\r\p{Z}\p{P}]+/gu;

/** A word as indexed and as queried: case and accents do not matter ("Café" finds "cafe"). */
function fold(term: string): string {
	return term
		.normalize('NFKD')
		.replace(/\p{M}+/gu, '')
		.toLowerCase();
}

/** A name as typed after `from:` or `in:`, and as a member's or channel's name is compared. */
function foldName(name: string): string {
	return fold(name.trim().replace(/^[@#]/, '')).replace(/\s+/g, ' ');
}

interface Entry {
	key: number;
	channel: ChannelId;
	message: Message;
	link: boolean;
	seen: number;
}

interface Followed {
	channel: Channel;
	byId: Map<string, Entry>;
	/** The list last indexed: the same array again means nothing changed. */
	list: readonly Message[] | undefined;
	stop: () => void;
}

/** What a query asks, once parsed. */
interface ParsedQuery {
	words: string[];
	from: string[];
	in: string[];
	hasLink: boolean;
	/** createdAt ≥ this (ms). */
	since: number;
	/** createdAt < this (ms). */
	until: number;
	problems: SearchProblem[];
}

/** The index of one space. Made by `space.search` on first use; follows the space from then on. */
export class SpaceSearch {
	#index = new MiniSearch<{ id: number; text: string }>({
		fields: ['text'],
		processTerm: (term) => fold(term) || null
	});
	#entries = new Map<number, Entry>();
	#followed = new Map<ChannelId, Followed>();
	#dirty = new Set<ChannelId>();
	#scheduled = false;
	#reconcile = true;
	#nextKey = 1;
	#pass = 0;
	#closed = false;
	#unsubscribe: () => void;
	/** Incremental work done so far (for the benchmark and diagnostics). */
	readonly stats = { indexed: 0, discarded: 0, updates: 0, updateMs: 0, maxUpdateMs: 0 };

	constructor(private readonly source: SearchSource) {
		// a space change may add a channel, or take one out of sight: looked at on the next microtask
		this.#unsubscribe = source.subscribe(() => {
			this.#reconcile = true;
			this.#schedule();
		});
		this.#flush();
	}

	/** Messages in the index now. */
	get size(): number {
		return this.#entries.size;
	}

	#schedule() {
		if (this.#scheduled || this.#closed) return;
		this.#scheduled = true;
		queueMicrotask(() => {
			this.#scheduled = false;
			this.#flush();
		});
	}

	/** Brings the index up to date: the channel set if it may have changed, then changed channels. */
	#flush() {
		if (this.#closed) return;
		const started = performance.now();
		if (this.#reconcile) {
			this.#reconcile = false;
			const visible = new Map(this.source.channels.map((c) => [c.id, c]));
			for (const [id, followed] of this.#followed)
				if (visible.get(id) !== followed.channel) this.#unfollow(id);
			for (const [id, channel] of visible)
				if (!this.#followed.has(id)) {
					this.#followed.set(id, {
						channel,
						byId: new Map(),
						list: undefined,
						stop: channel.onChange(() => {
							this.#dirty.add(id);
							this.#schedule();
						})
					});
					this.#dirty.add(id);
				}
		}
		if (!this.#dirty.size) return;
		for (const id of this.#dirty) {
			const followed = this.#followed.get(id);
			if (followed) this.#update(followed);
		}
		this.#dirty.clear();
		const ms = performance.now() - started;
		this.stats.updates++;
		this.stats.updateMs += ms;
		this.stats.maxUpdateMs = Math.max(this.stats.maxUpdateMs, ms);
	}

	/** One channel: index what is new or changed, discard what is gone. */
	#update(followed: Followed) {
		const list = followed.channel.allMessages; // a thread's messages too: a result opens its thread
		if (list === followed.list) return;
		followed.list = list;
		const pass = ++this.#pass;
		const { byId } = followed;
		let kept = 0;
		for (const m of list) {
			const known = byId.get(m.id);
			if (known && (known.message === m || sameText(known.message, m))) {
				known.message = m;
				if (known.seen !== pass) kept++;
				known.seen = pass;
				continue;
			}
			if (known) this.#discard(known);
			const entry: Entry = {
				key: this.#nextKey++,
				channel: followed.channel.id,
				message: m,
				link: LINK.test(m.text),
				seen: pass
			};
			byId.set(m.id, entry);
			this.#entries.set(entry.key, entry);
			this.#index.add({ id: entry.key, text: m.text });
			this.stats.indexed++;
			kept++;
		}
		// entries not met in this walk are messages gone (deleted, invalidated)
		if (byId.size !== kept)
			for (const [id, entry] of byId)
				if (entry.seen !== pass) {
					this.#discard(entry);
					byId.delete(id);
				}
	}

	#discard(entry: Entry) {
		this.#entries.delete(entry.key);
		this.#index.discard(entry.key);
		this.stats.discarded++;
	}

	#unfollow(id: ChannelId) {
		const followed = this.#followed.get(id)!;
		followed.stop();
		for (const entry of followed.byId.values()) this.#discard(entry);
		this.#followed.delete(id);
		this.#dirty.delete(id);
	}

	search(query: string, options: SearchOptions = {}): SearchResults {
		if (this.#closed) throw new CharterError('closed', 'this space is closed');
		if (typeof query !== 'string')
			throw new CharterError('invalid-argument', 'a search query is a string');
		const limit = options.limit ?? DEFAULT_LIMIT;
		if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_SEARCH_RESULTS)
			throw new CharterError(
				'invalid-argument',
				`a search returns 1 to ${MAX_SEARCH_RESULTS} results`
			);
		if (options.order !== undefined && options.order !== 'relevance' && options.order !== 'newest')
			throw new CharterError('invalid-argument', 'order is "relevance" or "newest"');
		const none = (problems: SearchProblem[]): SearchResults => ({
			results: [],
			total: 0,
			problems
		});
		if (query.length > MAX_SEARCH_QUERY)
			return none([
				{
					operator: 'query',
					value: `${query.slice(0, 20)}…`,
					reason: `a search is at most ${MAX_SEARCH_QUERY} characters`
				}
			]);
		const parsed = parseQuery(query);
		if (parsed.problems.length) return none(parsed.problems);
		this.#reconcile = true;
		this.#flush();
		const problems: SearchProblem[] = [];
		const authors = parsed.from.length ? this.#resolveMembers(parsed.from, problems) : undefined;
		const channels = parsed.in.length ? this.#resolveChannels(parsed.in, problems) : undefined;
		if (problems.length) return none(problems);
		if (!parsed.words.length && !hasOperators(parsed)) return none([]);
		const accepts = (e: Entry | undefined): e is Entry =>
			!!e &&
			(!authors || authors.has(e.message.author)) &&
			(!channels || channels.has(e.channel)) &&
			(!parsed.hasLink || e.link) &&
			e.message.createdAt >= parsed.since &&
			e.message.createdAt < parsed.until;
		let hits: { entry: Entry; score: number; terms: string[] }[];
		if (parsed.words.length) {
			const last = parsed.words.length - 1;
			hits = this.#index
				.search(parsed.words.join(' '), {
					combineWith: 'AND',
					prefix: (_term, i) => i === last,
					fuzzy: (term) => (term.length >= FUZZY_FROM ? FUZZY : false),
					filter: (hit) => accepts(this.#entries.get(hit.id as number))
				})
				.map((hit: IndexHit) => ({
					entry: this.#entries.get(hit.id as number)!,
					score: hit.score,
					terms: hit.terms
				}));
		} else {
			hits = [];
			for (const entry of this.#entries.values())
				if (accepts(entry)) hits.push({ entry, score: 0, terms: [] });
		}
		const order = options.order ?? (parsed.words.length ? 'relevance' : 'newest');
		if (order === 'newest')
			hits.sort((a, b) => b.entry.message.createdAt - a.entry.message.createdAt);
		return {
			results: hits.slice(0, limit).map((hit) => this.#result(hit)),
			total: hits.length,
			problems: []
		};
	}

	#result({ entry, score, terms }: { entry: Entry; score: number; terms: string[] }): SearchResult {
		const m = entry.message;
		const { snippet, highlights } = snippetOf(m.text, new Set(terms));
		return {
			spaceId: this.source.id,
			channelId: entry.channel,
			messageId: m.id,
			...(m.inThread ? { thread: m.inThread } : {}),
			author: m.author,
			createdAt: m.createdAt,
			...(m.editedAt ? { editedAt: m.editedAt } : {}),
			snippet,
			highlights,
			score
		};
	}

	/** The users `from:` names: by nickname, display name or user id; else by a name's beginning. */
	#resolveMembers(names: string[], problems: SearchProblem[]): Set<UserId> {
		const people = new Map<UserId, string[]>();
		for (const m of this.source.members)
			people.set(m.user, [m.user, m.nickname ?? '', m.displayName ?? '']);
		// authors who left, were kicked or banned keep their messages, and the names they had
		for (const entry of this.#entries.values()) {
			const user = entry.message.author;
			if (people.has(user)) continue;
			const former = this.source.formerMember(user);
			people.set(user, [user, former?.nickname ?? '', former?.displayName ?? '']);
		}
		const found = new Set<UserId>();
		for (const name of names) {
			const wanted = foldName(name);
			const matching = (test: (n: string) => boolean) =>
				[...people].filter(([, ns]) => ns.some((n) => n && test(foldName(n)))).map(([u]) => u);
			let users = matching((n) => n === wanted);
			if (!users.length && wanted) users = matching((n) => n.startsWith(wanted));
			if (!users.length)
				problems.push({
					operator: 'from',
					value: name,
					reason: `no member called “${name}” in this space`
				});
			for (const u of users) found.add(u);
		}
		return found;
	}

	/** The channels `in:` names, among those this user can see. */
	#resolveChannels(names: string[], problems: SearchProblem[]): Set<ChannelId> {
		const found = new Set<ChannelId>();
		for (const name of names) {
			const wanted = foldName(name);
			const channels = this.source.channels.filter(
				(c) => foldName(c.name) === wanted || c.id === name
			);
			if (!channels.length)
				problems.push({
					operator: 'in',
					value: name,
					reason: `no channel called “${name}” that you can see in this space`
				});
			for (const c of channels) found.add(c.id);
		}
		return found;
	}

	close() {
		this.#closed = true;
		this.#unsubscribe();
		for (const followed of this.#followed.values()) followed.stop();
		this.#followed.clear();
		this.#entries.clear();
		this.#index.removeAll();
	}
}

/** Whether two readings of a message index the same (a delivery or a reaction is not text). */
function sameText(a: Message, b: Message): boolean {
	return a.text === b.text && a.author === b.author && a.createdAt === b.createdAt;
}

function hasOperators(q: ParsedQuery): boolean {
	return (
		q.from.length > 0 ||
		q.in.length > 0 ||
		q.hasLink ||
		q.since > Number.NEGATIVE_INFINITY ||
		q.until < Number.POSITIVE_INFINITY
	);
}

/** `key:value`, `key:"a value"`, `"some words"` or a word; whitespace between. */
const TOKEN = /([A-Za-z]+):(?:"([^"]*)"?|(\S*))|"([^"]*)"?|(\S+)/g;
const OPERATORS = new Set<string>(['from', 'in', 'has', 'before', 'after', 'during']);
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Splits a query into words and operators; an operator with a bad value becomes a problem. */
export function parseQuery(query: string): ParsedQuery {
	const q: ParsedQuery = {
		words: [],
		from: [],
		in: [],
		hasLink: false,
		since: Number.NEGATIVE_INFINITY,
		until: Number.POSITIVE_INFINITY,
		problems: []
	};
	for (const match of query.matchAll(TOKEN)) {
		const key = match[1]?.toLowerCase();
		const value = match[2] ?? match[3] ?? match[4] ?? match[5] ?? '';
		if (!key || !OPERATORS.has(key)) {
			// not an operator (a URL's "https:", "re:"…): its words are words
			q.words.push(...(key ? `${match[1]}:${value}` : value).split(WORD_BREAK).filter(Boolean));
			continue;
		}
		const operator = key as SearchOperator;
		if (!value.trim()) {
			q.problems.push({ operator, value, reason: `${operator}: needs a value` });
			continue;
		}
		if (operator === 'from') q.from.push(value.trim());
		else if (operator === 'in') q.in.push(value.trim());
		else if (operator === 'has') {
			if (value.toLowerCase() === 'link') q.hasLink = true;
			else q.problems.push({ operator, value, reason: 'has: takes “link”' });
		} else {
			const day = dayStart(value);
			if (day === undefined) {
				q.problems.push({ operator, value, reason: `${operator}: takes a date as YYYY-MM-DD` });
				continue;
			}
			const next = dayStart(value, 1)!;
			if (operator === 'before') q.until = Math.min(q.until, day);
			else if (operator === 'after') q.since = Math.max(q.since, next);
			else {
				q.since = Math.max(q.since, day);
				q.until = Math.min(q.until, next);
			}
		}
	}
	if (q.since >= q.until && !q.problems.length)
		q.problems.push({
			operator: 'after',
			value: '',
			reason: 'the dates leave no day: after: must be before before:'
		});
	return q;
}

/** Midnight (this device's time zone) at the start of day `text` plus `plus` days; undefined if no such day. */
function dayStart(text: string, plus = 0): number | undefined {
	const m = DATE.exec(text);
	if (!m) return undefined;
	const [y, mo, d] = [Number(m[1]), Number(m[2]) - 1, Number(m[3])];
	const date = new Date(y, mo, d);
	if (date.getFullYear() !== y || date.getMonth() !== mo || date.getDate() !== d) return undefined;
	return new Date(y, mo, d + plus).getTime();
}

/** The text around the first matched word, and where the matched words are in it. */
function snippetOf(
	text: string,
	terms: Set<string>
): { snippet: string; highlights: { start: number; end: number }[] } {
	let first: number | undefined;
	if (terms.size && text.length > SNIPPET_LENGTH)
		for (const w of text.matchAll(WORD))
			if (terms.has(fold(w[0]))) {
				first = w.index;
				break;
			}
	let from = 0;
	if (first !== undefined) {
		from = Math.max(0, first - SNIPPET_LEAD);
		// start at a word
		const space = text.lastIndexOf(' ', from);
		if (from > 0 && space >= 0 && from - space < 15) from = space + 1;
		from = Math.min(from, Math.max(0, text.length - SNIPPET_LENGTH));
	}
	const to = Math.min(text.length, from + SNIPPET_LENGTH);
	const lead = from > 0 ? '…' : '';
	const snippet = `${lead}${text.slice(from, to).replace(/\s+/g, ' ')}${to < text.length ? '…' : ''}`;
	// whitespace runs collapse to one space: offsets are found again in the snippet itself
	const highlights: { start: number; end: number }[] = [];
	if (terms.size)
		for (const w of snippet.matchAll(WORD))
			if (terms.has(fold(w[0]))) highlights.push({ start: w.index, end: w.index + w[0].length });
	return { snippet, highlights };
}

/**
 * One search over several spaces (`client.search`): each space's results, merged by relevance (or
 * newest first) and cut to `limit`. A `from:` or `in:` that names nothing in one space is no
 * problem while another space has it; it is reported when no space has it.
 */
export function searchSpaces(
	spaces: readonly { search(query: string, options?: SearchOptions): SearchResults }[],
	query: string,
	options: SearchOptions = {}
): SearchResults {
	const each = spaces.map((s) => s.search(query, options));
	if (!each.length) return { results: [], total: 0, problems: [] };
	const key = (p: SearchProblem) => `${p.operator}\u0000${p.value}`;
	const everywhere = each[0]!.problems.filter((p) =>
		each.every((r) => r.problems.some((q) => key(q) === key(p)))
	);
	if (everywhere.length) return { results: [], total: 0, problems: everywhere };
	const results = each.flatMap((r) => r.results);
	const newest =
		options.order === 'newest' || (options.order === undefined && results.every((r) => !r.score));
	results.sort((a, b) => (newest ? b.createdAt - a.createdAt : b.score - a.score));
	return {
		results: results.slice(0, options.limit ?? DEFAULT_LIMIT),
		total: each.reduce((n, r) => n + r.total, 0),
		problems: []
	};
}
