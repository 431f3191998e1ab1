/**
 * Channel topic, pinned messages, role colours and the member pop-over in Chromium (issue 16, item
 * 9), between two people through the sync server. Ada has a space and invites Ben by link; each
 * story starts fresh.
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

const stage = useBrowser('pins');

const setup = () => adaInvitesBen(stage);

/** Opens the space settings on `tab`. */
async function settings(page: Page, tab: string) {
	await page.getByRole('button', { name: 'Space settings' }).click();
	await page.getByRole('tab', { name: tab }).click();
}

/** Whether a row is wholly inside the message list's viewport. */
async function inView(page: Page, row: Locator): Promise<boolean> {
	if (!(await row.count())) return false;
	const list = await page.getByRole('log').elementHandle();
	return row.evaluate((el, list) => {
		const box = el.getBoundingClientRect();
		const view = (list as HTMLElement).getBoundingClientRect();
		return box.top >= view.top - 1 && box.bottom <= view.bottom + 1;
	}, list);
}

describe('topic and pinned messages in Chromium', () => {
	it("✓ Ada sets #general's topic and Ben reads it; Ada pins Ben's message, Ben opens Pinned and jumps to it", async () => {
		const { ada, ben } = await setup();
		// Ada writes the topic in Space settings → Channels → #general
		await settings(ada.page, 'Channels');
		await ada.page
			.getByTestId('channel-settings')
			.getByRole('button', { name: /general/, expanded: false })
			.click();
		await ada.page.getByLabel('Channel topic').fill('Middlemarch, one chapter a week');
		await ada.page.getByRole('button', { name: 'Save topic' }).click();
		await ada.page.getByText('Topic saved').first().waitFor();
		await ada.page.keyboard.press('Escape');
		// ✓ both headers show it
		for (const page of [ada.page, ben.page])
			await expect
				.poll(() => page.getByTestId('channel-topic').textContent(), { timeout: 20_000 })
				.toBe('Middlemarch, one chapter a week');
		// ✓ Ben, without Manage channels, cannot edit it
		await settings(ben.page, 'Channels');
		await ben.page
			.getByTestId('channel-settings')
			.getByRole('button', { name: /general/, expanded: false })
			.click();
		expect(await ben.page.getByLabel('Channel topic').isDisabled()).toBe(true);
		expect(await ben.page.getByRole('button', { name: 'Save topic' }).count()).toBe(0);
		await ben.page.keyboard.press('Escape');

		// Ben asks something, then the conversation moves on well past it
		await send(ben.page, 'Who has the Penguin edition?');
		await expect
			.poll(() => texts(ada.page), { timeout: 20_000 })
			.toContain('Who has the Penguin edition?');
		const later = Array.from({ length: 30 }, (_, i) => `Page ${i + 1} notes`);
		for (const text of later) await send(ada.page, text);
		await expect.poll(() => texts(ben.page), { timeout: 30_000 }).toContain('Page 30 notes');

		// ✓ Ben, without Manage messages, is offered no pin
		const row = message(ben.page, 'Page 30 notes');
		await row.hover();
		expect(await row.getByRole('button', { name: 'Pin message' }).count()).toBe(0);

		// Ada pins Ben's question from its toolbar
		const question = message(ada.page, 'Who has the Penguin edition?');
		await question.scrollIntoViewIfNeeded();
		await question.hover();
		await question.getByRole('button', { name: 'Pin message' }).click();
		await ada.page.getByText('Message pinned').first().waitFor();

		// ✓ Ben's Pinned panel lists it; a click jumps back to it (the notices are closed first: a
		// click on one moves the focus out of the panel, which closes it)
		await dismissNotices(ben.page);
		await ben.page.getByTestId('pinned-button').click();
		const pinned = ben.page.getByTestId('pinned-message');
		await expect
			.poll(() => pinned.allTextContents(), { timeout: 20_000 })
			.toEqual([expect.stringContaining('Who has the Penguin edition?')]);
		expect(await pinned.first().textContent()).toContain('Ben');
		await screenshot(ben.page, 'pins-01-pinned-panel');
		const target = message(ben.page, 'Who has the Penguin edition?');
		// ✓ far out of sight (the list follows the newest message)
		expect(await inView(ben.page, target)).toBe(false);
		await pinned.first().click();
		// ✓ the channel scrolls to it and marks it for a moment
		await expect.poll(() => target.count(), { timeout: 10_000 }).toBe(1);
		await expect.poll(() => inView(ben.page, target)).toBe(true);
		await expect.poll(() => target.evaluate((el) => el.classList.contains('found'))).toBe(true);
		expect(await ben.page.getByTestId('pinned-panel').count()).toBe(0);

		// ✓ Ada unpins it from the panel: Ben's list empties
		await ada.page.getByTestId('pinned-button').click();
		await ada.page.getByRole('button', { name: 'Unpin message of Ben' }).click();
		await ben.page.getByTestId('pinned-button').click();
		await expect
			.poll(() => ben.page.getByTestId('pinned-panel').textContent(), { timeout: 20_000 })
			.toContain('No pinned messages yet');
	});
});

