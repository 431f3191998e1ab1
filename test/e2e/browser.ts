/** Debian's Chromium driven by playwright-core; never a downloaded browser. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
	type Browser,
	type BrowserContext,
	type Dialog,
	type Locator,
	type Page
} from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, inject } from 'vitest';
import { launch } from '../support/chromium.js';

export { chromiumPath, launch } from '../support/chromium.js';

/** Where screenshots go (git-ignored). */
export const ARTIFACTS = 'test-results/screenshots';
mkdirSync(ARTIFACTS, { recursive: true });
export const screenshot = (page: Page, name: string) =>
	page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

/** One person's browser in a story: its own context (so its own storage: a device) and page. */
export interface User {
	context: BrowserContext;
	page: Page;
	/** Uncaught exceptions and console errors/warnings seen (see `watchProblems`). */
	problems: string[];
	/** The native dialogs (alert/confirm) the page opened, by message (`openUser` records them). */
	dialogs: string[];
	/** Who it is in the story (names a failed test's screenshot). */
	label?: string;
}

/**
 * Opens `url` as a new device in a fresh context of `browser` (desktop viewport, clipboard granted
 * for the stories that copy links and codes), watching the page's problems under `label`.
 * Native dialogs (alert/confirm) are recorded in `dialogs`, then answered by `onDialog`, or
 * dismissed.
 */
export async function openUser(
	browser: Browser,
	label: string,
	options: { url: string; offline?: boolean; onDialog?: (dialog: Dialog) => void }
): Promise<User> {
	const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
	try {
		await context.grantPermissions(['clipboard-read', 'clipboard-write']);
		const page = await context.newPage();
		const dialogs: string[] = [];
		page.on('dialog', (dialog) => {
			dialogs.push(dialog.message());
			if (options.onDialog) options.onDialog(dialog);
			else void dialog.dismiss();
		});
		const problems = watchProblems(page, label, { offline: options.offline ?? false });
		await page.goto(options.url);
		return { context, page, problems, dialogs, label };
	} catch (error) {
		await context.close().catch(() => undefined);
		throw error;
	}
}

/**
 * Ends a story: screenshots every open page when it failed (`failed-<name>-<label>`), then closes
 * every person's browser. Returns the problems their pages collected.
 */
export async function closeUsers(users: User[], name: string, failed: boolean): Promise<string[]> {
	if (failed) await screenshotAll(users, name);
	const problems = users.flatMap((u) => u.problems);
	for (const user of users) await user.context.close().catch(() => undefined);
	return problems;
}

/** The browser of a test file and the people in it (`useBrowser`). */
export interface Stage {
	/** Chromium, launched before the file's first test. */
	readonly browser: Browser;
	/**
	 * Opens a person's browser (`openUser`: a new device) at `url` (default: the web client),
	 * closed and checked with the others.
	 */
	open(
		label: string,
		options?: { url?: string; offline?: boolean; onDialog?: (dialog: Dialog) => void }
	): Promise<User>;
	/** Takes in a person opened another way (their own context), to close and check like the others. */
	add<U extends User>(user: U): U;
}

/**
 * The shared setup and teardown of a browser test file: launches Chromium before its tests and
 * closes it after them. The people opened (`stage.open`) are closed after each test
 * (`per: 'test'`, the default: a fresh cast each time), or after the file's last test
 * (`per: 'file'`: a story told over several tests); a failed test screenshots their pages first
 * (`failed-<name>-<label>`). Then, unless `checkProblems` is false, their pages must have had no
 * problems (`watchProblems`).
 */
export function useBrowser(
	name: string,
	{ per = 'test', checkProblems = true }: { per?: 'test' | 'file'; checkProblems?: boolean } = {}
): Stage {
	let browser: Browser | undefined;
	let users: User[] = [];
	const end = async (failed: boolean) => {
		const problems = await closeUsers(users, name, failed);
		users = [];
		if (checkProblems) expect(problems).toEqual([]);
	};
	beforeAll(async () => {
		browser = await launch();
	});
	afterEach(async (context) => {
		const failed = context.task.result?.state === 'fail';
		if (per === 'test') await end(failed);
		else if (failed) await screenshotAll(users, name);
	});
	afterAll(async () => {
		try {
			if (per === 'file') await end(false);
		} finally {
			await browser?.close();
		}
	});
	const stage: Stage = {
		get browser() {
			if (!browser) throw new Error('the browser is launched before the tests');
			return browser;
		},
		async open(label, { url = inject('baseUrl'), ...options } = {}) {
			return stage.add(await openUser(stage.browser, label, { url, ...options }));
		},
		add(user) {
			users.push(user);
			return user;
		}
	};
	return stage;
}

