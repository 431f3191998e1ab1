/**
 * Mentions in a message's formatted text (issue 16, item 3): the names a message mentions are
 * marked where they are typed as whole names, in any case, never inside code or a link, and the
 * tree stays text and known kinds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
	findMention,
	formatMessage,
	plainText,
	withMentions,
	type FormatNode
} from '../../src/lib/svelte/format.js';

const marked = (text: string, tokens: { text: string; me: boolean }[]) =>
	withMentions(formatMessage(text), tokens);

describe('mentions in formatted text', () => {
	it('✓ a whole name, in any case, is found; a longer name starting the same, or one inside a word, is not', () => {
		expect(findMention('hi @ben!', '@Ben')).toBe(3);
		expect(findMention('hi @Benedict', '@Ben')).toBe(-1);
		expect(findMention('@Benedict and @Ben', '@Ben')).toBe(14);
		// ✓ nor inside a word (an e-mail address)
		expect(findMention('mail ben@example.com', '@example')).toBe(-1);
	});

	it('✓ mentions are marked in text and formatting, the longest name first, not in code or links', () => {
		const tokens = [
			{ text: '@Ada', me: true },
			{ text: '@Ada Lovelace', me: false },
			{ text: '@everyone', me: true }
		];
		expect(marked('hey @Ada Lovelace and **@everyone**', tokens)).toEqual([
			{ kind: 'text', text: 'hey ' },
			{ kind: 'mention', text: '@Ada Lovelace', me: false },
			{ kind: 'text', text: ' and ' },
			{ kind: 'bold', children: [{ kind: 'mention', text: '@everyone', me: true }] }
		]);
		expect(marked('`@Ada` [@Ada](https://example.com)', tokens)).toEqual(
			formatMessage('`@Ada` [@Ada](https://example.com)')
		);
	});

	it('✓ property: any text and names give the same plain text, and only known kinds', () => {
		const kinds = new Set(['text', 'bold', 'italic', 'strike', 'spoiler', 'code', 'codeblock']);
		for (const k of ['quote', 'link', 'mention']) kinds.add(k);
		const walk = (nodes: readonly FormatNode[]): boolean =>
			nodes.every((n) => kinds.has(n.kind) && (!('children' in n) || walk(n.children)));
		fc.assert(
			fc.property(
				fc.string({ maxLength: 200 }),
				fc.array(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 4 }),
				(text, names) => {
					const tokens = names.map((n) => ({ text: `@${n}`, me: false }));
					const nodes = withMentions(formatMessage(text), tokens);
					expect(plainText(nodes)).toBe(plainText(formatMessage(text)));
					expect(walk(nodes)).toBe(true);
				}
			)
		);
	});
});
