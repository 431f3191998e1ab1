/**
 * Conversations in Chromium (issue 16): reactions, replies and mentions between two people through
 * the sync server. Ada has a space and invites Ben by link; each story starts fresh.
 */
import { describe, expect, it } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import {
	adaInvitesBen,
	composer,
	dismissNotices,
	screenshot,
	send,
	useBrowser,
	shownTexts as texts,
	messageRow as message
} from './browser.js';

const stage = useBrowser('conversation');

/** What the reaction chips under a message say: "👍 2: Ben and Ada reacted with 👍". */
const chips = (row: Locator) =>
	row.getByTestId('reaction').evaluateAll((els) =>
		els.map((el) => ({
			label: el.getAttribute('aria-label'),
			pressed: el.getAttribute('aria-pressed'),
			disabled: (el as HTMLButtonElement).disabled
		}))
	);

/**
 * Ada, with a space of her own and a first message, and Ben, joined by her invite link and
 * reading that message.
 */
const setup = () => adaInvitesBen(stage);

/** Hovers a message and picks a reaction from its picker. */
async function react(page: Page, text: string, emoji: string) {
	const row = message(page, text);
	await row.hover();
	await row.getByRole('button', { name: 'Add reaction' }).click();
	await row.getByRole('button', { name: `React with ${emoji}` }).click();
}

describe('reactions in Chromium', () => {
	it('✓ Ben reacts, Ada sees who and how many and joins in; each takes their own back; the owner removes one', async () => {
		const { ada, ben } = await setup();
		await react(ben.page, 'Welcome!', '👍');
		// ✓ Ada sees Ben's reaction: one, by Ben, not hers
		await expect
			.poll(() => chips(message(ada.page, 'Welcome!')), { timeout: 20_000 })
			.toEqual([{ label: '👍 1: Ben reacted with 👍', pressed: 'false', disabled: false }]);
		// ✓ she joins in with a click on the chip: two, hers pressed
		await message(ada.page, 'Welcome!').getByTestId('reaction').click();
		await expect
			.poll(() => chips(message(ben.page, 'Welcome!')), { timeout: 20_000 })
			.toEqual([{ label: '👍 2: You and Ada reacted with 👍', pressed: 'true', disabled: false }]);
		await react(ben.page, 'Welcome!', '🎉');
		await expect
			.poll(() => chips(message(ada.page, 'Welcome!')), { timeout: 20_000 })
			.toEqual([
				{ label: '👍 2: You and Ben reacted with 👍', pressed: 'true', disabled: false },
				{ label: '🎉 1: Ben reacted with 🎉', pressed: 'false', disabled: false }
			]);
		await dismissNotices(ada.page);
		await ada.page.mouse.move(0, 0);
		await screenshot(ada.page, '35-reactions');

		// ✓ Ben takes his 👍 back: Ada's stays
		await message(ben.page, 'Welcome!').getByTestId('reaction').first().click();
		await expect
			.poll(() => chips(message(ada.page, 'Welcome!')), { timeout: 20_000 })
			.toEqual([
				{ label: '👍 1: You reacted with 👍', pressed: 'true', disabled: false },
				{ label: '🎉 1: Ben reacted with 🎉', pressed: 'false', disabled: false }
			]);
		// ✓ Ada, the owner (MANAGE_MESSAGES), removes Ben's 🎉; Ben sees it gone
		const row = message(ada.page, 'Welcome!');
		await row.hover();
		await row.getByRole('button', { name: 'Manage reactions' }).click();
		await row.getByRole('button', { name: 'Remove 🎉 of Ben' }).click();
		await expect
			.poll(() => chips(message(ben.page, 'Welcome!')), { timeout: 20_000 })
			.toEqual([{ label: '👍 1: Ada reacted with 👍', pressed: 'false', disabled: false }]);
	});

	it('✓ where @everyone is denied ADD_REACTIONS, Ben is offered no reaction and cannot join one', async () => {
		const { ada, ben } = await setup();
		await react(ada.page, 'Welcome!', '👍');
		await expect
			.poll(() => chips(message(ben.page, 'Welcome!')), { timeout: 20_000 })
			.toEqual([{ label: '👍 1: Ada reacted with 👍', pressed: 'false', disabled: false }]);
		// Ada denies @everyone ADD_REACTIONS in #general
		await ada.page.getByRole('button', { name: 'Space settings' }).click();
		await ada.page.getByRole('tab', { name: 'Channels' }).click();
		await ada.page
			.getByTestId('channel-settings')
			.getByRole('button', { name: /general/, expanded: false })
			.click();
		await ada.page.getByLabel('Overwrite for').selectOption('role:everyone');
		await ada.page.getByLabel('Permission', { exact: true }).selectOption('ADD_REACTIONS');
		await ada.page.getByLabel('Allow or deny').selectOption('deny');
		await ada.page.getByRole('button', { name: 'Set', exact: true }).click();
		await ada.page.keyboard.press('Escape');
		// ✓ Ben's client offers no reaction any more: no picker, and Ada's chip cannot be joined
		await expect
			.poll(() => chips(message(ben.page, 'Welcome!')), { timeout: 20_000 })
			.toEqual([{ label: '👍 1: Ada reacted with 👍', pressed: 'false', disabled: true }]);
		await message(ben.page, 'Welcome!').hover();
		expect(
			await message(ben.page, 'Welcome!').getByRole('button', { name: 'Add reaction' }).count()
		).toBe(0);
		// ✓ the owner still reacts
		await react(ada.page, 'Welcome!', '🎉');
		await expect
			.poll(() => chips(message(ben.page, 'Welcome!')), { timeout: 20_000 })
			.toEqual([
				{ label: '👍 1: Ada reacted with 👍', pressed: 'false', disabled: true },
				{ label: '🎉 1: Ada reacted with 🎉', pressed: 'false', disabled: true }
			]);
	});
});

