/**
 * The web client in a real browser: Debian's Chromium driven by playwright-core (never a downloaded
 * browser), on the production build (`vite build`, as `npm start` serves it) served by the real
 * sync server CLI on a loopback port.
 *
 *  (a) Open: a profile holding S spaces × C channels × M messages in IndexedDB opens and shows its
 *      first channel. The profile is the `memory` scenario's Node data set (bench/memory.ts, written
 *      once and reused), copied record by record into the page's IndexedDB before the app loads: the
 *      NodeFS files of `wire/` and `local/` into `charter-wire` / `charter-local` with the keys
 *      automerge-repo's IndexedDBStorageAdapter uses, `secrets.json` into `charter-secrets`. Then a
 *      fresh tab navigates to the app; measured: navigation → the first channel's newest message in
 *      the DOM, then (after a forced GC) the tab's JS heap and its wasm memory. Plain automerge-repo
 *      does the same on the `memory` scenario's plain data set: a page that opens every document with
 *      Repo + IndexedDBStorageAdapter and renders the first channel's messages as a list.
 *  (b) Send → rendered: two tabs (two browser contexts, one user's two devices, both restored from the
 *      phrase) in a space seeded from Node through the same sync server; a message sent from tab 1
 *      until it is in the DOM (at the next animation frame) on tab 1 and on tab 2, in a channel of
 *      100 and of 10,000 messages.
 *
 *   npm run bench -- browser [--spaces n --channels n --messages n] [--small n --large n --sends n]
 *   npm run bench -- browser --only open|send
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { Charter } from '../src/lib/index.js';
import { base64url } from '../src/lib/util/bytes.js';
import { buildClient, buildDir } from '../scripts/client-build.mjs';
import { startSyncServerProcess } from '../test/support/sync-server-process.js';
import { launch } from '../test/support/chromium.js';
import { dataSets, MEMORY_PARAMS, type Shape } from './memory.js';

export const BROWSER_PARAMS = {
	/** The open measurement: the `memory` scenario's shape. */
	open: MEMORY_PARAMS,
	/** Messages already in the channel when the sends start, and how many sends at each size. */
	send: { small: 100, large: 10_000, sends: 30 },
	/**
	 * Pause after each send has arrived on the other tab, before the next: longer than automerge-repo's
	 * 100 ms sync throttle, as in a conversation (the `sync` scenario's spaced sends).
	 */
	gapMs: 200,
	/** How long a tab may take to open the profile or to sync the seeded channel before we give up. */
	timeoutMs: 900_000
};

const root = resolve(import.meta.dirname, '..');
const MB = 1024 * 1024;
const round1 = (n: number) => Math.round(n * 10) / 10;

/** The same Chromium flags as the browser tests (test/e2e/browser.ts). */

/**
 * Service workers blocked: the app's offline shell would otherwise install and precache every asset
 * in the background of the very open we time (a returning user has it installed already), and
 * Playwright's routes below do not see requests a service worker answers.
 */
async function newContext(browser: Browser) {
	const context = await browser.newContext({
		viewport: { width: 1280, height: 800 },
		serviceWorkers: 'block'
	});
	// tsx compiles this file with esbuild's keepNames, which wraps named functions in a `__name`
	// helper: the functions handed to page.evaluate need it in the page too
	await context.addInitScript('globalThis.__name = (f) => f;');
	return context;
}

// ---------------------------------------------------------------------------------------------
// Memory of a tab

/**
 * Wasm memory: a page cannot list the wasm memories of its modules, and neither CDP's
 * `Performance.getMetrics` nor `Runtime.getHeapUsage` counts them (a wasm memory is an ArrayBuffer
 * backing store outside the V8 heap). So this script, installed before any page script runs, keeps a
 * reference to every `WebAssembly.Memory` the page creates or instantiates — Automerge's one
 * instance, shared by automerge-repo, exports its memory — and the reading is the sum of their
 * `buffer.byteLength` (wasm memory only grows, so this is also the tab's peak). Memories created in
 * workers are not seen (neither client uses one today).
 */
