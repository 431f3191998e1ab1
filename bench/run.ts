/**
 * `npm run bench` runs every scenario; `npm run bench -- <name>` runs one (authority, server, …).
 * Each scenario runs side by side with plain automerge-repo / Automerge where a comparison exists
 * and prints the ratio. Parameters live in the scenario files.
 */
import {
	rotationCost,
	validationCostApart,
	AUTHORITY_PARAMS,
	type ValidationCost
} from './authority.js';
import { coldSync, coldSyncFloor, sendToVisible, SYNC_PARAMS } from './sync.js';
import { serverLoad, soak, SERVER_PARAMS } from './server.js';
import { memory, MEMORY_PARAMS } from './memory.js';
import { chatCharter, chatFloor, chatPlain, CHAT_PARAMS, type ChatResult } from './chat.js';
import { browserOpen, browserSend, BROWSER_PARAMS, type OpenReading } from './browser.js';
import { searchBench, SEARCH_PARAMS } from './search.js';

const flag = (name: string, fallback: number) => {
	const i = process.argv.indexOf(`--${name}`);
	return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

/** `--quick`: the smaller parameter set of the scenarios that have one (chat, memory). */
const quick = process.argv.includes('--quick');

type Row = Record<string, string | number>;

function table(title: string, rows: Row[]) {
	console.log(`\n${title}`);
	console.table(rows);
}

const scenarios: Record<string, () => Promise<void>> = {
	async sync() {
		const messages = flag('messages', SYNC_PARAMS.messages);
		const cold = await coldSync(messages);
		const floor = await coldSyncFloor(messages);
		const row = (channel: string, charterMs: number, floorMs: number, target: string) => ({
			channel,
			charter_ms: charterMs.toFixed(0),
			floor_ms: floorMs.toFixed(0),
			plain_automerge_repo_ms: cold.plainMs.toFixed(0),
			ratio: (charterMs / cold.plainMs).toFixed(2),
			'floor ratio': (floorMs / cold.plainMs).toFixed(2),
			target
		});
		table(
			`Cold sync of a ${messages}-message channel to a new device, until every message is readable ` +
				'(floor: automerge-repo syncing only ciphertext, the reader checking, decrypting and applying — no Charter code)',
			[
				row('as written (one entry per message)', cold.charterMs, floor.writtenMs, '≤ 3×'),
				row(
					`compacted (${cold.fragments} fragments; floor ${floor.fragments})`,
					cold.compactedMs,
					floor.compactedMs,
					'≤ 1.5×'
				),
				row(
					`compacted, the floor trusting no compactor (${floor.checkedFragments} fragments: saved document and every signed entry)`,
					cold.compactedMs,
					floor.checkedMs,
					'≤ 1.5×'
				)
			]
		);
		const samples = flag('samples', SYNC_PARAMS.latencySamples);
		const rows = [];
		for (const gapMs of [flag('gap', SYNC_PARAMS.spacedGapMs), 0]) {
			const latency = await sendToVisible(samples, gapMs);
			rows.push({
				sends: gapMs ? `spaced ${gapMs} ms` : 'back to back',
				charter_p50_ms: latency.charterP50.toFixed(1),
				charter_p99_ms: latency.charterP99.toFixed(1),
				plain_p50_ms: latency.plainP50.toFixed(1),
				plain_p99_ms: latency.plainP99.toFixed(1),
				floor_p50_ms: latency.floorP50.toFixed(1),
				floor_p99_ms: latency.floorP99.toFixed(1),
				floor_ratio_p50: (latency.floorP50 / latency.plainP50).toFixed(2),
				ratio_p50: (latency.charterP50 / latency.plainP50).toFixed(2),
				target: 'p50 ≤ 1.3×, p99 < 50 ms'
			});
		}
		table(`Send → visible on another client through the sync server (${samples} messages)`, rows);
	},
	async server() {
		const soakSeconds = flag('soak', 0);
		if (soakSeconds) {
			table(`Soak: clients connecting and disconnecting for ${soakSeconds} s, then a restart`, [
				await soak(soakSeconds)
			]);
			return;
		}
		const clients = flag('clients', SERVER_PARAMS.clients);
		const seconds = flag('seconds', SERVER_PARAMS.seconds);
		const rows: Row[] = [];
		for (const kind of ['charter', 'stock'] as const) {
			const r = await serverLoad(kind, clients, seconds);
			rows.push({
				server: kind === 'charter' ? 'charter sync server' : 'plain automerge-repo',
				clients: r.clients,
				held: r.held,
				'connect all ms': r.connectMs.toFixed(0),
				'reply p50 ms': r.p50.toFixed(1),
				'reply p99 ms': r.p99.toFixed(1),
				'rss MB': r.rssMb.toFixed(0)
			});
		}
		rows.push({
			server: 'ratio charter/plain',
			clients: '',
			held: '',
			'connect all ms': (
				Number(rows[0]!['connect all ms']) / Number(rows[1]!['connect all ms'])
			).toFixed(2),
			'reply p50 ms': (Number(rows[0]!['reply p50 ms']) / Number(rows[1]!['reply p50 ms'])).toFixed(
				2
			),
			'reply p99 ms': (Number(rows[0]!['reply p99 ms']) / Number(rows[1]!['reply p99 ms'])).toFixed(
				2
			),
			'rss MB': (Number(rows[0]!['rss MB']) / Number(rows[1]!['rss MB'])).toFixed(2)
		});
		table(
			`Sync server: ${clients} concurrent WebSocket clients on loopback, held ${seconds} s`,
			rows
		);
	},
	async chat() {
		const base = quick ? CHAT_PARAMS.quick : CHAT_PARAMS.full;
		const params = {
			members: flag('members', base.members),
			seconds: flag('seconds', base.seconds),
			rate: flag('rate', base.rate)
		};
		const row = (name: string, r: ChatResult) => ({
			side: name,
			sent: r.sent,
			'delivered/expected': `${r.deliveries}/${r.expected}`,
			'delivered msg/s': r.deliveredPerSecond.toFixed(1),
			'p50 ms': r.p50.toFixed(0),
			'p99 ms': r.p99.toFixed(0),
			'drain ms': r.drainMs.toFixed(0),
			'clients CPU s': r.clientCpuS.toFixed(2),
			'server CPU s': r.serverCpuS.toFixed(2),
			'server CPU ms/msg': ((r.serverCpuS * 1000) / r.sent).toFixed(2),
			'server msgs in/out': `${r.serverMessagesIn}/${r.serverMessagesOut}`,
			'server CPU µs/server msg': (
				(r.serverCpuS * 1e6) /
				(r.serverMessagesIn + r.serverMessagesOut)
			).toFixed(0),
			'server rss MB': r.serverRssMb.toFixed(0)
		});
		const charter = await chatCharter(params);
		const plain = await chatPlain(params);
		const floor = await chatFloor(params);
		const ratio = (a: number, b: number) => (a / b).toFixed(2);
		const ratios = (name: string, a: ChatResult, b: ChatResult) => ({
			side: name,
			sent: '',
			'delivered/expected': '',
			'delivered msg/s': ratio(a.deliveredPerSecond, b.deliveredPerSecond),
			'p50 ms': ratio(a.p50, b.p50),
			'p99 ms': ratio(a.p99, b.p99),
			'drain ms': '',
			'clients CPU s': ratio(a.clientCpuS, b.clientCpuS),
			'server CPU s': ratio(a.serverCpuS, b.serverCpuS),
			'server CPU ms/msg': ratio(a.serverCpuS / a.sent, b.serverCpuS / b.sent),
			'server msgs in/out': ratio(
				a.serverMessagesIn + a.serverMessagesOut,
				b.serverMessagesIn + b.serverMessagesOut
			),
			'server CPU µs/server msg': ratio(
				a.serverCpuS / (a.serverMessagesIn + a.serverMessagesOut),
				b.serverCpuS / (b.serverMessagesIn + b.serverMessagesOut)
			),
			'server rss MB': ratio(a.serverRssMb, b.serverRssMb)
		});
		table(
			`${params.members} members chatting for ${params.seconds} s through one sync server, ${params.rate} message/s each ` +
				'(floor: automerge-repo syncing only ciphertext, each reader verifying, decrypting and applying to its own plaintext copy — no Charter code)',
			[
				row('charter', charter),
				row('plain automerge-repo', plain),
				row('floor (encrypted, signed, no Charter)', floor),
				ratios('ratio charter/plain (target ≥ 0.9×, ≤ 3×, ≤ 1.5×)', charter, plain),
				ratios('ratio floor/plain', floor, plain),
				ratios('ratio charter/floor', charter, floor)
			]
		);
	},
	async memory() {
		const base = quick ? MEMORY_PARAMS.quick : MEMORY_PARAMS.full;
		const r = await memory({
			spaces: flag('spaces', base.spaces),
			channels: flag('channels', base.channels),
			messages: flag('messages', base.messages)
		});
		const { spaces, channels, messages } = r.shape;
		const row = (name: string, m: typeof r.charter) => ({
			client: name,
			'messages readable': m.messages,
			'open ms': m.openMs,
			'rss MB': m.rssMb,
			'heap MB': m.heapUsedMb,
			'external MB': m.externalMb,
			'rss − baseline MB': (m.rssMb - r.baseline.rssMb).toFixed(1),
			'heap − baseline MB': (m.heapUsedMb - r.baseline.heapUsedMb).toFixed(1)
		});
		const rows: Row[] = [
			row('baseline (modules loaded)', r.baseline),
			row('charter', r.charter),
			row('plain automerge-repo', r.plain)
		];
		const ratio = (k: 'rssMb' | 'heapUsedMb') =>
			((r.charter[k] - r.baseline[k]) / (r.plain[k] - r.baseline[k])).toFixed(2);
		rows.push({
			client: 'ratio charter/plain',
			'messages readable': '',
			'open ms': (r.charter.openMs / r.plain.openMs).toFixed(2),
			'rss MB': (r.charter.rssMb / r.plain.rssMb).toFixed(2),
			'heap MB': (r.charter.heapUsedMb / r.plain.heapUsedMb).toFixed(2),
			'external MB': (r.charter.externalMb / r.plain.externalMb).toFixed(2),
			'rss − baseline MB': ratio('rssMb'),
			'heap − baseline MB': ratio('heapUsedMb')
		});
		table(
			`Memory of one client holding ${spaces} spaces × ${channels} channels × ${messages} messages, after GC (fresh process each)`,
			rows
		);
	},
	async browser() {
		const only = process.argv.includes('--only')
			? process.argv[process.argv.indexOf('--only') + 1]
			: '';
		if (only !== 'send') {
			const base = quick ? BROWSER_PARAMS.open.quick : BROWSER_PARAMS.open.full;
			const r = await browserOpen({
				spaces: flag('spaces', base.spaces),
				channels: flag('channels', base.channels),
				messages: flag('messages', base.messages)
			});
			const { spaces, channels, messages } = r.shape;
			const row = (name: string, m: OpenReading) => ({
				client: name,
				'IndexedDB records': m.records,
				shown:
					m.crashed ??
					[
						m.spacesShown && `${m.spacesShown} spaces in the rail`,
						m.openedMessages && `${m.openedMessages} msgs opened`,
						`${m.messagesShown} msgs listed`
					]
						.filter(Boolean)
						.join(', '),
				'open → first channel ms': m.openMs.toFixed(0),
				'→ all spaces named ms': m.spacesMs?.toFixed(0) ?? '',
				'JS heap MB': m.jsHeapMb,
				'wasm MB': m.wasmMb,
				'heap + wasm MB': (m.jsHeapMb + m.wasmMb).toFixed(1),
				'renderer RSS MB': m.rendererRssMb,
				target: name === 'charter' ? 'opens, ≤ 5,000 ms, ≤ 1,024 MB' : ''
			});
			const ratio = (a: number, b: number) => (a / b).toFixed(2);
			table(
				`Browser: a profile of ${spaces} spaces × ${channels} channels × ${messages} messages in IndexedDB opens and shows its first channel (Chromium, production build)`,
				[
					row('charter', r.charter),
					row('plain automerge-repo', r.plain),
					row('plain, space 0 + first channel only', r.plainFirst),
					{
						client: 'ratio charter/plain',
						'IndexedDB records': '',
						shown: '',
						'open → first channel ms': ratio(r.charter.openMs, r.plain.openMs),
						'→ all spaces named ms': '',
						'JS heap MB': ratio(r.charter.jsHeapMb, r.plain.jsHeapMb),
						'wasm MB': ratio(r.charter.wasmMb, r.plain.wasmMb),
						'heap + wasm MB': ratio(
							r.charter.jsHeapMb + r.charter.wasmMb,
							r.plain.jsHeapMb + r.plain.wasmMb
						),
						'renderer RSS MB': ratio(r.charter.rendererRssMb, r.plain.rendererRssMb),
						target: ''
					}
				]
			);
		}
		if (only !== 'open') {
			const params = {
				small: flag('small', BROWSER_PARAMS.send.small),
				large: flag('large', BROWSER_PARAMS.send.large),
				sends: flag('sends', BROWSER_PARAMS.send.sends)
			};
			const rows: Row[] = (await browserSend(params)).map((r) => ({
				'messages in channel': r.size,
				'sender p50 ms': r.senderP50.toFixed(1),
				'sender p99 ms': r.senderP99.toFixed(1),
				'other tab p50 ms': r.otherP50.toFixed(1),
				'other tab p99 ms': r.otherP99.toFixed(1),
				target: ''
			}));
			const [a, b] = [rows[0]!, rows[1]!];
			const growth = (k: string) => (Number(b[k]) / Number(a[k])).toFixed(2);
			rows.push({
				'messages in channel': `ratio ${params.large}/${params.small}`,
				'sender p50 ms': growth('sender p50 ms'),
				'sender p99 ms': growth('sender p99 ms'),
				'other tab p50 ms': growth('other tab p50 ms'),
				'other tab p99 ms': growth('other tab p99 ms'),
				target: 'p50 ≤ 1.5×'
			});
			table(
				`Browser: send → rendered on the sender's tab and on a second tab (the same user's other device) through the sync server, ${params.sends} sends each`,
				rows
			);
		}
	},
	async search() {
		const params = {
			channels: flag('channels', SEARCH_PARAMS.channels),
			messages: flag('messages', SEARCH_PARAMS.messages),
			queries: flag('queries', SEARCH_PARAMS.queries),
			updates: flag('updates', SEARCH_PARAMS.updates)
		};
		const r = await searchBench(params);
		const ratio = (a: number, b: number) => (a / b).toFixed(2);
		table(
			`Search: ${r.messages} messages in ${params.channels} channels of one space (written in ${r.writeS.toFixed(0)} s), ` +
				`${params.queries} queries (${r.meanResults.toFixed(1)} results each on average), ${params.updates} new messages (${r.updates} index updates) ` +
				'(plain: MiniSearch alone over the same texts, words only)',
			[
				{
					side: 'charter (client/search.ts)',
					'build ms': r.buildMs.toFixed(0),
					'query p50 ms': r.p50.toFixed(2),
					'query p99 ms': r.p99.toFixed(2),
					'new message mean / max ms': `${r.updateMeanMs.toFixed(2)} / ${r.updateMaxMs.toFixed(2)}`
				},
				{
					side: 'plain MiniSearch',
					'build ms': r.plainBuildMs.toFixed(0),
					'query p50 ms': r.plainP50.toFixed(2),
					'query p99 ms': r.plainP99.toFixed(2),
					'new message mean / max ms': ''
				},
				{
					side: 'ratio charter/plain',
					'build ms': ratio(r.buildMs, r.plainBuildMs),
					'query p50 ms': ratio(r.p50, r.plainP50),
					'query p99 ms': ratio(r.p99, r.plainP99),
					'new message mean / max ms': ''
				}
			]
		);
	},
	async authority() {
		const rows: Row[] = [];
		const charterColumns = [
			'charter µs/change',
			'seal check',
			'envelope apply',
			'replica (entry check, decrypt, rules, apply)'
		];
		const floorColumns = [
			'floor µs/change',
			'floor: envelope apply',
			'floor: verify',
			'floor: decrypt',
			'floor: plaintext apply (plain automerge)',
			'least floor (plaintext to the backend only)'
		];
		const row = (label: string | number, r: ValidationCost) =>
			({
				'channel messages': label,
				'charter µs/change': r.charterUs.toFixed(0),
				'seal check': r.sealUs.toFixed(0),
				'envelope apply': r.envelopeUs.toFixed(0),
				'replica (entry check, decrypt, rules, apply)': r.replicaUs.toFixed(0),
				'floor µs/change': r.floor.totalUs.toFixed(0),
				'floor: envelope apply': r.floor.envelopeUs.toFixed(0),
				'floor: verify': r.floor.verifyUs.toFixed(0),
				'floor: decrypt': r.floor.decryptUs.toFixed(0),
				'floor: plaintext apply (plain automerge)': r.floor.applyUs.toFixed(0),
				'least floor (plaintext to the backend only)': r.floor.leastUs.toFixed(0),
				'ratio charter/floor': (r.charterUs / r.floor.totalUs).toFixed(2),
				target: '≤ 300 µs, growth ≤ 1.1×'
			}) satisfies Row;
		for (const size of AUTHORITY_PARAMS.sizes)
			rows.push(row(size, await validationCostApart(size)));
		const growth = (column: string) =>
			(Number(rows[1]![column]) / Number(rows[0]![column])).toFixed(2);
		rows.push({
			'channel messages': 'growth 10k/1k',
			...Object.fromEntries([...charterColumns, ...floorColumns].map((c) => [c, growth(c)])),
			'ratio charter/floor': '',
			target: ''
		});
		// the same at the larger size once a moderator compacted the channel: late messages go to an
		// envelope of a few fragments, not one of 10,000 changes
		const largest = AUTHORITY_PARAMS.sizes.at(-1)!;
		rows.push(
			row(`${largest}, compacted`, await validationCostApart(largest, { compacted: true }))
		);
		table(
			'Validation cost per incoming message, as a reader meets it (seal check + envelope apply + entry check, decryption, rules and plaintext apply), beside its floor: the same message read with Automerge and the crypto libraries alone — envelope change applied, signature verified, entry decrypted, plaintext change applied (no Charter code)',
			rows
		);
		const rotation = await rotationCost();
		table('Key rotation after a ban', [
			{
				members: rotation.members,
				lockboxes: rotation.lockboxes,
				ms: rotation.ms.toFixed(0),
				target: '< 1000 ms'
			}
		]);
	}
};

const wanted = process.argv
	.slice(2)
	.filter(
		(a, i, all) => !a.startsWith('-') && (!all[i - 1]?.startsWith('--') || all[i - 1] === '--quick')
	);
for (const name of wanted.length ? wanted : Object.keys(scenarios)) {
	const scenario = scenarios[name];
	if (!scenario) {
		console.error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}`);
		process.exit(2);
	}
	await scenario();
}
process.exit(0);
