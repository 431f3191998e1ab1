/**
 * Unread and notifications in Chromium (issue 16, items 4 and 5), between two people through the
 * sync server. Ada is reading #random when Ben writes in #general: she sees #general unread with a
 * mention count (and her space's badge on the rail), opens it, finds a "new messages" line above
 * what she had not read, and the dot goes. With the tab in the background, Ben's next message shows
 * as a system notification; muted, the channel shows none (and a channel shown while the tab is
 * hidden is not marked read until Ada looks at it).
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import {
	adaInvitesBen,
	closeUsers,
	launch,
	openUser,
	screenshot,
	send,
	watchProblems,
	type User
} from './browser.js';

let browser: Browser;
let users: User[] = [];

/**
 * Records every `new Notification(…)` in `window.__notified` (then shows it, if the browser can);
 * counts the permission requests in `window.__asked`, and reports "default" (not asked yet) until
 * the app asks — the context grants it, so the answer is then "granted". Lets the test hide the
 * page: `window.__setHidden(true)` (a headless page is always visible).
 */
function recordNotifications() {
	const w = window as unknown as {
		__notified: { title: string; body?: string }[];
		__asked: number;
		__setHidden: (hidden: boolean) => void;
	};
	w.__notified = [];
	w.__asked = 0;
	const Original = window.Notification;
	class Recording extends Original {
		constructor(title: string, options?: NotificationOptions) {
			w.__notified.push({ title, body: options?.body });
			super(title, options);
		}
		static override get permission(): NotificationPermission {
			return w.__asked ? Original.permission : 'default';
		}
		static override requestPermission(): Promise<NotificationPermission> {
			w.__asked++;
			return Original.requestPermission();
		}
	}
	window.Notification = Recording;
	let hidden = false;
	Object.defineProperty(document, 'visibilityState', {
		configurable: true,
		get: () => (hidden ? 'hidden' : 'visible')
	});
	Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
	w.__setHidden = (h: boolean) => {
		hidden = h;
		document.dispatchEvent(new Event('visibilitychange'));
	};
}

/** Ada's browser: notifications allowed, recorded, and a page the test can put in the background. */
async function openAda(): Promise<User> {
	const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
	await context.grantPermissions(['clipboard-read', 'clipboard-write', 'notifications']);
	await context.addInitScript(recordNotifications);
	const page = await context.newPage();
	const problems = watchProblems(page, 'ada');
	const user = { context, page, problems };
	users.push(user);
	await page.goto(inject('baseUrl'));
	return user;
}

const texts = (page: Page) => page.getByRole('log').locator('.text').allTextContents();
const channelButton = (page: Page, name: string) =>
	page.getByRole('navigation', { name: 'Channels' }).locator('li', { hasText: name });
const notified = (page: Page) =>
	page.evaluate(
		() => (window as unknown as { __notified: { title: string; body?: string }[] }).__notified
	);

/** Ada's space "Book club" with #general (and her welcome) and #random; Ben joined by her link. */
const setup = () =>
	adaInvitesBen(async (label, url) => {
		if (label === 'ada') return openAda();
		const user = await openUser(browser, label, { url: url ?? inject('baseUrl') });
		users.push(user);
		return user;
	}, texts);

beforeAll(async () => {
	browser = await launch();
});
afterEach(async (context) => {
	const problems = await closeUsers(users, 'unread', context.task.result?.state === 'fail');
	users = [];
	expect(problems).toEqual([]);
});
afterAll(async () => {
	await browser?.close();
});

