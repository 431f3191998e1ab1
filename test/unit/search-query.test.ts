/**
 * The search query language (client/search.ts `parseQuery`): words, operators, quoted values, dates
 * in this device's time zone, and bad values turned into problems — never exceptions.
 */
import { describe, expect, it } from 'vitest';
import { parseQuery } from '../../src/lib/client/search.js';

const midnight = (y: number, m: number, d: number) => new Date(y, m - 1, d).getTime();

describe('parseQuery', () => {
	it('✓ words and operators: any case of the key, quoted values, repeated from: and in:', () => {
		const q = parseQuery('Lighthouse FROM:ada from:"Ben Smith" In:#general in:books has:LINK map');
		expect(q.words).toEqual(['Lighthouse', 'map']);
		expect(q.from).toEqual(['ada', 'Ben Smith']);
		expect(q.in).toEqual(['#general', 'books']);
		expect(q.hasLink).toBe(true);
		expect(q.problems).toEqual([]);
	});

	it('✓ a quoted phrase gives its words; a key that is no operator is text (a URL, "re:")', () => {
		const q = parseQuery('"petit prince" re:chapter https://example.org/map');
		expect(q.words).toEqual(['petit', 'prince', 're', 'chapter', 'https', 'example', 'org', 'map']);
		expect(q.problems).toEqual([]);
	});

	it('✓ dates: before: ends the day before, after: starts the day after, during: is the day; the tightest wins', () => {
		expect(parseQuery('before:2026-03-10')).toMatchObject({ until: midnight(2026, 3, 10) });
		expect(parseQuery('after:2026-03-10')).toMatchObject({ since: midnight(2026, 3, 11) });
		expect(parseQuery('during:2026-02-28')).toMatchObject({
			since: midnight(2026, 2, 28),
			until: midnight(2026, 3, 1)
		});
		expect(
			parseQuery('before:2026-05-01 before:2026-04-01 after:2026-01-01 after:2026-02-01')
		).toMatchObject({
			since: midnight(2026, 2, 2),
			until: midnight(2026, 4, 1)
		});
		// a leap day exists in 2028, not in 2026
		expect(parseQuery('during:2028-02-29').problems).toEqual([]);
	});

	it('✓ bad values are problems naming the operator and the reason', () => {
		const reasons = (query: string) =>
			parseQuery(query).problems.map((p) => [p.operator, p.reason]);
		expect(reasons('before:2026-02-29')).toEqual([
			['before', 'before: takes a date as YYYY-MM-DD']
		]);
		expect(reasons('after:26-1-1')).toEqual([['after', 'after: takes a date as YYYY-MM-DD']]);
		expect(reasons('during:2026-13-01')).toEqual([
			['during', 'during: takes a date as YYYY-MM-DD']
		]);
		expect(reasons('has:file')).toEqual([['has', 'has: takes “link”']]);
		expect(reasons('in: x')).toEqual([['in', 'in: needs a value']]);
		expect(reasons('from:""')).toEqual([['from', 'from: needs a value']]);
		expect(reasons('after:2026-03-10 before:2026-03-11')).toEqual([
			['after', 'the dates leave no day: after: must be before before:']
		]);
		// an unclosed quote takes the rest of the query
		expect(parseQuery('from:"Ada L').from).toEqual(['Ada L']);
	});
});
