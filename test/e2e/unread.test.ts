/**
 * Unread and notifications in Chromium (issue 16, items 4 and 5), between two people through the
 * sync server. Ada is reading #random when Ben writes in #general: she sees #general unread with a
 * mention count (and her space's badge on the rail), opens it, finds a "new messages" line above
 * what she had not read, and the dot goes. With the tab in the background, Ben's next message shows
 * as a system notification; muted, the channel shows none (and a channel shown while the tab is
 * hidden is not marked read until Ada looks at it).
 */
import { describe, expect, inject, it } from 'vitest';
import type { Page } from 'playwright-core';
import {
	adaInvitesBen,
	dismissNotices,
	hideablePage,
	setHidden,
	screenshot,
	send,
	watchProblems,
	type User,
	useBrowser
} from './browser.js';

const stage = useBrowser('unread');

/**
 * Records every `new Notification(…)` in `window.__notified` (then shows it, if the browser can);
 * counts the permission requests in `window.__asked`, and reports "default" (not asked yet) until
 * the app asks — the context grants it, so the answer is then "granted". (The page can also be put
 * in the background: `hideablePage`.)
 */
function recordNotifications() {
	const w = window as unknown as {
		__notified: { title: string; body?: string }[];
		__shown: Notification[];
		__asked: number;
	};
	w.__notified = [];
	w.__shown = [];
	w.__asked = 0;
	const Original = window.Notification;
	class Recording extends Original {
		constructor(title: string, options?: NotificationOptions) {
			w.__notified.push({ title, body: options?.body });
			super(title, options);
			w.__shown.push(this);
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
}

/** A browser with notifications allowed, recorded, and a page the test can put in the background. */
async function openRecorded(label: string, url = inject('baseUrl')): Promise<User> {
	const context = await stage.browser.newContext({ viewport: { width: 1280, height: 800 } });
	await context.grantPermissions(['clipboard-read', 'clipboard-write', 'notifications']);
	await context.addInitScript(recordNotifications);
	await context.addInitScript(hideablePage);
	const page = await context.newPage();
	const user = stage.add({
		context,
		page,
		problems: watchProblems(page, label),
		dialogs: [],
		label
	});
	await page.goto(url);
	return user;
}

const texts = (page: Page) => page.getByRole('log').locator('.text').allTextContents();
const channelButton = (page: Page, name: string) =>
	page.getByRole('navigation', { name: 'Channels' }).locator('li', { hasText: name });
/** The texts of the channel's own list (not an open thread's). */
const mainTexts = (page: Page) => page.getByTestId('messages').locator('.text').allTextContents();
const row = (page: Page, text: string) =>
	page
		.getByTestId('messages')
		.locator('.message', { has: page.locator('.text', { hasText: text }) });
/** Opens #general's notification settings (which asks the browser once) and closes them. */
async function allowNotifications(page: Page) {
	await page.getByRole('button', { name: 'Notifications for #general' }).click();
	await expect
		.poll(() => page.evaluate(() => (window as unknown as { __asked: number }).__asked))
		.toBe(1);
	await page.keyboard.press('Escape');
}
/** Opens the thread of the message reading `root` and posts `text` in it. */
async function replyInThread(page: Page, root: string, text: string) {
	const message = row(page, root);
	await message.hover();
	await message.getByRole('button', { name: 'Reply in thread' }).click();
	const box = page.getByRole('textbox', { name: 'Message in thread' });
	await box.fill(text);
	await box.press('Enter');
	await expect
		.poll(() => page.getByTestId('thread-panel').locator('.text').allTextContents())
		.toContain(text);
}
const notified = (page: Page) =>
	page.evaluate(
		() => (window as unknown as { __notified: { title: string; body?: string }[] }).__notified
	);

/**
 * Ada's space "Book club" with #general (and her welcome); Ben joined by her link. Ada's browser
 * records notifications (and Ben's too, with `recordBen`).
 */
const setup = ({ recordBen = false } = {}) =>
	adaInvitesBen(
		(label, url) =>
			label === 'ada' || recordBen ? openRecorded(label, url) : stage.open(label, { url }),
		texts
	);

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

		await setHidden(ada.page, true);
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
		await setHidden(ada.page, false);
		await expect
			.poll(() =>
				channelButton(ada.page, 'general').locator('button').first().getAttribute('data-unread')
			)
			.toBe('0');
	});

	it('✓ in the background, Ben’s reply in a thread Ada started notifies her, named by the thread, and opens it; a thread she is not in does not', async () => {
		const { ada, ben } = await setup();
		await allowNotifications(ada.page);
		await send(ada.page, 'Which book first?');
		await expect
			.poll(() => mainTexts(ben.page), { timeout: 30_000 })
			.toContain('Which book first?');
		await setHidden(ada.page, true);
		// Ben answers in the thread of Ada's message (she wrote its root: she follows it)
		await replyInThread(ben.page, 'Which book first?', 'Dune, obviously');
		// ✓ a notification, titled with the thread and its channel
		await expect
			.poll(() => notified(ada.page), { timeout: 20_000 })
			.toEqual([
				{ title: '#general › Which book first? · Book club', body: 'Ben: Dune, obviously' }
			]);
		// a message of Ben's in #general notifies; the thread he starts on it, Ada not in it, does not
		await send(ben.page, 'Snacks?');
		await expect.poll(() => notified(ada.page).then((n) => n.length), { timeout: 20_000 }).toBe(2);
		await replyInThread(ben.page, 'Snacks?', 'crisps for me');
		await send(ben.page, 'See you Thursday');
		await expect.poll(() => notified(ada.page).then((n) => n.length), { timeout: 20_000 }).toBe(3);
		// ✓ "crisps for me" arrived before the last one, and did not notify
		expect((await notified(ada.page)).map((n) => n.body)).toEqual([
			'Ben: Dune, obviously',
			'Ben: Snacks?',
			'Ben: See you Thursday'
		]);
		// ✓ clicking the thread's notification opens the thread
		await ada.page.evaluate(() =>
			(window as unknown as { __shown: Notification[] }).__shown[0]!.onclick?.(new Event('click'))
		);
		await expect
			.poll(() => ada.page.getByTestId('thread-panel').locator('.text').allTextContents())
			.toEqual(['Which book first?', 'Dune, obviously']);
		await setHidden(ada.page, false);
		await ada.page.mouse.move(0, 0);
		await screenshot(ada.page, 'u04-thread-notification-opened');
	});

	it('✓ @here reaches Ben while he is online, not while he appears offline: no mention, no notification', async () => {
		const { ada, ben } = await setup({ recordBen: true });
		// Ben: #general on "only @mentions", his page in the background
		await allowNotifications(ben.page);
		await ben.page.getByRole('button', { name: 'Notifications for #general' }).click();
		await ben.page.getByRole('dialog').getByLabel('Only @mentions').check();
		await ben.page.keyboard.press('Escape');
		await setHidden(ben.page, true);
		const mentions = () =>
			channelButton(ben.page, 'general')
				.getByTestId('mention-count')
				.textContent({ timeout: 20_000 });

		await send(ada.page, '@here the meeting starts');
		// ✓ online: a mention — notified, counted, highlighted
		await expect
			.poll(() => notified(ben.page), { timeout: 20_000 })
			.toEqual([
				{ title: 'Mention in #general · Book club', body: 'Ada: @here the meeting starts' }
			]);
		await expect.poll(mentions).toBe('1');
		expect(await row(ben.page, '@here the meeting starts').getAttribute('data-mentions-me')).toBe(
			'true'
		);

		// Ben appears offline: the next @here is not said to him
		await ben.page.getByRole('button', { name: 'User settings' }).first().click();
		await ben.page.getByTestId('share-presence').uncheck();
		await ben.page.keyboard.press('Escape');
		await send(ada.page, '@here second call');
		await expect
			.poll(() => mainTexts(ben.page), { timeout: 20_000 })
			.toContain('@here second call');
		await send(ada.page, '@Ben are you there?');
		await expect.poll(() => notified(ben.page).then((n) => n.length), { timeout: 20_000 }).toBe(2);
		// ✓ the direct mention after it notified; the @here did not, nor counts, nor is highlighted
		expect((await notified(ben.page)).map((n) => n.body)).toEqual([
			'Ada: @here the meeting starts',
			'Ada: @Ben are you there?'
		]);
		await expect.poll(mentions).toBe('2');
		expect(await row(ben.page, '@here second call').getAttribute('data-mentions-me')).toBeNull();
		await dismissNotices(ben.page);
		await ben.page.mouse.move(0, 0);
		await screenshot(ben.page, 'u05-here-while-offline');
	});
});
