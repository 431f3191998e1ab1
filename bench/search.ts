/**
 * Search: one client holding a space of C channels × M messages (10 × 1,000 = 10,000 by default)
 * indexes them and answers queries, side by side with plain MiniSearch indexing the same texts with
 * the same options (the floor: what the kept library costs with no Charter code around it).
 *
 * - build: the index made from messages already readable (what a reopened client pays on its first
 *   search — the index lives in memory only, client/search.ts);
 * - queries: latency p50 / p99 of a mix of queries (a common word, a rare one, two words, a word
 *   begun, with `from:`, `in:`, `has:link`, a date, operators alone); plain MiniSearch answers the
 *   words of the same queries (it has no operators);
 * - a new message: what keeping the index up to date costs per message that arrives once it exists
 *   (every walk of its channel's list the message caused, and one add), from the index's own
 *   counters: the mean is all that work over the messages, the max the longest single update.
 *
 * The messages are written by `channel.send` into an in-memory client (no network), from a
 * deterministic vocabulary: about 2,000 made-up words drawn with a Zipf-like skew, 4 to 18 a
 * message, one message in 20 with a link.
 *
 *   npm run bench -- search [--channels 10] [--messages 1000] [--queries 300]
 */
import MiniSearch from 'minisearch';
import { Charter, type Channel } from '../src/lib/index.js';
import { SpaceSearch } from '../src/lib/client/search.js';

export const SEARCH_PARAMS = { channels: 10, messages: 1000, queries: 300, updates: 100 };

/** A deterministic pseudo-random source (mulberry32), so every run searches the same texts. */
function random(seed: number): () => number {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

const SYLLABLES =
	'ka lo mi nu re sa ti vo ba de fi gu ho ja ke li mo na pe ri su ta ve yo zu'.split(' ');

function vocabulary(rand: () => number, size: number): string[] {
	const words = new Set<string>();
	while (words.size < size) {
		const n = 1 + Math.floor(rand() * 3);
		let w = '';
		for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(rand() * SYLLABLES.length)];
		if (w.length >= 3) words.add(w);
	}
	return [...words];
}

/** Index i drawn with probability ∝ 1/(i+1): a few words are everywhere, most are rare. */
function zipf(rand: () => number, n: number): number {
	return Math.min(n - 1, Math.floor(Math.exp(rand() * Math.log(n + 1)) - 1));
}

