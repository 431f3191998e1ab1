/**
 * A long channel in Chromium (issue 13, the web client). Ada, a Node client on the sync server the
 * page uses, has written 2,000 messages into #general of "Archive" — some of several lines, some
 * long enough to wrap — and invites Ben. Ben joins in the browser:
 * - the channel opens on its newest message, and the DOM holds a screenful of rows, not 2,000;
 * - he scrolls up: a message arriving and a message above him growing do not move what he reads,
 *   and "Jump to latest" says one message is new;
 * - "Jump to latest" brings the newest into view, and the list then follows new messages, his own
 *   and Ada's;
 * - scrolling to the top reaches the channel's first message;
 * - left there, #general opens again on its newest message.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Page } from 'playwright-core';
import { Charter, type Channel, type Space } from '../../src/lib/index.js';
import { createIdentity, screenshot, watchProblems, useBrowser } from './browser.js';

/** How many messages Ada writes before Ben joins. */
const MESSAGES = 2000;
/** "A screenful plus a small overscan": far below MESSAGES, whatever the rows' heights. */
const MAX_ROWS = 100;

const stage = useBrowser('virtual-list', { per: 'file' });
let page: Page;
let problems: string[] = [];
let ada: Charter;
let space: Space;
let general: Channel;
let invite = '';

/** Message i's text: zero-padded so that no text is a prefix of another; every 9th has three lines, every 13th wraps. */
function text(i: number): string {
	const label = `message ${String(i).padStart(4, '0')}`;
	if (i % 9 === 0) return `${label}\nsecond line\nthird line`;
	if (i % 13 === 0) return `${label} ${'and so on '.repeat(40)}`;
	return label;
}

/** The first line of what a row shows. */
const firstLine = (s: string) => s.split('\n')[0]!;

const log = () => page.getByRole('log');
const jump = () => page.getByRole('button', { name: /Jump to latest/ });
/** The message rows in the DOM. */
const rendered = () => log().locator('.message').count();

/** Waits until the page has rendered two more frames (layout and ResizeObserver have run). */
const frames = () =>
	page.evaluate(
		() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(null))))
	);

/** The messages inside the list's viewport, top to bottom: first line and top edge (px). */
function onScreen() {
	return page.evaluate(() => {
		const list = document.querySelector('[role=log]')!.getBoundingClientRect();
		return Array.from(document.querySelectorAll('[role=log] .message'))
			.map((el) => ({
				text: (el.querySelector('.text')?.textContent ?? '').split('\n')[0]!,
				key: el.closest('li')?.dataset.key ?? '',
				rect: el.getBoundingClientRect()
			}))
			.filter(({ rect }) => rect.bottom > list.top + 1 && rect.top < list.bottom - 1)
			.map(({ text, key, rect }) => ({ text, key, top: Math.round(rect.top * 10) / 10 }));
	});
}
const topOnScreen = async () => (await onScreen())[0];
const newestOnScreen = async () => (await onScreen()).at(-1)?.text;

/** The row at the top of the viewport is `before`, at the same place (within a pixel). */
async function expectInPlace(before: { text: string; key: string; top: number }) {
	const now = (await topOnScreen())!;
	expect({ text: now.text, key: now.key }).toEqual({ text: before.text, key: before.key });
	expect(Math.abs(now.top - before.top)).toBeLessThanOrEqual(1);
}

const send = async (value: string) => {
	await page.getByLabel('Message', { exact: true }).fill(value);
	await page.getByLabel('Message', { exact: true }).press('Enter');
};

beforeAll(async () => {
	ada = await Charter.open({ inMemory: true, syncServers: [inject('wsUrl')], deviceName: 'ada' });
	await ada.createIdentity();
	space = await ada.createSpace({ name: 'Archive' });
	await space.settled();
	general = space.channels[0]!;
	// the first on its own (it registers Ada's device in the space), the rest without waiting for
	// one another, a few hundred at a time: the client batches them into a few entries
	await general.send(text(0));
	for (let from = 1; from < MESSAGES; from += 500)
		await Promise.all(
			Array.from({ length: Math.min(500, MESSAGES - from) }, (_, k) => general.send(text(from + k)))
		);
	await general.whenStored(general.messages.at(-1)!.id, { timeoutMs: 60_000 });
	invite = (await space.createInvite()).link;
});
afterAll(async () => {
	await ada?.close();
});

