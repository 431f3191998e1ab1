/**
 * A tab's stores in Chromium (issue 13): a tab is rarely closed cleanly, so `close()`, which leaves
 * every envelope stored as one snapshot, seldom runs there. Ada chats in her tab until automerge-repo
 * has left envelopes stored as a snapshot plus incremental chunks; she switches to another tab (the
 * page goes to the background) and the client rewrites each as one snapshot; back, and after a
 * reload, every message is there.
 */
import { describe, expect, inject, it } from 'vitest';
import type { Page } from 'playwright-core';
import {
	createIdentity,
	createSpace,
	hideablePage,
	messageRow,
	send,
	setHidden,
	shownTexts,
	useBrowser,
	watchProblems
} from './browser.js';

const stage = useBrowser('stores');

/** Per envelope in the tab's wire store (IndexedDB `charter-wire`): its chunks, as `kind/name`. */
const wireChunks = (page: Page) =>
	page.evaluate(async () => {
		const db = await new Promise<IDBDatabase>((resolve, reject) => {
			const request = indexedDB.open('charter-wire', 1);
			request.onsuccess = () => resolve(request.result);
			request.onerror = () => reject(request.error);
		});
		const keys = await new Promise<IDBValidKey[]>((resolve, reject) => {
			const request = db.transaction('documents').objectStore('documents').getAllKeys();
			request.onsuccess = () => resolve(request.result);
			request.onerror = () => reject(request.error);
		});
		db.close();
		const byDocument: Record<string, string[]> = {};
		for (const [id, kind, name] of keys as string[][])
			if (kind === 'snapshot' || kind === 'incremental')
				(byDocument[id!] ??= []).push(`${kind}/${name}`);
		return byDocument;
	});

describe('a tab’s stores in Chromium', () => {
	it('✓ a tab put in the background leaves each envelope it wrote as one snapshot, and reloads with every message', async () => {
		const context = await stage.browser.newContext({ viewport: { width: 1280, height: 800 } });
		await context.addInitScript(hideablePage);
		const page = await context.newPage();
		stage.add({ context, page, problems: watchProblems(page, 'ada'), dialogs: [], label: 'ada' });
		await page.goto(inject('baseUrl'));
		await createIdentity(page);
		await createSpace(page, 'Stores');
		// Ada chats until automerge-repo has left some envelope as more than one chunk, incremental
		// ones among them (it compacts a store itself whenever its chunks outweigh the snapshot)
		const sent: string[] = [];
		const splitUp = (chunks: Awaited<ReturnType<typeof wireChunks>>) =>
			Object.entries(chunks).filter(
				([, names]) => names.length > 1 && names.some((n) => n.startsWith('incremental/'))
			);
		while (sent.length < 10 || splitUp(await wireChunks(page)).length === 0) {
			if (sent.length === 80) throw new Error('automerge-repo left no incremental chunk');
			const text = `message ${sent.length}`;
			await send(page, text);
			sent.push(text);
			await expect.poll(() => shownTexts(page), { timeout: 10_000 }).toContain(text);
		}
		const before = splitUp(await wireChunks(page));

		await setHidden(page, true);
		// ✓ each of those envelopes is one snapshot now, and none of its incremental chunks is left
		// (the snapshot is named by the document's heads, so it keeps its name when the old one was at
		// them already; what the tab saves afterwards — a read marker, a change not yet saved — is a
		// chunk of its own beside it)
		await expect
			.poll(
				async () => {
					const now = await wireChunks(page);
					return before.map(([id, names]) => ({
						left: names.filter((n) => n.startsWith('incremental/') && now[id]!.includes(n)),
						snapshots: now[id]!.filter((n) => n.startsWith('snapshot/')).length
					}));
				},
				{ timeout: 15_000 }
			)
			.toEqual(before.map(() => ({ left: [], snapshots: 1 })));

		// ✓ back in the foreground she goes on; after a reload every message is there
		await setHidden(page, false);
		await send(page, 'after the background');
		sent.push('after the background');
		await expect
			.poll(() => shownTexts(page), { timeout: 10_000 })
			.toContain('after the background');
		// (once the sync server holds it: the row's "not yet on any server" note is gone)
		await expect
			.poll(() => messageRow(page, 'after the background').getByTestId('delivery').count(), {
				timeout: 15_000
			})
			.toBe(0);
		await page.reload();
		await expect.poll(() => shownTexts(page), { timeout: 20_000 }).toEqual(sent);
	});
});