describe('unread and notifications in Chromium', () => {
	it('✓ Ada sees #general unread with a mention, opens it at the new messages, and the dot goes', async () => {
		const { ada, ben } = await setup();
		// Ada moves to a new channel, #random
		await ada.page.getByRole('button', { name: 'Create channel' }).click();
		await ada.page.getByLabel('Channel name').fill('random');
		await ada.page.getByRole('dialog').getByRole('button', { name: 'Create channel' }).click();
		await expect.poll(() => ada.page.title()).toContain('#random');
		const general = channelButton(ada.page, 'general');
		// ✓ nothing unread yet (her own welcome is not)
		expect(await general.getByTestId('unread-dot').count()).toBe(0);

		await send(ben.page, 'Has everyone finished chapter 3?');
		await send(ben.page, '@Ada you picked this one!');
		// ✓ the dot and the mention count on #general, the badge on the space
		await general.getByTestId('unread-dot').waitFor({ timeout: 20_000 });
		await expect.poll(() => general.getByTestId('mention-count').textContent()).toBe('1');
		expect(await ada.page.getByTestId('space-mentions').textContent()).toBe('1');
		expect(await channelButton(ada.page, 'random').getByTestId('unread-dot').count()).toBe(0);
		await ada.page.mouse.move(0, 0);
		await screenshot(ada.page, 'u01-unread');

		// ✓ opening it: the "new messages" line above the first she had not read; read, the dot goes
		await general.getByRole('button').first().click();
		await expect
			.poll(() => texts(ada.page))
			.toEqual(['Welcome!', 'Has everyone finished chapter 3?', '@Ada you picked this one!']);
		const divider = ada.page.getByTestId('new-messages');
		await divider.waitFor();
		const after = await divider.evaluate(
			(el) => el.parentElement?.querySelector('.text')?.textContent ?? ''
		);
		expect(after).toBe('Has everyone finished chapter 3?');
		await expect.poll(() => general.getByTestId('unread-dot').count()).toBe(0);
		expect(await general.getByTestId('mention-count').count()).toBe(0);
		expect(await ada.page.getByTestId('space-mentions').count()).toBe(0);
		await screenshot(ada.page, 'u02-new-messages');
	});

	it('✓ in the background a new message notifies; muted it does not; the channel is read once Ada looks', async () => {
		const { ada, ben } = await setup();
		const asked = () => ada.page.evaluate(() => (window as unknown as { __asked: number }).__asked);
		// ✓ loading, onboarding, creating a space, sending, chatting: permission never asked
		expect(await asked()).toBe(0);
		// ✓ opening a channel's notification settings asks (once)
		await ada.page.getByRole('button', { name: 'Notifications for #general' }).click();
		await expect.poll(asked).toBe(1);
		const dialog = ada.page.getByRole('dialog');
		await dialog.getByText('Follow the space (all messages)').waitFor();
		await screenshot(ada.page, 'u03-notification-settings');
		await ada.page.keyboard.press('Escape');

		await ada.page.evaluate(() =>
			(window as unknown as { __setHidden: (h: boolean) => void }).__setHidden(true)
		);
		await send(ben.page, 'Meeting moved to Thursday');
		// ✓ a notification, titled with the channel and space, saying who wrote what
		await expect
			.poll(() => notified(ada.page), { timeout: 20_000 })
			.toEqual([{ title: '#general · Book club', body: 'Ben: Meeting moved to Thursday' }]);
		// ✓ hidden, the channel she has open is not marked read
		await expect
			.poll(() => channelButton(ada.page, 'general').getByTestId('unread-dot').count())
			.toBe(1);

		// Ada mutes #general (while the page stays in the background for the app)
		await ada.page.getByRole('button', { name: 'Notifications for #general' }).click();
		await dialog.getByLabel('Nothing').check();
		expect(await asked()).toBe(1);
		await expect
			.poll(() => channelButton(ada.page, 'general').getAttribute('class'))
			.toContain('muted');
		await ada.page.keyboard.press('Escape');
		await send(ben.page, 'Also bring snacks');
		await expect.poll(() => texts(ada.page)).toContain('Also bring snacks');
		// ✓ it arrived, and it did not notify
		expect(await notified(ada.page)).toHaveLength(1);

		// ✓ back in the foreground, at the newest message: read
		await ada.page.evaluate(() =>
			(window as unknown as { __setHidden: (h: boolean) => void }).__setHidden(false)
		);
		await expect
			.poll(() =>
				channelButton(ada.page, 'general').locator('button').first().getAttribute('data-unread')
			)
			.toBe('0');
	});
});