describe('role colours and the member pop-over in Chromium', () => {
	it('✓ Ada colours a role and gives it to Ben: his name shows in it; the pop-over shows his roles and Mention fills the composer', async () => {
		const { ada, ben } = await setup();
		await send(ben.page, 'Hello from Ben');
		await expect.poll(() => texts(ada.page), { timeout: 20_000 }).toContain('Hello from Ben');

		// Ada makes a role "Readers", colours it, and gives it to Ben
		await settings(ada.page, 'Roles');
		await ada.page.getByLabel('New role name').fill('Readers');
		await ada.page.getByRole('button', { name: 'Create role' }).click();
		await ada.page.getByLabel('Colour of Readers').fill('#3ba55c');
		await expect
			.poll(() => ada.page.getByTestId('role-colour').textContent(), { timeout: 10_000 })
			.toBe('#3ba55c');
		await ada.page.getByRole('tab', { name: 'Members' }).click();
		await ada.page.getByRole('group', { name: 'Roles of Ben' }).getByLabel('Readers').check();
		await ada.page.keyboard.press('Escape');

		const green = 'rgb(59, 165, 92)';
		const authorColour = (page: Page) =>
			message(page, 'Hello from Ben')
				.getByTestId('author')
				.evaluate((el) => getComputedStyle(el).color);
		// ✓ Ben's name is green in the messages, on both sides, and in the member list
		for (const page of [ada.page, ben.page])
			await expect.poll(() => authorColour(page), { timeout: 20_000 }).toBe(green);
		const inList = ada.page
			.getByRole('complementary', { name: 'Members' })
			.getByTestId('member')
			.filter({ hasText: 'Ben' })
			.locator('.name');
		await expect.poll(() => inList.evaluate((el) => getComputedStyle(el).color)).toBe(green);
		// ✓ Ada's own name, with no coloured role, is not
		const adaName = message(ada.page, 'Welcome!').getByTestId('author');
		expect(await adaName.evaluate((el) => getComputedStyle(el).color)).not.toBe(green);

		// Ada clicks Ben's name on his message: his card
		await dismissNotices(ada.page);
		await message(ada.page, 'Hello from Ben').getByTestId('author').click();
		const card = ada.page.getByTestId('member-popover');
		await card.waitFor();
		expect(await card.getByTestId('popover-name').textContent()).toContain('Ben');
		// ✓ his roles as chips (in the role's colour), and when he joined
		expect(
			(await card.getByTestId('popover-roles').locator('li').allTextContents()).map((t) => t.trim())
		).toEqual(['Readers']);
		expect(
			await card
				.getByTestId('popover-roles')
				.locator('.dot')
				.evaluate((el) => getComputedStyle(el).backgroundColor)
		).toBe(green);
		expect(await card.getByTestId('popover-joined').textContent()).toContain(
			String(new Date().getFullYear())
		);
		// ✓ and "Message in a new thread" (threads.test.ts follows it)
		expect(await card.getByRole('button', { name: 'Message in a new thread' }).count()).toBe(1);
		await screenshot(ada.page, 'pins-02-member-popover');
		// ✓ Mention puts "@Ben " in the composer; sent, it mentions Ben
		await card.getByRole('button', { name: 'Mention' }).click();
		expect(await card.count()).toBe(0);
		await expect.poll(() => composer(ada.page).inputValue()).toBe('@Ben ');
		await composer(ada.page).pressSequentially('see the pins');
		await composer(ada.page).press('Enter');
		await expect
			.poll(() => message(ben.page, 'see the pins').getAttribute('data-mentions-me'), {
				timeout: 20_000
			})
			.toBe('true');

		// ✓ the member list opens the same card, and Escape closes it
		await ben.page
			.getByRole('complementary', { name: 'Members' })
			.getByTestId('member')
			.filter({ hasText: 'Ada' })
			.click();
		const bens = ben.page.getByTestId('member-popover');
		await bens.waitFor();
		expect(await bens.getByTestId('popover-name').textContent()).toContain('Ada');
		expect(await bens.getByTestId('popover-roles').count()).toBe(0);
		await ben.page.keyboard.press('Escape');
		expect(await bens.count()).toBe(0);
	});
});