/** Whether a row is wholly inside the message list's viewport. */
const inView = (row: Locator) =>
	row.evaluate((el) => {
		const r = el.getBoundingClientRect();
		const list = el.closest('[data-testid="messages"]')!.getBoundingClientRect();
		return r.top >= list.top && r.bottom <= list.bottom;
	});

describe('replies in Chromium', () => {
	it('✓ Ben replies to a message far up; the preview jumps to it, follows its edit and says when it was deleted', async () => {
		const { ada, ben } = await setup();
		for (let i = 1; i <= 30; i++) await send(ada.page, `filler ${i}`);
		await expect.poll(() => texts(ben.page), { timeout: 30_000 }).toContain('filler 30');
		// Ben scrolls up to Ada's first message and replies to it
		await ben.page.getByTestId('messages').evaluate((el) => (el.scrollTop = 0));
		const original = message(ben.page, 'Welcome!');
		await original.hover();
		await original.getByRole('button', { name: 'Reply', exact: true }).click();
		// ✓ the composer says whom he replies to, and has the focus
		expect(await ben.page.getByTestId('replying-to').textContent()).toMatch(/Replying to Ada/);
		await ben.page.keyboard.type('Thanks, glad to be here!');
		await ben.page.keyboard.press('Enter');
		await expect.poll(() => ben.page.getByTestId('replying-to').count()).toBe(0);

		// ✓ Ada sees it as a reply: the preview names her and quotes her message
		const reply = message(ada.page, 'Thanks, glad to be here!');
		await expect
			.poll(() => reply.getByTestId('reply-preview').textContent(), { timeout: 20_000 })
			.toBe('AdaWelcome!');
		await dismissNotices(ada.page);
		await ada.page.mouse.move(0, 0);
		await screenshot(ada.page, '36-reply');
		// ✓ a click on the preview brings the original into view, highlighted
		expect(await ada.page.getByRole('log').locator('.message.highlight').count()).toBe(0);
		await reply.getByTestId('reply-preview').click();
		await expect.poll(() => inView(message(ada.page, 'Welcome!'))).toBe(true);
		expect(await message(ada.page, 'Welcome!').getAttribute('class')).toContain('highlight');

		// ✓ Ada edits the original: Ben's preview follows
		const first = message(ada.page, 'Welcome!');
		await first.hover();
		await first.getByRole('button', { name: 'Edit message' }).click();
		await ada.page.getByRole('textbox', { name: 'Edit message' }).fill('Welcome, everyone!');
		await ada.page.getByRole('textbox', { name: 'Edit message' }).press('Enter');
		const benReply = message(ben.page, 'Thanks, glad to be here!');
		await expect
			.poll(() => benReply.getByTestId('reply-preview').textContent(), { timeout: 20_000 })
			.toBe('AdaWelcome, everyone!');
		// ✓ she deletes it: the reply stays and says the original was deleted
		const edited = message(ada.page, 'Welcome, everyone!');
		await edited.hover();
		await edited.getByRole('button', { name: 'Delete message' }).click();
		await expect
			.poll(() => benReply.getByTestId('reply-preview').textContent(), { timeout: 20_000 })
			.toMatch(/Original message was deleted/);
		expect(await texts(ben.page)).not.toContain('Welcome, everyone! (edited)');
	});
});