function trackWasmMemories() {
	const memories: WebAssembly.Memory[] = [];
	(globalThis as unknown as { __benchWasm: WebAssembly.Memory[] }).__benchWasm = memories;
	const keep = (instance: WebAssembly.Instance | undefined) => {
		for (const value of Object.values(instance?.exports ?? {}))
			if (value instanceof WebAssembly.Memory && !memories.includes(value)) memories.push(value);
	};
	const W = WebAssembly as unknown as Record<string, unknown>;
	const instantiate = WebAssembly.instantiate.bind(WebAssembly) as (
		...a: unknown[]
	) => Promise<WebAssembly.Instance | WebAssembly.WebAssemblyInstantiatedSource>;
	const streaming = WebAssembly.instantiateStreaming.bind(WebAssembly);
	const seen = (r: WebAssembly.Instance | WebAssembly.WebAssemblyInstantiatedSource) => {
		keep(r instanceof WebAssembly.Instance ? r : r.instance);
		return r;
	};
	W.instantiate = (...a: unknown[]) => instantiate(...a).then(seen);
	W.instantiateStreaming = (...a: Parameters<typeof streaming>) => streaming(...a).then(seen);
	W.Instance = new Proxy(WebAssembly.Instance, {
		construct(target, args) {
			const instance = new target(...(args as [WebAssembly.Module]));
			keep(instance);
			return instance;
		}
	});
	W.Memory = new Proxy(WebAssembly.Memory, {
		construct(target, args) {
			const memory = new target(...(args as [WebAssembly.MemoryDescriptor]));
			memories.push(memory);
			return memory;
		}
	});
}

export interface TabMemory {
	/** V8 heap in use after a forced GC (CDP `Runtime.getHeapUsage` usedSize). */
	jsHeapMb: number;
	/** Sum of the page's wasm memories (see trackWasmMemories). */
	wasmMb: number;
	/**
	 * Resident memory (/proc VmRSS) of the largest renderer process, which is the measured tab's: only
	 * that tab is open, beside at most Chromium's small spare renderer. It counts the shared pages of
	 * the Chromium binary too, so it is an upper figure.
	 */
	rendererRssMb: number;
}

async function rendererRssMb(browser: Browser): Promise<number> {
	const cdp = await browser.newBrowserCDPSession();
	try {
		const { processInfo } = (await cdp.send('SystemInfo.getProcessInfo')) as {
			processInfo: { type: string; id: number }[];
		};
		let kb = 0;
		for (const p of processInfo.filter((p) => p.type === 'renderer')) {
			const status = await readFile(`/proc/${p.id}/status`, 'utf8').catch(() => '');
			kb = Math.max(kb, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0));
		}
		return kb / 1024;
	} finally {
		await cdp.detach();
	}
}

async function tabMemory(browser: Browser, page: Page): Promise<TabMemory> {
	const cdp = await page.context().newCDPSession(page);
	try {
		await cdp.send('HeapProfiler.collectGarbage');
		await cdp.send('HeapProfiler.collectGarbage');
		const heap = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number };
		const wasm = await page.evaluate(() =>
			(globalThis as unknown as { __benchWasm: WebAssembly.Memory[] }).__benchWasm.reduce(
				(n, m) => n + m.buffer.byteLength,
				0
			)
		);
		return {
			jsHeapMb: round1(heap.usedSize / MB),
			wasmMb: round1(wasm / MB),
			rendererRssMb: round1(await rendererRssMb(browser))
		};
	} finally {
		await cdp.detach();
	}
}

// ---------------------------------------------------------------------------------------------
// Putting a Node data set into a page's IndexedDB

/** One IndexedDB record to write: database, object store, key, value (bytes served by the route). */
interface Seed {
	db: string;
	store: string;
	key: string | string[];
	/** automerge-repo's IndexedDBStorageAdapter stores `{ key, binary }`; the secret store bare bytes. */
	wrap: boolean;
	blob: number;
}

