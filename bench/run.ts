/**
 * `npm run bench` runs every scenario; `npm run bench -- <name>` runs one (authority, server, …).
 * Each scenario runs side by side with plain automerge-repo / Automerge where a comparison exists
 * and prints the ratio. Parameters live in the scenario files.
 */
import { rotationCost, validationCost, AUTHORITY_PARAMS } from './authority.js';

type Row = Record<string, string | number>;

function table(title: string, rows: Row[]) {
	console.log(`\n${title}`);
	console.table(rows);
}

const scenarios: Record<string, () => Promise<void>> = {
	async authority() {
		const rows: Row[] = [];
		for (const size of AUTHORITY_PARAMS.sizes) {
			const r = await validationCost(size);
			rows.push({ 'channel messages': size, 'charter µs/change': r.charterUs.toFixed(0), 'plain automerge µs/change': r.plainUs.toFixed(0), ratio: (r.charterUs / r.plainUs).toFixed(2) });
		}
		rows.push({ 'channel messages': 'growth 10k/1k', 'charter µs/change': (Number(rows[1]!['charter µs/change']) / Number(rows[0]!['charter µs/change'])).toFixed(2), 'plain automerge µs/change': (Number(rows[1]!['plain automerge µs/change']) / Number(rows[0]!['plain automerge µs/change'])).toFixed(2), ratio: '' });
		table('Validation cost per incoming change (verify + decrypt + authorise + apply vs apply)', rows);
		const rotation = await rotationCost();
		table('Key rotation after a ban', [{ members: rotation.members, lockboxes: rotation.lockboxes, ms: rotation.ms.toFixed(0), target: '< 1000 ms' }]);
	}
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const name of wanted.length ? wanted : Object.keys(scenarios)) {
	const scenario = scenarios[name];
	if (!scenario) {
		console.error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}`);
		process.exit(2);
	}
	await scenario();
}
process.exit(0);
