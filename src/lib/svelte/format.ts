/**
 * Message formatting: the small Markdown subset a message shows — **bold**, *italic*, ~~struck~~,
 * `code`, fenced code blocks, > quotes, ||spoilers|| and links — as a tree of plain data the web
 * client renders as elements (`Formatted.svelte`).
 *
 * Safe by construction: the tree holds only strings and the kinds below, never HTML. `marked` is
 * used as a lexer only (its HTML renderer is never called), so whatever a message holds — `<script>`,
 * `<img onerror=…>`, entities — ends up as text nodes, which the renderer shows as text. A link
 * becomes a link only when `safeHref` accepts its URL: parsed with `new URL()`, scheme `http:` or
 * `https:`, nothing else (`javascript:`, `data:`, `vbscript:`, `file:`, relative URLs… show as the
 * text that was typed). A link whose text is not its URL also shows the URL, so a link cannot
 * pretend to go somewhere else.
 *
 * Everything else Markdown has (headings, lists, tables, images, rules, raw HTML, reference links,
 * indented code) is switched off in the lexer or shown as the text typed. Line breaks are kept as
 * typed. Time and depth are bounded: a message is at most `MAX_MESSAGE_LENGTH` characters (longer
 * text, which the rules refuse anyway, is shown unformatted), quotes nest at most
 * `MAX_QUOTE_DEPTH` deep and formatting at most `MAX_DEPTH` deep (deeper shows as typed), and a
 * lexer failure shows the message as plain text.
 */
import { Marked, Tokenizer, type Token, type Tokens, type TokenizerExtension } from 'marked';
import { MAX_MESSAGE_LENGTH } from '../index.js';

/** A piece of a formatted message. */
export type FormatNode =
	| { kind: 'text'; text: string }
	| { kind: 'bold' | 'italic' | 'strike' | 'spoiler'; children: FormatNode[] }
	| { kind: 'code'; text: string }
	| { kind: 'codeblock'; text: string }
	| { kind: 'quote'; children: FormatNode[] }
	/**
	 * `href` has passed `safeHref`. `url` is set when the link's text is not its URL: the renderer
	 * shows it beside the text.
	 */
	| { kind: 'link'; href: string; url?: string; children: FormatNode[] }
	/** `@name` of someone (or something: a role, @everyone) the message mentions; `me`: this reader. */
	| { kind: 'mention'; text: string; me: boolean };

/** The node kinds that are blocks (they start and end a line of their own). */
export const isBlock = (node: FormatNode) => node.kind === 'codeblock' || node.kind === 'quote';

/**
 * How deep quotes nest (`> > > x`); a deeper `>` shows as typed. Also what keeps the lexer's
 * recursion bounded: it nests one call per level, and 4,000 `>` overflow the stack.
 */
export const MAX_QUOTE_DEPTH = 3;
/** How deep formatting nests (`***~~||x||~~***` is 4); deeper shows as typed. */
export const MAX_DEPTH = 12;

/** The URL schemes a link may have. */
const LINK_PROTOCOLS = new Set(['http:', 'https:']);

/**
 * The URL a link may point to, or undefined. Parsed, not pattern-matched: `new URL()` applies the
 * browser's own rules (it lower-cases the scheme and strips the whitespace and control characters
 * a browser would ignore, so ` JaVa\tScRiPt:` is `javascript:`), and only an absolute URL whose
 * scheme is http or https passes. Returns the URL as the parser wrote it back.
 */
export function safeHref(raw: string): string | undefined {
	let url: URL;
	try {
		url = new URL(raw);
	} catch {
		return undefined;
	}
	return LINK_PROTOCOLS.has(url.protocol) ? url.href : undefined;
}

