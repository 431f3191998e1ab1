/**
 * Memory of one client holding S spaces × C channels × M messages, against plain automerge-repo
 * holding the same documents and changes (S small "space" documents + S×C channel documents of M
 * changes each, one change per message).
 *
 * Both data sets are written once into `.charter-data/bench/memory-S-C-M/` (Charter's by one client
 * with no network: one `send` per message, so the first run takes a while) and reused. Each side is
 * then measured in a fresh `node --expose-gc` process: open the store, wait until every message is
 * readable (Charter: `channel.messages`, i.e. verified, decrypted and authorised; plain: the
 * document's messages map), collect garbage, read RSS and heap. A process that only loaded the
 * modules is the baseline.
 *
 *   npm run bench -- memory [--quick]
 *   node --expose-gc --import tsx bench/memory.ts measure <charter|plain|baseline> <dir>   (one side)
 */
import * as A from '@automerge/automerge';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Repo, type AutomergeUrl } from '@automerge/automerge-repo';
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs';
import { Charter } from '../src/lib/index.js';
import { jsonFromFreshProcess } from './fresh-process.js';

export const MEMORY_PARAMS = {
	full: { spaces: 10, channels: 10, messages: 1000 },
	quick: { spaces: 2, channels: 3, messages: 100 }
};

export type Shape = (typeof MEMORY_PARAMS)['full'];
type Kind = 'charter' | 'plain' | 'baseline';

const root = resolve(import.meta.dirname, '..');

export interface MemoryReading {
	rssMb: number;
	heapUsedMb: number;
	externalMb: number;
	arrayBuffersMb: number;
	openMs: number;
	messages: number;
}

type PlainChannel = {
	messages: Record<string, { author: string; text: A.ImmutableString; at: number }>;
};

/** The cached data sets, written on first use (also read by bench/browser.ts). */
export async function dataSets(shape: Shape, log: (line: string) => void) {
	const dir = join(
		root,
		'.charter-data/bench',
		`memory-v2-${shape.spaces}-${shape.channels}-${shape.messages}` // v2: envelope format (protocol §4)
	);
	const charterDir = join(dir, 'charter');
	const plainDir = join(dir, 'plain');
	if (!existsSync(join(charterDir, 'done'))) {
		await rm(charterDir, { recursive: true, force: true });
		await mkdir(charterDir, { recursive: true });
		const total = shape.spaces * shape.channels * shape.messages;
		log(`writing the Charter data set once (${total} messages, one send each) into ${charterDir}`);
		const t0 = performance.now();
		const client = await Charter.open({ dataDir: join(charterDir, 'client') });
		await client.createIdentity();
		for (let s = 0; s < shape.spaces; s++) {
			const space = await client.createSpace({ name: `space ${s}` });
			const channels = [space.channels[0]!];
			for (let c = 1; c < shape.channels; c++)
				channels.push(await space.createChannel({ name: `channel-${c}` }));
			for (const channel of channels)
				for (let m = 0; m < shape.messages; m++)
					await channel.send(`message ${m} in ${channel.name}, space ${s}`);
			log(
				`  space ${s + 1}/${shape.spaces} after ${((performance.now() - t0) / 1000).toFixed(0)} s`
			);
		}
		await client.close();
		await writeFile(join(charterDir, 'done'), String(total));
	}
	if (!existsSync(join(plainDir, 'done'))) {
		await rm(plainDir, { recursive: true, force: true });
		await mkdir(plainDir, { recursive: true });
		const repo = new Repo({ storage: new NodeFSStorageAdapter(join(plainDir, 'repo')) });
		const urls: AutomergeUrl[] = [];
		for (let s = 0; s < shape.spaces; s++) {
			const space = repo.create<{ name: string; channels: Record<string, string> }>({
				name: `space ${s}`,
				channels: {}
			});
			urls.push(space.url);
			for (let c = 0; c < shape.channels; c++) {
				// one Automerge change per message, built outside the repo (a repo handle saves and
				// emits per change) and then handed to the repo whole
				let doc = A.from<PlainChannel>({ messages: {} });
				for (let m = 0; m < shape.messages; m++)
					doc = A.change(doc, (d) => {
						d.messages[`m${m}`] = {
							author: 'user',
							text: new A.ImmutableString(`message ${m} in channel-${c}, space ${s}`),
							at: Date.now()
						};
					});
				const channel = repo.import<PlainChannel>(A.save(doc));
				space.change((d) => {
					d.channels[channel.url] = `channel-${c}`;
				});
				urls.push(channel.url);
			}
			await repo.flush();
		}
		await repo.flush();
		await repo.shutdown();
		await writeFile(join(plainDir, 'urls.json'), JSON.stringify(urls));
		await writeFile(join(plainDir, 'done'), '1');
	}
	return { charterDir, plainDir };
}