/** Whether the row is flagged as mentioning the reader, and the mentions marked in its text. */
const mentionsOf = async (row: Locator) => ({
	me: (await row.getAttribute('data-mentions-me')) === 'true',
	marked: await row
		.getByTestId('mention')
		.evaluateAll((els) =>
			els.map((el) => `${el.textContent}${el.classList.contains('me') ? '*' : ''}`)
		)
});

describe('mentions in Chromium', () => {
	it("✓ Ben mentions Ada through the autocomplete; his @everyone stays text without MENTION_EVERYONE; Ada's @everyone mentions Ben", async () => {
		const { ada, ben } = await setup();
		await dismissNotices(ben.page);
		const box = composer(ben.page);
		await box.click();
		await ben.page.keyboard.type('@Ad');
		// ✓ the composer suggests Ada; Ben may not mention @everyone, so it is not offered
		const options = ben.page.getByRole('listbox', { name: 'Mention' }).getByRole('option');
		await expect.poll(() => options.allTextContents()).toEqual(['@Ada member']);
		await box.fill('');
		await ben.page.keyboard.type('@ev');
		await expect.poll(() => options.count()).toBe(0);
		await box.fill('');
		await ben.page.keyboard.type('@Ad');
		await expect.poll(() => options.count()).toBe(1);
		await screenshot(ben.page, '37-mention-autocomplete');
		await ben.page.keyboard.press('Enter');
		expect(await box.inputValue()).toBe('@Ada ');
		await ben.page.keyboard.type('see you tonight?');
		await ben.page.keyboard.press('Enter');
		await send(ben.page, '@everyone is welcome');

		// ✓ Ada: the first mentions her (flagged, her name marked), the second mentions nobody
		await expect
			.poll(() => texts(ada.page), { timeout: 20_000 })
			.toEqual(['Welcome!', '@Ada see you tonight?', '@everyone is welcome']);
		expect(await mentionsOf(message(ada.page, '@Ada see you tonight?'))).toEqual({
			me: true,
			marked: ['@Ada*']
		});
		expect(await mentionsOf(message(ada.page, '@everyone is welcome'))).toEqual({
			me: false,
			marked: []
		});
		// ✓ on Ben's side his mention of Ada is marked, not as his
		expect(await mentionsOf(message(ben.page, '@Ada see you tonight?'))).toEqual({
			me: false,
			marked: ['@Ada']
		});

		// ✓ Ada (the owner) mentions @everyone from the autocomplete: it mentions Ben
		await composer(ada.page).click();
		await ada.page.keyboard.type('@every');
		await expect
			.poll(() =>
				ada.page.getByRole('listbox', { name: 'Mention' }).getByRole('option').allTextContents()
			)
			.toEqual(['@everyone every member']);
		await ada.page.keyboard.press('Tab');
		await ada.page.keyboard.type('meeting at 8');
		await ada.page.keyboard.press('Enter');
		await expect
			.poll(() => mentionsOf(message(ben.page, '@everyone meeting at 8')), { timeout: 20_000 })
			.toEqual({ me: true, marked: ['@everyone*'] });
		await dismissNotices(ben.page);
		await ben.page.mouse.move(0, 0);
		await screenshot(ben.page, '38-mentions');
	});
});