describe('a channel of 2,000 messages in Chromium', () => {
	it('✓ Ben joins: the channel opens on its newest message, with a screenful of rows in the DOM', async () => {
		expect(general.messages.length).toBe(MESSAGES);
		const context = await stage.browser.newContext({ viewport: { width: 1280, height: 800 } });
		page = await context.newPage();
		// the stage closes Ben's browser after the story and checks it had no problems
		problems = stage.add({
			context,
			page,
			problems: watchProblems(page, 'ben'),
			dialogs: []
		}).problems;
		// errors the page reports to itself (a "ResizeObserver loop" is one) are problems too
		await page.addInitScript(() => {
			const seen: string[] = ((window as unknown as { errors: string[] }).errors = []);
			addEventListener('error', (e) => seen.push(e.message));
		});
		await page.goto(inject('baseUrl'));
		await createIdentity(page);
		await page.getByRole('button', { name: 'Add a space' }).click();
		await page.getByLabel('Invite link').fill(invite);
		await page.getByRole('button', { name: 'Join space' }).click();
		await expect
			.poll(() => page.getByTestId('space-name').textContent(), { timeout: 30_000 })
			.toBe('Archive');
		const newest = firstLine(text(MESSAGES - 1));
		await expect.poll(newestOnScreen, { timeout: 60_000 }).toBe(newest);
		await frames();
		// ✓ the newest message is in view, at the bottom, and no "Jump to latest" is offered
		expect(await newestOnScreen()).toBe(newest);
		expect(await jump().count()).toBe(0);
		// ✓ the DOM holds a screenful (plus overscan), not the channel
		const rows = await rendered();
		expect(rows).toBeGreaterThan(10);
		expect(rows).toBeLessThanOrEqual(MAX_ROWS);
		await screenshot(page, 'v01-long-channel-newest');
	});

	it('✓ scrolled up, a message arriving and a message above growing do not move what he reads; "Jump to latest" counts the new one', async () => {
		await log().evaluate((el) => el.scrollBy({ top: -6000, behavior: 'instant' }));
		await jump().waitFor();
		await frames();
		const before = (await topOnScreen())!;
		expect(before.text).toMatch(/^message \d{4}$|^message \d{4} and so on/);
		expect(before.text).not.toBe(firstLine(text(MESSAGES - 1)));

		// Ada writes: the count says so, and the row at the top stays where it was
		await general.send('Arrived while Ben reads');
		await expect
			.poll(() => page.getByTestId('unseen').textContent(), { timeout: 20_000 })
			.toBe('1 new');
		await frames();
		// ✓ the message Ben reads has not moved
		await expectInPlace(before);

		// Ada edits a message above the viewport (rendered in the overscan) into a long one
		const above = await page.evaluate((key) => {
			const rows = Array.from(document.querySelectorAll<HTMLElement>('[role=log] li[data-key]'));
			const at = rows.findIndex((li) => li.dataset.key === key);
			return at > 0 ? rows[at - 1]!.dataset.key! : undefined;
		}, before.key);
		expect(above).toBeDefined();
		const height = () =>
			page.evaluate(
				(key) => document.querySelector(`[data-key="${key}"]`)!.getBoundingClientRect().height,
				above!
			);
		const grown = (await height()) + 100;
		await general.edit(above!, `an edit\n${'that makes this message much longer '.repeat(30)}`);
		await expect.poll(height, { timeout: 20_000 }).toBeGreaterThan(grown);
		await frames();
		// ✓ still where it was
		await expectInPlace(before);
		// ✓ scrolled up, the list did not grow past a screenful either
		expect(await rendered()).toBeLessThanOrEqual(MAX_ROWS);
		await screenshot(page, 'v02-scrolled-up-jump-to-latest');
	});

	it('✓ "Jump to latest" shows the newest; at the bottom the list follows his messages and Ada\'s', async () => {
		await jump().click();
		await expect.poll(newestOnScreen).toBe('Arrived while Ben reads');
		await expect.poll(() => jump().count()).toBe(0);
		await send('Ben was here');
		await expect.poll(newestOnScreen, { timeout: 20_000 }).toBe('Ben was here');
		await general.send('Ada answers');
		await expect.poll(newestOnScreen, { timeout: 20_000 }).toBe('Ada answers');
		await frames();
		expect(await newestOnScreen()).toBe('Ada answers');
		expect(await jump().count()).toBe(0);
		expect(await rendered()).toBeLessThanOrEqual(MAX_ROWS);
	});

	it('✓ scrolling to the top reaches the first message', async () => {
		// with the mouse wheel, as a reader would: rows measured on the way up correct the position
		await log().hover();
		await expect
			.poll(
				async () => {
					await page.mouse.wheel(0, -5000);
					await frames();
					const top = await log().evaluate((el) => el.scrollTop);
					return top === 0 ? (await topOnScreen())?.text : `scrollTop ${top}`;
				},
				{ timeout: 30_000, interval: 0 }
			)
			.toBe(firstLine(text(0)));
		// ✓ and above it the channel's welcome, inside the list's viewport
		const welcome = (await page
			.getByRole('heading', { name: 'Welcome to #general' })
			.boundingBox())!;
		const list = (await log().boundingBox())!;
		expect(welcome.y).toBeGreaterThanOrEqual(list.y);
		expect(welcome.y + welcome.height).toBeLessThanOrEqual(list.y + list.height);
		expect(await rendered()).toBeLessThanOrEqual(MAX_ROWS);
		await screenshot(page, 'v03-first-message');
	});

	it('✓ a short channel has nothing to jump to, and #general, left scrolled to the top, opens again on its newest message', async () => {
		const notes = await space.createChannel({ name: 'notes' });
		await notes.send('A short channel');
		const channels = page.getByRole('navigation', { name: 'Channels' });
		await channels.getByText('notes').click({ timeout: 20_000 });
		await expect.poll(newestOnScreen, { timeout: 20_000 }).toBe('A short channel');
		await frames();
		// ✓ a channel shorter than the screen is at its newest: nothing to jump to
		expect(await jump().count()).toBe(0);
		await channels.getByText('general').click();
		await expect.poll(newestOnScreen).toBe('Ada answers');
		await frames();
		expect(await newestOnScreen()).toBe('Ada answers');
		expect(await jump().count()).toBe(0);
		problems.push(
			...(await page.evaluate(() => (window as unknown as { errors: string[] }).errors))
		);
	});
});
