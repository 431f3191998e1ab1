/**
 * Message formatting (issue 16, item 8): what a message's text becomes before the web client
 * renders it. Ada writes messages; the tree her readers' clients render is checked node by node —
 * each construct, nesting, what stays literal, and what a hostile writer tries: HTML, event
 * handlers, `javascript:` and other schemes, entity and whitespace tricks, unclosed markers, and
 * the 4,000-character worst cases (no exception, bounded time).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_LENGTH } from '../../src/lib/index.js';
import {
	estimateLines,
	formatMessage,
	formatOf,
	MAX_DEPTH,
	MAX_QUOTE_DEPTH,
	plainText,
	safeHref,
	type FormatNode
} from '../../src/lib/svelte/format.js';

const t = (text: string): FormatNode => ({ kind: 'text', text });

/** Every node of a tree, depth first. */
function* walk(nodes: readonly FormatNode[]): Generator<FormatNode> {
	for (const node of nodes) {
		yield node;
		if ('children' in node) yield* walk(node.children);
	}
}
const depthOf = (nodes: readonly FormatNode[]): number =>
	Math.max(0, ...nodes.map((n) => ('children' in n ? 1 + depthOf(n.children) : 0)));
const links = (nodes: readonly FormatNode[]) =>
	[...walk(nodes)].filter((n): n is Extract<FormatNode, { kind: 'link' }> => n.kind === 'link');

/**
 * The tree is data a renderer turns into elements: only the known kinds, only strings, and every
 * link's href an absolute http(s) URL.
 */
function expectSafe(nodes: readonly FormatNode[]) {
	const kinds = new Set(['text', 'bold', 'italic', 'strike', 'spoiler', 'code', 'codeblock']);
	for (const node of walk(nodes)) {
		if (node.kind === 'link') {
			expect(['http:', 'https:']).toContain(new URL(node.href).protocol);
			expect(safeHref(node.href)).toBe(node.href);
		} else if (node.kind !== 'quote') expect(kinds).toContain(node.kind);
		if ('text' in node) expect(typeof node.text).toBe('string');
	}
}

/** Runs `f` and returns how long it took, in ms. */
function timed(f: () => void): number {
	const start = performance.now();
	f();
	return performance.now() - start;
}