function percentile(sorted: number[], p: number): number {
	return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

export interface SearchBench {
	messages: number;
	writeS: number;
	buildMs: number;
	plainBuildMs: number;
	p50: number;
	p99: number;
	plainP50: number;
	plainP99: number;
	updateMeanMs: number;
	updateMaxMs: number;
	updates: number;
	meanResults: number;
}

export async function searchBench(params: typeof SEARCH_PARAMS): Promise<SearchBench> {
	const rand = random(16);
	const words = vocabulary(rand, 2000);
	const sentence = () => {
		const n = 4 + Math.floor(rand() * 15);
		const out: string[] = [];
		for (let i = 0; i < n; i++) out.push(words[zipf(rand, words.length)]!);
		if (rand() < 0.05) out.push(`https://example.org/${words[zipf(rand, words.length)]}`);
		return out.join(' ');
	};

	const client = await Charter.open({ inMemory: true, deviceName: 'bench' });
	try {
		await client.createIdentity();
		const space = await client.createSpace({ name: 'Search bench', channelName: 'channel-0' });
		const channels: Channel[] = [space.channels[0]!];
		for (let c = 1; c < params.channels; c++)
			channels.push(await space.createChannel({ name: `channel-${c}` }));
		const texts: string[] = [];
		const t0 = performance.now();
		for (const channel of channels)
			for (let m = 0; m < params.messages; m += 50) {
				// 50 sends in one tick go out as one entry: writing the data set is not what is measured
				const batch = Array.from({ length: Math.min(50, params.messages - m) }, sentence);
				texts.push(...batch);
				await Promise.all(batch.map((t) => channel.send(t)));
			}
		await space.settled();
		const writeS = (performance.now() - t0) / 1000;
		const readable = channels.reduce((n, c) => n + c.messages.length, 0);
		if (readable !== texts.length) throw new Error(`${readable} of ${texts.length} readable`);

		// build (both after a throwaway index of a few hundred texts: neither pays for a cold JIT)
		const warm = new MiniSearch<{ id: number; text: string }>({ fields: ['text'] });
		warm.addAll(texts.slice(0, 300).map((text, id) => ({ id, text })));
		warm.search(texts[0]!.split(' ')[0]!);
		const b0 = performance.now();
		const index = new SpaceSearch(space);
		const buildMs = performance.now() - b0;
		if (index.size !== texts.length) throw new Error(`indexed ${index.size} of ${texts.length}`);
		const p0 = performance.now();
		const plain = new MiniSearch<{ id: number; text: string }>({
			fields: ['text'],
			processTerm: (term) =>
				term
					.normalize('NFKD')
					.replace(/\p{M}+/gu, '')
					.toLowerCase() || null
		});
		plain.addAll(texts.map((text, id) => ({ id, text })));
		const plainBuildMs = performance.now() - p0;

		// queries
		const me = client.identity!.userId;
		const today = new Date();
		const day = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, '0')}-${String(today.getDate()).padStart(2, '0')}`;
		const common = () => words[Math.floor(rand() * 10)]!;
		const rare = () => words[200 + Math.floor(rand() * 1500)]!;
		const makers: (() => string)[] = [
			common,
			rare,
			() => `${common()} ${rare()}`,
			() => `${common()} ${common()}`,
			() => rare().slice(0, 3),
			() => `${rare()} from:${me}`,
			() => `${common()} in:channel-${Math.floor(rand() * params.channels)}`,
			() => `${common()} has:link`,
			() => `${rare()} during:${day}`,
			() => `in:channel-0 has:link`
		];
		const queries = Array.from({ length: params.queries }, (_, i) => makers[i % makers.length]!());
		const wordsOf = (q: string) =>
			q
				.split(/\s+/)
				.filter((w) => !w.includes(':'))
				.join(' ');
		const options = (last: number) => ({
			combineWith: 'AND' as const,
			prefix: (_t: string, i: number) => i === last,
			fuzzy: (t: string) => (t.length >= 5 ? 1 : false)
		});
		// warm up both
		for (const q of queries.slice(0, 20)) {
			index.search(q);
			plain.search(wordsOf(q), options(wordsOf(q).split(' ').length - 1));
		}
		const charterTimes: number[] = [];
		const plainTimes: number[] = [];
		let results = 0;
		for (const q of queries) {
			const s = performance.now();
			results += index.search(q, { limit: 50 }).results.length;
			charterTimes.push(performance.now() - s);
			const w = wordsOf(q);
			if (!w) continue;
			const s2 = performance.now();
			plain.search(w, options(w.split(' ').length - 1)).slice(0, 50);
			plainTimes.push(performance.now() - s2);
		}
		charterTimes.sort((a, b) => a - b);
		plainTimes.sort((a, b) => a - b);

		// new messages, once the index exists
		const before = { ...index.stats };
		index.stats.maxUpdateMs = 0; // the build counted as the first update
		for (let i = 0; i < params.updates; i++) {
			await channels[i % channels.length]!.send(sentence());
			await Promise.resolve(); // the index follows on the next microtask
		}
		await space.settled();
		index.search('');
		const updates = index.stats.updates - before.updates;
		// per new message: all the index's work since (a send may change its channel more than once)
		const updateMeanMs = (index.stats.updateMs - before.updateMs) / params.updates;
		if (index.size !== texts.length + params.updates)
			throw new Error(`indexed ${index.size} after ${params.updates} more`);
		index.close();
		return {
			messages: texts.length,
			writeS,
			buildMs,
			plainBuildMs,
			p50: percentile(charterTimes, 0.5),
			p99: percentile(charterTimes, 0.99),
			plainP50: percentile(plainTimes, 0.5),
			plainP99: percentile(plainTimes, 0.99),
			updateMeanMs,
			updateMaxMs: index.stats.maxUpdateMs,
			updates,
			meanResults: results / queries.length
		};
	} finally {
		await client.close();
	}
}