/** A closing fence at the end of a fenced block's text (marked lets a block run to the end). */
const CLOSED_FENCE = /\n {0,3}(?:`{3,}|~{3,})[ \t]*\n*$/;

/** Where a bare URL may start: `http://`, `https://` or `www.`. */
const WEB_START = /^(?:https?:\/\/|www\.)/i;

/** `||spoiler||`: the text between two pairs of bars, hidden until the reader reveals it. */
const SPOILER = /^\|\|([^|][\s\S]*?)\|\|/;
const SPOILER_START = /\|\|[^|]/;
const spoiler: TokenizerExtension = {
	name: 'spoiler',
	level: 'inline',
	start(src) {
		// where one may begin: two bars and something else (a run of bars is text, in one piece)
		const at = src.search(SPOILER_START);
		return at < 0 ? undefined : at;
	},
	tokenizer(src) {
		const match = SPOILER.exec(src);
		if (!match || !match[1]!.trim()) return undefined;
		return {
			type: 'spoiler',
			raw: match[0],
			tokens: this.lexer.inlineTokens(match[1]!)
		};
	}
};

/** The lines at the start of a text that begin with `>` (up to three spaces before it). */
const QUOTED_LINES = /^(?: {0,3}>[^\n]*(?:\n|$))+/;

/** Quote levels the lexer is inside (it is synchronous: one counter serves every call). */
let quoteDepth = 0;

/**
 * The lexer: GitHub-flavoured (for ~~strike~~ and bare URLs), with every block we do not show
 * switched off (a tokenizer returning undefined lets the text fall through to a paragraph) and raw
 * HTML not recognised at all, so `<b>` is just the characters typed.
 */
const lexer = new Marked({ gfm: true, breaks: false }).use({
	extensions: [spoiler],
	tokenizer: {
		heading: () => undefined,
		lheading: () => undefined,
		list: () => undefined,
		hr: () => undefined,
		def: () => undefined,
		html: () => undefined,
		table: () => undefined,
		// four spaces of indent are common in pasted text; only fenced blocks are code
		code: () => undefined,
		tag: () => undefined,
		url(src) {
			// only web addresses: e-mail addresses stay text, and their pattern (which takes `|` as
			// part of an address) is never tried over a long run of bars
			return WEB_START.test(src) ? Tokenizer.prototype.url.call(this, src) : undefined;
		},
		fences(src) {
			// like Discord: a fence that is never closed is not a code block
			const token = Tokenizer.prototype.fences.call(this, src);
			return token && CLOSED_FENCE.test(token.raw) ? token : undefined;
		},
		blockquote(src) {
			// like Discord, only the lines that start with `>` are quoted (no lazy continuation:
			// an answer on the next line is not part of the quote)
			const quoted = QUOTED_LINES.exec(src);
			if (!quoted || quoteDepth >= MAX_QUOTE_DEPTH) return undefined;
			quoteDepth++;
			try {
				return Tokenizer.prototype.blockquote.call(this, quoted[0]);
			} finally {
				quoteDepth--;
			}
		}
	}
});

/** A message's text as a tree of nodes. Pure; see `formatOf` for the cached version. */
export function formatMessage(text: string): FormatNode[] {
	if (text.length > MAX_MESSAGE_LENGTH) return [{ kind: 'text', text }];
	let tokens: Token[];
	try {
		quoteDepth = 0;
		tokens = lexer.lexer(text);
	} catch {
		return [{ kind: 'text', text }];
	}
	return tidy(blocks(tokens, 0));
}

function blocks(tokens: readonly Token[], depth: number): FormatNode[] {
	const out: FormatNode[] = [];
	for (const token of tokens) {
		switch (token.type) {
			case 'paragraph':
			case 'text': {
				const t = token as Tokens.Paragraph | Tokens.Text;
				if (t.tokens) out.push(...inline(t.tokens, depth));
				else out.push(text(t.raw));
				// the newlines that ended it (part of `raw`, not of its inline tokens)
				out.push(text(/\n*$/.exec(t.raw)![0]));
				break;
			}
			case 'space':
				out.push(text(token.raw));
				break;
			case 'code':
				out.push({ kind: 'codeblock', text: (token as Tokens.Code).text });
				out.push(text(/\n*$/.exec(token.raw)![0]));
				break;
			case 'blockquote':
				out.push({
					kind: 'quote',
					children: tidy(blocks((token as Tokens.Blockquote).tokens, depth + 1))
				});
				out.push(text(/\n*$/.exec(token.raw)![0]));
				break;
			default:
				// a kind switched off above, should one slip through: as typed
				out.push(text(token.raw));
		}
	}
	return out;
}

function inline(tokens: readonly Token[], depth: number): FormatNode[] {
	const out: FormatNode[] = [];
	for (const token of tokens) {
		const nested = 'tokens' in token && Array.isArray(token.tokens) ? token.tokens : undefined;
		if (nested && depth >= MAX_DEPTH) {
			out.push(text(token.raw));
			continue;
		}
		switch (token.type) {
			case 'text':
				// `raw`, not `text`: marked decodes `&#60;` in `text` (for HTML it then escapes again);
				// what was typed is what shows
				if (nested) out.push(...inline(nested, depth));
				else out.push(text(token.raw));
				break;
			case 'escape':
				out.push(text((token as Tokens.Escape).text));
				break;
			case 'strong':
			case 'em':
			case 'del':
			case 'spoiler':
				out.push({ kind: KIND[token.type], children: inline(nested ?? [], depth + 1) });
				break;
			case 'codespan':
				out.push({ kind: 'code', text: (token as Tokens.Codespan).text });
				break;
			case 'br':
				out.push(text('\n'));
				break;
			case 'link':
				out.push(link(token as Tokens.Link, depth));
				break;
			default:
				// images, raw HTML and anything unknown: the characters typed
				out.push(text(token.raw));
		}
	}
	return out;
}

const KIND = { strong: 'bold', em: 'italic', del: 'strike', spoiler: 'spoiler' } as const;

function link(token: Tokens.Link, depth: number): FormatNode {
	const href = safeHref(token.href);
	if (!href) return text(token.raw);
	const children = inline(token.tokens, depth + 1);
	const url = isItsAddress(plainText(children), href) ? undefined : href;
	return { kind: 'link', href, ...(url ? { url } : {}), children };
}

/** Invisible and direction-changing characters (controls, bidi overrides, zero-width). */
const HIDDEN = /[\p{Cc}\p{Cf}]/u;

/**
 * Whether a link's text is its own address — as the URL parser writes it back (a `www.` address
 * gains `http://`, a bare host a `/`), or with its percent-escapes decoded (`Straße`) — so nothing
 * need be shown beside it. A look-alike host is not: the parser writes it in punycode
 * (`https://аpple.example` is `https://xn--pple-…`), so its real address shows. Nor is an address
 * with hidden characters: it shows escaped.
 */
function isItsAddress(shown: string, href: string): boolean {
	let decoded = href;
	try {
		decoded = decodeURI(href);
	} catch {
		// a malformed escape: compare as written
	}
	const written = HIDDEN.test(decoded) ? [href] : [href, decoded];
	return [shown, `http://${shown}`].some((typed) =>
		written.some((w) => w === typed || w === `${typed}/`)
	);
}

/** The text a tree shows, without its formatting. */
export function plainText(nodes: readonly FormatNode[]): string {
	let out = '';
	for (const node of nodes) out += 'children' in node ? plainText(node.children) : node.text;
	return out;
}

const text = (value: string): FormatNode => ({ kind: 'text', text: value });

/**
 * Merges neighbouring text, drops empty text, and drops the one newline after a block (the block
 * ends its line itself; a further newline is a blank line the writer typed).
 */
function tidy(nodes: FormatNode[]): FormatNode[] {
	const out: FormatNode[] = [];
	for (const node of nodes) {
		const last = out.at(-1);
		if (node.kind !== 'text') out.push(node);
		else {
			const value = last && isBlock(last) ? node.text.replace(/^\n/, '') : node.text;
			if (!value) continue;
			if (last?.kind === 'text') last.text += value;
			else out.push(text(value));
		}
	}
	return out;
}

/** Trees by message object: a message is lexed once, however often its row is rendered. */
const cache = new WeakMap<object, { text: string; nodes: FormatNode[] }>();

/** `formatMessage(message.text)`, computed once per message object (and again if its text changes). */
export function formatOf(message: { readonly text: string }): FormatNode[] {
	const hit = cache.get(message);
	if (hit && hit.text === message.text) return hit.nodes;
	const nodes = formatMessage(message.text);
	cache.set(message, { text: message.text, nodes });
	return nodes;
}

/**
 * The lines a message takes, for a row-height estimate: `chars` characters fit a line of text,
 * `codeChars` a line of a code block (monospace is wider), and each code block adds one line of
 * padding. Only text that may hold a code block is lexed; the rest is counted as it is typed.
 */
export function estimateLines(
	message: { readonly text: string },
	{ chars = 90, codeChars = 75 } = {}
): number {
	const count = (value: string, width: number) => {
		let lines = 0;
		for (const line of value.split('\n')) lines += 1 + Math.floor(line.length / width);
		return lines;
	};
	if (!message.text.includes('```') && !message.text.includes('~~~'))
		return count(message.text, chars);
	let lines = 0;
	let inText = '';
	const walk = (nodes: readonly FormatNode[]) => {
		for (const node of nodes) {
			if (node.kind === 'codeblock') {
				if (inText) lines += count(inText.replace(/\n$/, ''), chars);
				inText = '';
				lines += count(node.text, codeChars) + 1;
			} else if (node.kind === 'quote') walk(node.children);
			else inText += plainText([node]);
		}
	};
	walk(formatOf(message));
	if (inText) lines += count(inText, chars);
	return Math.max(1, lines);
}

/** A name a message mentions, as typed after `@` (`@Ben`, `@readers`, `@everyone`). */
export interface MentionToken {
	text: string;
	/** The mention is of this reader (them, a role of theirs, @everyone). */
	me: boolean;
}

/** Whether `c` (the character after a name; undefined at the end) ends it: not a letter or digit. */
const endsName = (c: string | undefined) => c === undefined || !/[\p{L}\p{N}_]/u.test(c);

/**
 * Where `token` (with its `@`) occurs in `value` from `at`, as a whole name and in any case; -1 if
 * it does not. `@Ben` is in "hi @ben!" but not in "hi @Benedict" nor in "mail ben@Ben.org".
 */
export function findMention(value: string, token: string, at = 0): number {
	const lower = value.toLowerCase();
	const wanted = token.toLowerCase();
	for (let i = lower.indexOf(wanted, at); i >= 0; i = lower.indexOf(wanted, i + 1))
		if (endsName(value[i - 1]) && endsName(value[i + wanted.length])) return i;
	return -1;
}

/**
 * The tree with each `@name` of `tokens` in its text made a mention node (longest names first; not
 * inside code or links). The tree stays strings and known kinds: a mention holds the text typed.
 */
export function withMentions(
	nodes: readonly FormatNode[],
	tokens: readonly MentionToken[]
): FormatNode[] {
	if (!tokens.length) return nodes as FormatNode[];
	const longest = [...tokens].sort((a, b) => b.text.length - a.text.length);
	const split = (value: string): FormatNode[] => {
		const out: FormatNode[] = [];
		let plain = '';
		for (let i = 0; i < value.length;) {
			const hit =
				value[i] === '@' && endsName(value[i - 1])
					? longest.find((t) => findMention(value.slice(i), t.text) === 0)
					: undefined;
			if (hit) {
				if (plain) out.push(text(plain));
				plain = '';
				out.push({ kind: 'mention', text: value.slice(i, i + hit.text.length), me: hit.me });
				i += hit.text.length;
			} else plain += value[i++];
		}
		if (plain) out.push(text(plain));
		return out;
	};
	const walk = (list: readonly FormatNode[]): FormatNode[] =>
		list.flatMap((node): FormatNode[] =>
			node.kind === 'text'
				? split(node.text)
				: node.kind === 'link' || !('children' in node)
					? [node]
					: [{ ...node, children: walk(node.children) }]
		);
	return walk(nodes);
}
