/**
 * CPU profile of one benchmark's measured part, for finding where the time goes:
 *
 *   npx tsx bench/profile.ts authority [size]      → .charter-data/profiles/authority-<size>.cpuprofile
 *   npx tsx bench/profile.ts authority-compacted [size]   (the same on a channel compacted first)
 *   npx tsx bench/profile.ts cold-written|cold-compacted [messages]   (a new device's cold sync)
 *   npx tsx bench/profile.ts chat|chat-plain|chat-floor [members]   (the client process of members chatting;
 *                                                  CHAT_RATE, CHAT_SECONDS override rate and length)
 *
 * and a summary of the heaviest functions (self and inclusive time) on stdout. Open the file in
 * Chrome's DevTools (Performance → Load profile) for the whole picture.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join, resolve } from 'node:path';
import { validationCost } from './authority.js';
import { CHAT_PARAMS, chatCharter, chatFloor, chatPlain } from './chat.js';
import { coldSync } from './sync.js';

interface ProfileNode {
	id: number;
	callFrame: { functionName: string; url: string; lineNumber: number };
	children?: number[];
}
interface Profile {
	nodes: ProfileNode[];
	samples: number[];
	timeDeltas: number[];
}

function summarise(profile: Profile, rows = 30): string {
	const byId = new Map(profile.nodes.map((n) => [n.id, n]));
	const parent = new Map<number, number>();
	for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
	const name = (n: ProfileNode) =>
		`${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
	const self = new Map<string, number>();
	const total = new Map<string, number>();
	let all = 0;
	profile.samples.forEach((id, i) => {
		const dt = profile.timeDeltas[i] ?? 0;
		all += dt;
		const leaf = byId.get(id)!;
		self.set(name(leaf), (self.get(name(leaf)) ?? 0) + dt);
		const seen = new Set<string>();
		for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
			const key = name(byId.get(at)!);
			if (seen.has(key)) continue;
			seen.add(key);
			total.set(key, (total.get(key) ?? 0) + dt);
		}
	});
	const top = (m: Map<string, number>) =>
		[...m]
			.sort((a, b) => b[1] - a[1])
			.slice(0, rows)
			.map(
				([k, v]) =>
					`${(v / 1000).toFixed(1).padStart(9)} ms ${((100 * v) / all).toFixed(1).padStart(5)}%  ${k}`
			)
			.join('\n');
	return `sampled ${(all / 1000).toFixed(0)} ms\n\nself time\n${top(self)}\n\ninclusive time\n${top(total)}`;
}

const [scenario = 'authority', sizeArg] = process.argv.slice(2);
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 200 });
let profile: Profile | undefined;
const hooks = {
	beforeMeasure: async () => void (await session.post('Profiler.start')),
	afterMeasure: async () => {
		profile = (await session.post('Profiler.stop')).profile as unknown as Profile;
	}
};
const size = Number(
	sizeArg ?? (scenario === 'authority' ? 1000 : scenario.startsWith('chat') ? 20 : 10_000)
);
let result: unknown;
if (scenario === 'authority') result = await validationCost(size, 300, hooks);
else if (scenario === 'authority-compacted')
	result = await validationCost(size, 300, hooks, { compacted: true });
else if (scenario === 'cold-written' || scenario === 'cold-compacted')
	result = await coldSync(size, {
		...hooks,
		only: scenario === 'cold-written' ? 'written' : 'compacted'
	});
else if (scenario === 'chat' || scenario === 'chat-plain' || scenario === 'chat-floor')
	result = await (
		scenario === 'chat' ? chatCharter : scenario === 'chat-plain' ? chatPlain : chatFloor
	)(
		{
			...CHAT_PARAMS.full,
			members: size,
			...(process.env.CHAT_RATE ? { rate: Number(process.env.CHAT_RATE) } : {}),
			...(process.env.CHAT_SECONDS ? { seconds: Number(process.env.CHAT_SECONDS) } : {})
		},
		hooks
	);
else throw new Error(`no profile for ${scenario}`);
console.log(JSON.stringify(result));
const dir = resolve(import.meta.dirname, '../.charter-data/profiles');
await mkdir(dir, { recursive: true });
const file = join(dir, `${scenario}-${size}.cpuprofile`);
await writeFile(file, JSON.stringify(profile));
console.log(`${file}\n${summarise(profile!)}`);
process.exit(0);