describe('formatting a message', () => {
	it('✓ plain text is one text node, line breaks and entities as typed', () => {
		expect(formatMessage('hello')).toEqual([t('hello')]);
		expect(formatMessage('line one\nline two\n\n\nafter two blank lines')).toEqual([
			t('line one\nline two\n\n\nafter two blank lines')
		]);
		// what was typed shows: an entity is its characters, not what it would decode to
		expect(formatMessage('fish &amp; chips &#60;3 &lt;')).toEqual([
			t('fish &amp; chips &#60;3 &lt;')
		]);
	});

	it('✓ **bold**, *italic*, ~~strike~~ and `code`', () => {
		expect(formatMessage('**bold** *italic* _also_ ~~gone~~ `a <b> c`')).toEqual([
			{ kind: 'bold', children: [t('bold')] },
			t(' '),
			{ kind: 'italic', children: [t('italic')] },
			t(' '),
			{ kind: 'italic', children: [t('also')] },
			t(' '),
			{ kind: 'strike', children: [t('gone')] },
			t(' '),
			{ kind: 'code', text: 'a <b> c' }
		]);
	});

	it('✓ a fenced code block keeps its lines, and the text around it keeps its own', () => {
		expect(formatMessage('look:\n```ts\nconst a = 1;\n  **not bold**\n```\nnice')).toEqual([
			t('look:\n'),
			{ kind: 'codeblock', text: 'const a = 1;\n  **not bold**' },
			t('nice')
		]);
		// a blank line typed after the block is kept
		expect(formatMessage('```\nx\n```\n\nafter')).toEqual([
			{ kind: 'codeblock', text: 'x' },
			t('\nafter')
		]);
	});

	it('✓ a > quote, with formatting inside and text after it (only its own lines)', () => {
		// only the lines that start with > are quoted: the answer below is not
		expect(formatMessage('> is this it?\nyes')).toEqual([
			{ kind: 'quote', children: [t('is this it?')] },
			t('yes')
		]);
		expect(formatMessage('> she said **no**\n> twice\n\nand left')).toEqual([
			{
				kind: 'quote',
				children: [t('she said '), { kind: 'bold', children: [t('no')] }, t('\ntwice')]
			},
			t('\nand left')
		]);
	});

	it('✓ a ||spoiler|| holds its formatting; empty bars are text', () => {
		expect(formatMessage('the end: ||he **lives**||!')).toEqual([
			t('the end: '),
			{ kind: 'spoiler', children: [t('he '), { kind: 'bold', children: [t('lives')] }] },
			t('!')
		]);
		expect(formatMessage('a |||| b')).toEqual([t('a |||| b')]);
		expect(formatMessage('|| || c')).toEqual([t('|| || c')]);
	});

	it('✓ bare http(s) URLs become links; a link whose text is not its URL shows the URL too', () => {
		expect(formatMessage('see https://example.com/a?b=1. or www.example.org')).toEqual([
			t('see '),
			{
				kind: 'link',
				href: 'https://example.com/a?b=1',
				children: [t('https://example.com/a?b=1')]
			},
			t('. or '),
			{ kind: 'link', href: 'http://www.example.org/', children: [t('www.example.org')] }
		]);
		expect(formatMessage('[the docs](https://example.com/docs)')).toEqual([
			{
				kind: 'link',
				href: 'https://example.com/docs',
				url: 'https://example.com/docs',
				children: [t('the docs')]
			}
		]);
		// a bare address with non-ASCII characters is its own address; a look-alike host is not
		expect(formatMessage('https://de.wikipedia.org/wiki/Straße')).toEqual([
			{
				kind: 'link',
				href: 'https://de.wikipedia.org/wiki/Stra%C3%9Fe',
				children: [t('https://de.wikipedia.org/wiki/Straße')]
			}
		]);
		// a look-alike host is not linked bare, and as a named link its real (punycode) host shows
		expect(links(formatMessage('https://\u0430pple.example/login'))).toEqual([]);
		expect(
			formatMessage('[https://\u0430pple.example/login](https://\u0430pple.example/login)')
		).toEqual([
			{
				kind: 'link',
				href: 'https://xn--pple-43d.example/login',
				url: 'https://xn--pple-43d.example/login',
				children: [t('https://\u0430pple.example/login')]
			}
		]);
		// nor one with a right-to-left override in it: its address shows escaped
		const [rtl] = formatMessage('https://a.example/\u202Etxt.exe');
		expect(rtl).toMatchObject({ url: 'https://a.example/%E2%80%AEtxt.exe' });
		// text that looks like one URL cannot hide another
		const [fake] = formatMessage('[https://bank.example](https://evil.example/login)');
		expect(fake).toMatchObject({ kind: 'link', url: 'https://evil.example/login' });
		expect(plainText([fake!])).toBe('https://bank.example');
	});

	it('✓ formatting nests: bold inside a spoiler inside a quote, italic inside a link', () => {
		const nodes = formatMessage('> ||**~~x~~**|| [*y*](https://y.example)');
		expect(nodes).toEqual([
			{
				kind: 'quote',
				children: [
					{
						kind: 'spoiler',
						children: [{ kind: 'bold', children: [{ kind: 'strike', children: [t('x')] }] }]
					},
					t(' '),
					{
						kind: 'link',
						href: 'https://y.example/',
						url: 'https://y.example/',
						children: [{ kind: 'italic', children: [t('y')] }]
					}
				]
			}
		]);
	});

	it('✓ headings, lists, rules, tables, images, reference links and indented code stay as typed', () => {
		const typed = [
			'# not a heading',
			'- not a list',
			'1. nor this',
			'---',
			'| a | b |',
			'|---|---|',
			'| 1 | 2 |',
			'![an image](x.png)',
			'[ref]',
			'[ref]: /somewhere',
			'    indented, not code',
			'underlined',
			'==='
		].join('\n');
		expect(formatMessage(typed)).toEqual([t(typed)]);
	});

	it(`✓ quotes nest ${MAX_QUOTE_DEPTH} deep, formatting ${MAX_DEPTH} deep; deeper shows as typed`, () => {
		const quotes = formatMessage('> > > > > five');
		expect(depthOf(quotes)).toBe(MAX_QUOTE_DEPTH);
		expect(plainText(quotes)).toBe('> > five');
		const deep = '||**'.repeat(20) + 'x' + '**||'.repeat(20);
		const nodes = formatMessage(deep);
		expect(depthOf(nodes)).toBeLessThanOrEqual(MAX_DEPTH);
		expect(plainText(nodes)).toContain('x');
	});

	it('✓ a message is lexed once per message object, and again when its text changes', () => {
		const message = { text: '**hi**' };
		const first = formatOf(message);
		expect(formatOf(message)).toBe(first);
		const edited = { ...message, text: '*hi*' };
		expect(formatOf(edited)).toEqual([{ kind: 'italic', children: [t('hi')] }]);
	});

	it('✓ the row estimate counts a code block by its own lines', () => {
		expect(estimateLines({ text: 'one\ntwo' })).toBe(2);
		const code = '```\n' + Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n') + '\n```';
		// 30 lines of code and one of padding, the fences themselves take none
		expect(estimateLines({ text: code })).toBe(31);
		expect(estimateLines({ text: `before\n${code}\nafter` })).toBe(33);
	});
});

describe('a hostile writer', () => {
	it('✓ HTML is text: <script>, <img onerror>, <a href>, <iframe>, <svg onload>', () => {
		for (const attack of [
			'<script>window.__pwned=1</script>',
			'<img src=x onerror="window.__pwned=1">',
			'<a href="javascript:alert(1)">click</a>',
			'<iframe src="https://evil.example"></iframe>',
			'<svg onload=alert(1)>',
			'<style>body{display:none}</style>',
			'<div>\n<b>block html</b>\n</div>'
		]) {
			const nodes = formatMessage(attack);
			expect(nodes, attack).toEqual([t(attack)]);
		}
	});

	it('✓ javascript:, data:, vbscript: and file: links are text, however they are spelled', () => {
		for (const href of [
			'javascript:alert(1)',
			'JaVaScRiPt:alert(1)',
			' javascript:alert(1)',
			'java\tscript:alert(1)',
			'\u0001javascript:alert(1)',
			'&#106;avascript:alert(1)',
			'javascript&colon;alert(1)',
			'%6Aavascript:alert(1)',
			'data:text/html,<script>alert(1)</script>',
			'vbscript:msgbox(1)',
			'file:///etc/passwd',
			'//evil.example/relative',
			'/relative',
			'mailto:ada@example.com'
		]) {
			expect(safeHref(href), href).toBeUndefined();
			const nodes = formatMessage(`[click](${href})`);
			expect(links(nodes), href).toEqual([]);
			expectSafe(nodes);
		}
		// a bracketed autolink with a bad scheme, and an email, stay text too
		expect(
			links(formatMessage('<javascript:alert(1)> <data:text/html,x> ada@example.com'))
		).toEqual([]);
		// the ones that pass come back as the URL parser writes them
		expect(safeHref('HTTPS://Example.COM/a b')).toBe('https://example.com/a%20b');
		expect(safeHref(' http://example.com ')).toBe('http://example.com/');
	});

	it('✓ unclosed markers are text', () => {
		for (const typed of ['**bold', '*it', '`code', '~~gone', '||secret', '```\nnever closed']) {
			expect(formatMessage(typed), typed).toEqual([t(typed)]);
		}
		// an unclosed link is no link of "text"; the bare URL in it still is one
		const nodes = formatMessage('[text](https://a.example');
		expect(plainText(nodes)).toBe('[text](https://a.example');
		expect(links(nodes).map((l) => plainText(l.children))).toEqual(['https://a.example']);
	});

	it(`✓ ${MAX_MESSAGE_LENGTH.toLocaleString('en')}-character worst cases: no exception, bounded time, bounded depth`, () => {
		const n = MAX_MESSAGE_LENGTH;
		const fill = (unit: string) => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
		const worst = [
			'*',
			'_',
			'~',
			'`',
			'|',
			'[',
			'<',
			'>',
			'\\',
			'&',
			'> ',
			'*a',
			'**a',
			'*a**',
			'||a',
			'|| a',
			'[](',
			'[**[',
			'>*',
			'> ```\n',
			'```\n',
			'[a](http://x.example/',
			'http://a.example/',
			'www.',
			'**_~~||',
			'*_~`[<|'
		].map(fill);
		let slowest = 0;
		for (const text of worst) {
			expect(text.length).toBe(n);
			let nodes: FormatNode[] = [];
			slowest = Math.max(
				slowest,
				timed(() => (nodes = formatMessage(text)))
			);
			expectSafe(nodes);
			expect(depthOf(nodes)).toBeLessThanOrEqual(MAX_DEPTH);
		}
		// measured here: the slowest is ~25 ms; a whole screenful of them stays interactive
		expect(slowest).toBeLessThan(500);
		// longer than any message the rules accept: shown unformatted, never lexed
		const long = '*a'.repeat(n);
		expect(formatMessage(long)).toEqual([t(long)]);
	});

	it('✓ any text of markers, URLs and HTML: no exception, only known kinds, only http(s) links', () => {
		const piece = fc.constantFrom(
			'*',
			'**',
			'_',
			'~~',
			'`',
			'```',
			'\n',
			'> ',
			'||',
			'[',
			']',
			'(',
			')',
			'<',
			'>',
			' ',
			'a',
			'é',
			'&#106;',
			'javascript:',
			'JaVaScRiPt:',
			'data:',
			'https://a.example/',
			'www.b.example',
			'<script>',
			'<img src=x onerror=alert(1)>',
			'\\',
			'# ',
			'- ',
			'![x](y)'
		);
		fc.assert(
			fc.property(fc.array(piece, { maxLength: 200 }), (pieces) => {
				const nodes = formatMessage(pieces.join(''));
				expectSafe(nodes);
				expect(depthOf(nodes)).toBeLessThanOrEqual(MAX_DEPTH);
			}),
			{ numRuns: 300 }
		);
	});
});