/** Screenshots every open page of a story (`failed-<name>-<label or i>`). */
async function screenshotAll(users: User[], name: string): Promise<void> {
	for (const [i, user] of users.entries())
		if (!user.page.isClosed())
			await screenshot(user.page, `failed-${name}-${user.label ?? i}`).catch(() => undefined);
}

/**
 * Collects uncaught exceptions and console errors/warnings of a page, to assert there are none.
 * `offline`: the page's network will be cut, so the browser's own reports of failed WebSocket
 * connections are expected and ignored.
 */
export function watchProblems(page: Page, label = 'page', { offline = false } = {}): string[] {
	const problems: string[] = [];
	const expected = (text: string) =>
		offline && /WebSocket|ERR_INTERNET_DISCONNECTED|Failed to load resource/.test(text);
	page.on('pageerror', (e) => problems.push(`${label} uncaught: ${e.message}`));
	page.on('console', (m) => {
		if ((m.type() === 'error' || m.type() === 'warning') && !expected(m.text()))
			problems.push(`${label} console.${m.type()}: ${m.text()}`);
	});
	return problems;
}

/**
 * Creates an identity in the onboarding: shows the phrase, answers the three-word check and confirms.
 * Returns the 24 words. The display-name step comes next (each test decides what to do with it).
 * `shots` names the screenshots taken of the phrase and of the check, if wanted.
 */