/** Runs one side in a fresh process with --expose-gc and returns its reading. */
async function measureIn(kind: Kind, dir: string): Promise<MemoryReading> {
	return jsonFromFreshProcess<MemoryReading>(
		fileURLToPath(import.meta.url),
		['measure', kind, dir],
		{ nodeArgs: ['--expose-gc'], what: `memory measurement (${kind})` }
	);
}

export async function memory(shape: Shape = MEMORY_PARAMS.full, log = console.log) {
	const { charterDir, plainDir } = await dataSets(shape, log);
	const baseline = await measureIn('baseline', plainDir);
	const charter = await measureIn('charter', charterDir);
	const plain = await measureIn('plain', plainDir);
	return { shape, baseline, charter, plain };
}

async function settle() {
	for (let i = 0; i < 4; i++) {
		globalThis.gc?.();
		await new Promise((r) => setTimeout(r, 100));
	}
}

function reading(openMs: number, messages: number): MemoryReading {
	const m = process.memoryUsage();
	const mb = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;
	return {
		rssMb: mb(m.rss),
		heapUsedMb: mb(m.heapUsed),
		externalMb: mb(m.external),
		arrayBuffersMb: mb(m.arrayBuffers),
		openMs: Math.round(openMs),
		messages
	};
}

async function measure(kind: Kind, dir: string): Promise<MemoryReading> {
	if (!globalThis.gc) throw new Error('run with node --expose-gc');
	const t0 = performance.now();
	if (kind === 'baseline') {
		// the same modules loaded, a repo and a client opened on nothing
		const repo = new Repo({});
		const client = await Charter.open({ inMemory: true });
		await settle();
		const r = reading(0, 0);
		await client.close();
		await repo.shutdown();
		return r;
	}
	if (kind === 'charter') {
		const expected = Number(await readFile(join(dir, 'done'), 'utf8'));
		const client = await Charter.open({ dataDir: join(dir, 'client') });
		const count = () =>
			client.spaces.reduce((n, s) => n + s.channels.reduce((k, c) => k + c.messages.length, 0), 0);
		const deadline = Date.now() + 1_800_000;
		while (count() < expected) {
			if (Date.now() > deadline) throw new Error(`only ${count()} of ${expected} messages`);
			await new Promise((r) => setTimeout(r, 50));
		}
		for (const space of client.spaces) await space.settled();
		const openMs = performance.now() - t0;
		await settle();
		const r = reading(openMs, count());
		await client.close();
		return r;
	}
	const urls = JSON.parse(await readFile(join(dir, 'urls.json'), 'utf8')) as AutomergeUrl[];
	const repo = new Repo({ storage: new NodeFSStorageAdapter(join(dir, 'repo')) });
	const handles = await Promise.all(urls.map((url) => repo.find<Partial<PlainChannel>>(url)));
	const messages = handles.reduce((n, h) => n + Object.keys(h.doc().messages ?? {}).length, 0);
	const openMs = performance.now() - t0;
	await settle();
	const r = reading(openMs, messages);
	await repo.shutdown();
	return r;
}

if (process.argv[2] === 'measure' && import.meta.url === `file://${process.argv[1]}`) {
	const r = await measure(process.argv[3] as Kind, process.argv[4]!);
	process.stdout.write(`${JSON.stringify(r)}\n`);
	process.exit(0);
}