async function files(dir: string): Promise<string[]> {
	if (!existsSync(dir)) return [];
	const entries = await readdir(dir, { withFileTypes: true, recursive: true });
	return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/**
 * NodeFSStorageAdapter stores key `[first, ...rest]` at `first[0..2]/first[2..]/...rest` (its
 * `getFilePath`); the IndexedDB adapter stores the key array itself in object store `documents`.
 */
async function storageSeeds(dir: string, db: string, blobs: Uint8Array[]): Promise<Seed[]> {
	const seeds: Seed[] = [];
	for (const file of await files(dir)) {
		const [head, tail, ...rest] = relative(dir, file).split(sep);
		seeds.push({
			db,
			store: 'documents',
			key: [`${head}${tail ?? ''}`, ...rest],
			wrap: true,
			blob: blobs.push(await readFile(file)) - 1
		});
	}
	return seeds;
}

/** FileSecretStore's `secrets.json` (name → base64url) as IndexedDBSecretStore's records. */
async function secretSeeds(dir: string, db: string, blobs: Uint8Array[]): Promise<Seed[]> {
	const path = join(dir, 'secrets.json');
	if (!existsSync(path)) return [];
	const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
	return Object.entries(json).map(([name, value]) => ({
		db,
		store: 'secrets',
		key: name,
		wrap: false,
		blob: blobs.push(base64url.decode(value)) - 1
	}));
}

const BENCH_PATH = '/__bench/';

/**
 * Serves `/__bench/seed` (an empty page on the app's origin) and `/__bench/blob/<i>` (the bytes of
 * record i) to the context, then writes every record into IndexedDB from that page, one transaction
 * per database, and sets the app's local settings. The tab is closed afterwards.
 */
async function seedIndexedDB(
	context: BrowserContext,
	baseUrl: string,
	seeds: Seed[],
	blobs: Uint8Array[],
	localStorageItems: Record<string, string>
) {
	await context.route(`${baseUrl}${BENCH_PATH}**`, (route) => {
		const path = new URL(route.request().url()).pathname.slice(BENCH_PATH.length);
		if (path === 'seed')
			return route.fulfill({
				contentType: 'text/html',
				body: '<!doctype html><title>seed</title>'
			});
		const blob = /^blob\/(\d+)$/.exec(path);
		if (blob && blobs[Number(blob[1])])
			return route.fulfill({
				contentType: 'application/octet-stream',
				body: Buffer.from(blobs[Number(blob[1])]!)
			});
		return route.fulfill({ status: 404, body: '' });
	});
	const page = await context.newPage();
	await page.goto(`${baseUrl}${BENCH_PATH}seed`);
	await page.evaluate(
		async ({ seeds, items, prefix }) => {
			const open = (name: string, store: string) =>
				new Promise<IDBDatabase>((resolve, reject) => {
					const request = indexedDB.open(name, 1);
					request.onupgradeneeded = () => request.result.createObjectStore(store);
					request.onsuccess = () => resolve(request.result);
					request.onerror = () => reject(request.error);
				});
			const groups = new Map<string, typeof seeds>();
			for (const s of seeds) groups.set(s.db, [...(groups.get(s.db) ?? []), s]);
			for (const [name, group] of groups) {
				const values: Uint8Array[] = [];
				for (let i = 0; i < group.length; i += 16)
					values.push(
						...(await Promise.all(
							group.slice(i, i + 16).map((s) =>
								fetch(`${prefix}blob/${s.blob}`)
									.then((r) => r.arrayBuffer())
									.then((b) => new Uint8Array(b))
							)
						))
					);
				const db = await open(name, group[0]!.store);
				await new Promise<void>((resolve, reject) => {
					const tx = db.transaction(group[0]!.store, 'readwrite');
					const store = tx.objectStore(group[0]!.store);
					group.forEach((s, i) =>
						store.put(s.wrap ? { key: s.key, binary: values[i] } : values[i], s.key)
					);
					tx.oncomplete = () => resolve();
					tx.onerror = () => reject(tx.error);
					tx.onabort = () => reject(tx.error);
				});
				db.close();
			}
			for (const [k, v] of Object.entries(items)) localStorage.setItem(k, v);
		},
		{ seeds, items: localStorageItems, prefix: BENCH_PATH }
	);
	await page.close();
}

// ---------------------------------------------------------------------------------------------
// (a) open

export interface OpenReading extends TabMemory {
	/** Navigation → the first channel's newest message in the DOM (plain: after opening everything). */
	openMs: number;
	/** Charter: navigation → every space named in the rail (at or after openMs). */
	spacesMs?: number;
	/** What the tab shows once open: the spaces in the rail and the messages in the channel's list. */
	spacesShown: number;
	messagesShown: number;
	/** Plain only: the messages of every document it opened (all, or space 0 + its first channel). */
	openedMessages?: number;
	records: number;
	crashed?: string;
}

/** The plain page: every document opened with Repo + IndexedDBStorageAdapter, channel 1 listed. */
const PLAIN_MAIN = `
import { Repo, initializeWasm } from '@automerge/automerge-repo/slim';
import { IndexedDBStorageAdapter } from '@automerge/automerge-repo-storage-indexeddb';
import wasmUrl from '@automerge/automerge/automerge.wasm?url';

await initializeWasm(fetch(wasmUrl));
const all = await (await fetch('urls.json')).json();
// ?first: only space 0 and its first channel — what a client that opens lazily must at least read
const urls = new URLSearchParams(location.search).has('first') ? all.slice(0, 2) : all;
const repo = new Repo({ storage: new IndexedDBStorageAdapter('plain-repo') });
const handles = await Promise.all(urls.map((url) => repo.find(url)));
let messages = 0;
for (const h of handles) messages += Object.keys(h.doc().messages ?? {}).length;
// the first channel (urls[1], space 0's first), newest last, as the app lists it
const first = handles[1].doc().messages;
const list = document.createElement('ol');
for (const key of Object.keys(first).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))) {
	const li = document.createElement('li');
	li.textContent = String(first[key].text);
	list.append(li);
}
document.body.append(list);
list.lastElementChild?.scrollIntoView();
requestAnimationFrame(() => {
	window.__benchDone = { ms: performance.now(), messages, shown: list.children.length };
});
`;

/**
 * Builds the plain page with Vite (a production build, a second or two): Automerge's wasm as a
 * separate asset compiled while it streams, as in the app's build (vite.config.ts).
 */
async function plainPage(): Promise<string> {
	const dir = join(root, '.charter-data/bench/browser-plain-page');
	const out = join(dir, 'dist');
	await mkdir(dir, { recursive: true });
	await writeFile(
		join(dir, 'index.html'),
		'<!doctype html><meta charset="utf-8"><title>plain</title><script type="module" src="./main.js"></script>'
	);
	await writeFile(join(dir, 'main.js'), PLAIN_MAIN);
	await build({
		configFile: false,
		root: dir,
		base: './',
		logLevel: 'error',
		build: { outDir: out, target: 'es2022', emptyOutDir: true }
	});
	return out;
}

async function openCharter(
	browser: Browser,
	baseUrl: string,
	clientDir: string,
	expected: { spaces: number; messages: number }
): Promise<OpenReading> {
	const blobs: Uint8Array[] = [];
	const seeds = [
		...(await storageSeeds(join(clientDir, 'wire'), 'charter-wire', blobs)),
		...(await storageSeeds(join(clientDir, 'local'), 'charter-local', blobs)),
		...(await secretSeeds(clientDir, 'charter-secrets', blobs))
	];
	const context = await newContext(browser);
	try {
		// no sync server: the open alone, as the `memory` scenario measures it (with one, the client
		// would also upload the whole profile to the empty benchmark server)
		await seedIndexedDB(context, baseUrl, seeds, blobs, { 'charter.syncServers': '[]' });
		await context.addInitScript(trackWasmMemories);
		const page = await context.newPage();
		let crashed: string | undefined;
		page.on('crash', () => (crashed = 'the tab crashed'));
		await page.goto(baseUrl, { waitUntil: 'commit' });
		// the first channel's newest message, whatever its channel's name: `message M-1 in …`
		const needle = `message ${expected.messages - 1} in `;
		const openMs = await page
			.waitForFunction(
				(needle) => {
					const last = document.querySelector('[role=log] li:last-of-type .message .text');
					return last?.textContent?.startsWith(needle) ? performance.now() : 0;
				},
				needle,
				{ polling: 'raf', timeout: BROWSER_PARAMS.timeoutMs }
			)
			.then((h) => h.jsonValue())
			.catch((e: unknown) => {
				crashed ??= `not shown within ${BROWSER_PARAMS.timeoutMs / 1000} s (${String(e).split('\n')[0]})`;
				return NaN;
			});
		if (crashed)
			return {
				openMs,
				spacesShown: 0,
				messagesShown: 0,
				records: seeds.length,
				crashed,
				jsHeapMb: NaN,
				wasmMb: NaN,
				rendererRssMb: NaN
			};
		// every space listed in the rail (named, not "arriving"), the whole channel in the list
		const spacesMs = await page
			.waitForFunction(
				(n) =>
					Array.from(document.querySelectorAll('nav[aria-label=Spaces] li')).filter(
						(li) => !li.textContent?.includes('Space arriving')
					).length >= n
						? performance.now()
						: 0,
				expected.spaces,
				{ polling: 'raf', timeout: BROWSER_PARAMS.timeoutMs }
			)
			.then((h) => h.jsonValue());
		const shown = await page.evaluate(() => ({
			spaces: document.querySelectorAll('nav[aria-label=Spaces] li').length,
			// the list is virtualised: rows say the list's size (aria-setsize, the welcome row included)
			messages: Math.max(
				Number(
					document.querySelector('[role=log] li[aria-setsize]')?.getAttribute('aria-setsize') ?? 0
				) - 1,
				document.querySelectorAll('[role=log] .text').length
			)
		}));
		await mkdir(join(root, 'test-results'), { recursive: true });
		await page.screenshot({ path: join(root, 'test-results/bench-browser-open.png') });
		const memory = await tabMemory(browser, page);
		return {
			openMs,
			spacesMs,
			spacesShown: shown.spaces,
			messagesShown: shown.messages,
			records: seeds.length,
			...memory
		};
	} finally {
		await context.close();
	}
}

async function openPlain(
	browser: Browser,
	baseUrl: string,
	plainDir: string,
	page: string,
	firstOnly = false
): Promise<OpenReading> {
	const blobs: Uint8Array[] = [];
	const seeds = await storageSeeds(join(plainDir, 'repo'), 'plain-repo', blobs);
	const urls = await readFile(join(plainDir, 'urls.json'));
	const context = await newContext(browser);
	try {
		await seedIndexedDB(context, baseUrl, seeds, blobs, {});
		// the plain page's files, on the same origin under /__plain/
		await context.route(`${baseUrl}/__plain/**`, async (route) => {
			const path =
				new URL(route.request().url()).pathname.slice('/__plain/'.length) || 'index.html';
			if (path === 'urls.json')
				return route.fulfill({ contentType: 'application/json', body: urls });
			const file = join(page, path);
			if (!file.startsWith(page) || !existsSync(file)) return route.fulfill({ status: 404 });
			const type = file.endsWith('.html')
				? 'text/html'
				: file.endsWith('.js')
					? 'text/javascript'
					: file.endsWith('.wasm')
						? 'application/wasm'
						: 'application/octet-stream';
			return route.fulfill({ contentType: type, body: await readFile(file) });
		});
		await context.addInitScript(trackWasmMemories);
		const tab = await context.newPage();
		await tab.goto(`${baseUrl}/__plain/index.html${firstOnly ? '?first' : ''}`, {
			waitUntil: 'commit'
		});
		const done = (await tab
			.waitForFunction(() => (window as unknown as { __benchDone?: unknown }).__benchDone, null, {
				timeout: BROWSER_PARAMS.timeoutMs
			})
			.then((h) => h.jsonValue())) as { ms: number; messages: number; shown: number };
		const memory = await tabMemory(browser, tab);
		return {
			openMs: done.ms,
			spacesShown: 0,
			messagesShown: done.shown,
			openedMessages: done.messages,
			records: seeds.length,
			...memory
		};
	} finally {
		await context.close();
	}
}

export async function browserOpen(shape: Shape, log = console.log) {
	const { charterDir, plainDir } = await dataSets(shape, log);
	buildClient({ quiet: true });
	const server = await startSyncServerProcess({ args: ['--static', buildDir] });
	const browser = await launch();
	try {
		const expected = { spaces: shape.spaces, messages: shape.messages };
		const charter = await openCharter(browser, server.url, join(charterDir, 'client'), expected);
		const page = await plainPage();
		const plain = await openPlain(browser, server.url, plainDir, page);
		const plainFirst = await openPlain(browser, server.url, plainDir, page, true);
		return { shape, charter, plain, plainFirst };
	} finally {
		await browser.close();
		await server.stop();
	}
}

// ---------------------------------------------------------------------------------------------
// (b) send → rendered

const percentile = (values: number[], p: number) => {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

/**
 * The seeded sync server, written once into `.charter-data/bench/browser-send-v3-<small>-<large>/`
 * (v3: the envelope format it was written in, protocol §4 — an envelope upgraded from v2 keeps its
 * v2 entries beside the buckets, and every incoming change copies that map)
 * and copied for each run (the sends add to it): one user (a Node client with no storage of its own)
 * created space "bench" with #general holding `small` messages and #long holding `large`, one entry
 * per message (what a chat produces), and waited until the server held everything.
 */
async function seededServer(small: number, large: number, log: (line: string) => void) {
	const dir = join(root, '.charter-data/bench', `browser-send-v3-${small}-${large}`);
	if (!existsSync(join(dir, 'done'))) {
		await rm(dir, { recursive: true, force: true });
		await mkdir(dir, { recursive: true });
		log(`seeding the sync server once (${small} + ${large} messages) into ${dir}`);
		const t0 = performance.now();
		const server = await startSyncServerProcess({ dataDir: join(dir, 'server') });
		try {
			const writer = await Charter.open({ inMemory: true, syncServers: [server.wsUrl] });
			const { phrase } = await writer.createIdentity();
			const space = await writer.createSpace({ name: 'bench' });
			const general = space.channels[0]!;
			const long = await space.createChannel({ name: 'long' });
			for (let i = 0; i < small; i++) await general.send(`message ${i} in #general`);
			for (let i = 0; i < large; i++) {
				await long.send(`message ${i} in #long`);
				if ((i + 1) % 2000 === 0)
					log(`  ${i + 1}/${large} after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
			}
			const deadline = Date.now() + 600_000;
			while (
				!writer.syncStatus().some((p) => p.storageId && p.lagging.length === 0 && p.inSync > 0)
			) {
				if (Date.now() > deadline) throw new Error('the sync server never caught up');
				await new Promise((r) => setTimeout(r, 100));
			}
			await writer.close();
			await writeFile(join(dir, 'phrase.txt'), phrase);
		} finally {
			await server.stop();
		}
		await writeFile(join(dir, 'done'), '1');
		log(`  seeded in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
	}
	return {
		serverDir: join(dir, 'server'),
		phrase: await readFile(join(dir, 'phrase.txt'), 'utf8')
	};
}

interface Tab {
	context: BrowserContext;
	page: Page;
	problems: string[];
}

async function failed(tab: Tab, step: string, error: unknown): Promise<never> {
	const shown = await tab.page
		.locator('body')
		.innerText()
		.catch(() => '');
	throw new Error(
		`${step} failed (${String(error).split('\n')[0]}); the tab shows: ${shown.slice(0, 300)}; ${tab.problems.join('; ')}`
	);
}

/** A fresh tab on the app, at onboarding's "I have a recovery phrase" step. */
async function openTab(browser: Browser, baseUrl: string): Promise<Tab> {
	const context = await newContext(browser);
	const page = await context.newPage();
	const tab = { context, page, problems: [] as string[] };
	page.on('pageerror', (e) => tab.problems.push(e.message));
	page.on('crash', () => tab.problems.push('the tab crashed'));
	page.setDefaultTimeout(120_000);
	try {
		await page.goto(baseUrl);
		await page.getByRole('button', { name: 'I have a recovery phrase' }).click();
		await page.getByLabel('Recovery phrase').waitFor();
	} catch (error) {
		await failed(tab, 'opening the app', error);
	}
	return tab;
}

async function restore(tab: Tab, phrase: string) {
	try {
		await tab.page.getByLabel('Recovery phrase').fill(phrase);
		await tab.page.getByRole('button', { name: 'Restore identity' }).click();
		await tab.page.getByTestId('user-id').waitFor();
	} catch (error) {
		await failed(tab, 'restoring from the phrase', error);
	}
}

/** Opens #name on the tab and waits until its list holds `count` messages. */
async function showChannel(page: Page, name: string, count: number) {
	const nav = page.getByRole('navigation', { name: 'Channels' });
	await nav.getByText(name, { exact: true }).waitFor({ timeout: BROWSER_PARAMS.timeoutMs });
	await nav.getByText(name, { exact: true }).click();
	await page.waitForFunction(
		({ name, count }) =>
			document.querySelector('[data-testid=channel-name]')?.textContent === name &&
			// the list is virtualised: rows say the list's size (aria-setsize, the welcome row included)
			Number(
				document.querySelector('[role=log] li[aria-setsize]')?.getAttribute('aria-setsize') ?? 0
			) -
				1 >=
				count,
		{ name, count },
		{ polling: 500, timeout: BROWSER_PARAMS.timeoutMs }
	);
}

/**
 * Resolves with the wall-clock time (`timeOrigin + now`, comparable across tabs on one machine) of
 * the first animation frame after a message with this text is the last in the list.
 */
const renderedAt = (text: string) =>
	new Promise<number>((resolve) => {
		const shown = () =>
			document.querySelector('[role=log] li:last-of-type .message .text')?.textContent === text;
		const done = () =>
			requestAnimationFrame(() => resolve(performance.timeOrigin + performance.now()));
		if (shown()) return done();
		const observer = new MutationObserver(() => {
			if (!shown()) return;
			observer.disconnect();
			done();
		});
		observer.observe(document.body, { childList: true, subtree: true, characterData: true });
	});

/** Types `text` into tab 1's composer and sends it; resolves with the time of the send. */
const sendFrom = (text: string) => {
	const box = document.querySelector<HTMLTextAreaElement>('textarea[aria-label=Message]')!;
	box.value = text;
	box.dispatchEvent(new Event('input', { bubbles: true }));
	const t = performance.timeOrigin + performance.now();
	box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
	return t;
};

async function sends(one: Page, two: Page, label: string, n: number, log: (line: string) => void) {
	const sender: number[] = [];
	const other: number[] = [];
	for (let i = 0; i < n; i++) {
		if (i && i % 10 === 0) log(`  #${label}: ${i}/${n} sends`);
		const text = `ping ${i} at ${label}`;
		const onOne = one.evaluate(renderedAt, text);
		const onTwo = two.evaluate(renderedAt, text);
		// a page runs evaluations in order: once these return, both observers are in place
		await Promise.all([one.evaluate(() => 0), two.evaluate(() => 0)]);
		const t = await one.evaluate(sendFrom, text);
		const [a, b] = await Promise.all([onOne, onTwo]);
		sender.push(a - t);
		other.push(b - t);
		await new Promise((r) => setTimeout(r, BROWSER_PARAMS.gapMs));
	}
	return {
		senderP50: percentile(sender, 50),
		senderP99: percentile(sender, 99),
		otherP50: percentile(other, 50),
		otherP99: percentile(other, 99)
	};
}

export async function browserSend(
	params = BROWSER_PARAMS.send,
	log = console.log
): Promise<
	{ size: number; senderP50: number; senderP99: number; otherP50: number; otherP99: number }[]
> {
	const { serverDir, phrase } = await seededServer(params.small, params.large, log);
	buildClient({ quiet: true });
	const dataDir = await mkdtemp(join(tmpdir(), 'charter-bench-browser-'));
	await cp(serverDir, dataDir, { recursive: true });
	const server = await startSyncServerProcess({ dataDir, args: ['--static', buildDir] });
	const browser = await launch();
	try {
		// both tabs loaded before either restores: while one syncs the seeded space, the sync server is
		// busy serving it and the other tab's page would load slowly
		const [one, two] = [await openTab(browser, server.url), await openTab(browser, server.url)];
		await Promise.all([restore(one, phrase), restore(two, phrase)]);
		// the whole space synced on both tabs (#long last to arrive) before any send is timed
		const t0 = performance.now();
		for (const [name, size] of [
			['long', params.large],
			['general', params.small]
		] as const)
			await Promise.all([showChannel(one.page, name, size), showChannel(two.page, name, size)]);
		log(
			`  restored on both tabs, #long's ${params.large} and #general's ${params.small} messages shown after ${((performance.now() - t0) / 1000).toFixed(1)} s`
		);
		const rows = [];
		for (const [name, size] of [
			['general', params.small],
			['long', params.large]
		] as const) {
			await Promise.all([showChannel(one.page, name, size), showChannel(two.page, name, size)]);
			// CHARTER_BENCH_PROFILE=1: a CPU profile of the receiving tab during these sends
			const profiler = process.env.CHARTER_BENCH_PROFILE
				? await two.context.newCDPSession(two.page)
				: undefined;
			if (profiler) {
				await profiler.send('Profiler.enable');
				await profiler.send('Profiler.start');
			}
			rows.push({ size, ...(await sends(one.page, two.page, name, params.sends, log)) });
			if (profiler) {
				const { profile } = await profiler.send('Profiler.stop');
				const dir = resolve(import.meta.dirname, '../.charter-data/profiles');
				await mkdir(dir, { recursive: true });
				await writeFile(join(dir, `browser-other-tab-${size}.cpuprofile`), JSON.stringify(profile));
				log(`  profile of the other tab: ${join(dir, `browser-other-tab-${size}.cpuprofile`)}`);
			}
		}
		const problems = [...one.problems, ...two.problems];
		if (problems.length) log(`page problems: ${problems.join('; ')}`);
		await one.context.close();
		await two.context.close();
		return rows;
	} finally {
		await browser.close();
		await server.stop();
		await rm(dataDir, { recursive: true, force: true });
	}
}