export async function answerPhrase(
	page: Page,
	shots?: { phrase: string; check: string }
): Promise<string[]> {
	await page.getByRole('button', { name: 'Create identity' }).click();
	const words = page.getByTestId('phrase').locator('.w');
	await expect.poll(() => words.count()).toBe(24);
	const list = await words.allTextContents();
	if (shots) await screenshot(page, shots.phrase);
	await page.getByRole('button', { name: 'I wrote it down' }).click();
	const asked = page.getByRole('textbox', { name: /Word #\d+/ });
	await expect.poll(() => asked.count()).toBe(3);
	for (const input of await asked.all()) {
		const label = await input.evaluate((el) => el.closest('label')?.textContent ?? '');
		await input.fill(list[Number(/#(\d+)/.exec(label)![1]) - 1]!);
	}
	if (shots) await screenshot(page, shots.check);
	await page.getByRole('button', { name: 'Confirm' }).click();
	return list;
}

/** `answerPhrase`, then skips the display-name step (first-day-a.test.ts covers it). */
export async function createIdentity(
	page: Page,
	shots?: { phrase: string; check: string }
): Promise<string[]> {
	const list = await answerPhrase(page, shots);
	await page.getByRole('button', { name: 'Skip for now' }).click();
	await page.getByTestId('user-id').waitFor();
	return list;
}

/** The whole onboarding of a new user who gives a display name (first-day-a.test.ts shows each step). */
export async function onboard(page: Page, name: string): Promise<void> {
	await answerPhrase(page);
	await page.getByLabel('Display name').fill(name);
	await page.getByRole('button', { name: 'Continue' }).click();
	await page.getByTestId('user-id').waitFor();
}

/** Sets the display name in User settings (which are closed again). */
export async function setProfile(page: Page, name: string): Promise<void> {
	await page.getByRole('button', { name: 'User settings' }).first().click();
	await page.getByLabel('Display name').fill(name);
	await page.getByRole('button', { name: 'Save profile' }).click();
	await page.getByText('Profile saved').waitFor();
	await page.keyboard.press('Escape');
}

/** Joins a space with an invite link in "Add a space", and waits until it is open (`name`). */
export async function joinSpace(page: Page, link: string, name: string): Promise<void> {
	await page.getByRole('button', { name: 'Add a space' }).click();
	await page.getByLabel('Invite link').fill(link);
	await page.getByRole('button', { name: 'Join space' }).click();
	await expect
		.poll(() => page.getByTestId('space-name').textContent(), { timeout: 30_000 })
		.toBe(name);
}

/**
 * An init script (`context.addInitScript(hideablePage)`) that lets a test put the page in the
 * background for the app — a headless page is always visible: `setHidden(page, true)` makes
 * `document.visibilityState` "hidden" and fires `visibilitychange`, `false` brings it back.
 */
export function hideablePage() {
	let hidden = false;
	Object.defineProperty(document, 'visibilityState', {
		configurable: true,
		get: () => (hidden ? 'hidden' : 'visible')
	});
	Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
	(window as unknown as { __setHidden: (h: boolean) => void }).__setHidden = (h: boolean) => {
		hidden = h;
		document.dispatchEvent(new Event('visibilitychange'));
	};
}

/** Puts a page opened with `hideablePage` in the background (for the app), or back. */
export const setHidden = (page: Page, hidden: boolean) =>
	page.evaluate(
		(h) => (window as unknown as { __setHidden: (h: boolean) => void }).__setHidden(h),
		hidden
	);

/** The message box of the open channel. */
export const composer = (page: Page) => page.getByLabel('Message', { exact: true });

/** Sends `text` in the open channel, as a user does (type, Enter). */
export async function send(page: Page, text: string): Promise<void> {
	await composer(page).fill(text);
	await composer(page).press('Enter');
}

/**
 * Closes the notices above the composer (for a clear screenshot). A notice also goes by itself
 * (after 3.5–8 s): one that went while a click waited for it to hold still is gone all the same, so
 * the click gives up and the loop looks again, instead of waiting for a notice that will not come.
 */
export async function dismissNotices(page: Page): Promise<void> {
	const dismiss = page.getByRole('button', { name: 'Dismiss' });
	for (let round = 0; (await dismiss.count()) > 0; round++) {
		if (round === 50) throw new Error('notices keep coming: nothing to screenshot without them');
		await dismiss
			.first()
			.click({ timeout: 2_000 })
			.catch(() => undefined);
	}
}

/** Creates a space named `name` and waits until the client is online with it. */
export async function createSpace(page: Page, name: string): Promise<void> {
	await page.getByRole('button', { name: 'Add a space' }).click();
	await page.getByLabel('Space name').fill(name);
	await page.getByRole('button', { name: 'Create space' }).click();
	await expect
		.poll(() => page.getByTestId('status').textContent(), { timeout: 15_000 })
		.toContain('Online');
}

/** A new invite link of the open space, made in its settings (which are closed again). */
export async function inviteLink(page: Page): Promise<string> {
	await page.getByRole('button', { name: 'Space settings' }).click();
	await page.getByRole('tab', { name: 'Invites' }).click();
	await page.getByRole('button', { name: 'Create invite' }).click();
	const link = await page.getByTestId('invite-link').inputValue();
	await page.keyboard.press('Escape');
	return link;
}

/** The texts of the messages the open channel shows (an edited one ends " (edited)"). */
export const shownTexts = async (page: Page): Promise<string[]> =>
	(await page.getByRole('log').locator('.text').allTextContents()).map((t) =>
		t.replace(/\s*\(edited\)$/, ' (edited)')
	);

/** The row of the message reading `text` in the open channel. */
export const messageRow = (page: Page, text: string): Locator =>
	page.getByRole('log').locator('.message', { has: page.locator('.text', { hasText: text }) });

/**
 * Ada, with a space "Book club" of her own and a first message ("Welcome!"), and Ben, joined by her
 * invite link and reading it (`texts`, default `shownTexts`). `cast` opens each one's browser at a
 * URL (Ben's: the link): a stage, or a function of the test's own.
 */
export async function adaInvitesBen(
	cast: Stage | ((label: string, url?: string) => Promise<User>),
	texts: (page: Page) => Promise<string[]> = shownTexts
): Promise<{ ada: User; ben: User }> {
	const open =
		typeof cast === 'function' ? cast : (label: string, url?: string) => cast.open(label, { url });
	const ada = await open('ada');
	await onboard(ada.page, 'Ada');
	await createSpace(ada.page, 'Book club');
	await send(ada.page, 'Welcome!');
	const link = await inviteLink(ada.page);
	const ben = await open('ben', link);
	await onboard(ben.page, 'Ben');
	await ben.page.getByRole('button', { name: 'Join space' }).click();
	try {
		await expect.poll(() => texts(ben.page), { timeout: 30_000 }).toEqual(['Welcome!']);
	} catch (error) {
		// what each of them sees (a join still under way, a notice, an empty channel) says where it
		// stopped: the screenshots are not kept by every runner
		for (const user of [ada, ben])
			console.error(`${user.label} sees:\n${await user.page.locator('body').innerText()}`);
		throw error;
	}
	return { ada, ben };
}
