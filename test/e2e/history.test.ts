/**
 * History visibility in Chromium (issue 16, item 10), between two people through the sync server.
 * Ada hides #general's history from @everyone in the channel settings (the permission editor names
 * it "Read message history (messages from before joining)"), says something, and invites Cy. Cy
 * joins: #general tells him "Messages from before you joined are hidden in this channel", shows
 * nothing said before, and what he says reaches Ada — under a key his client made on joining. Ada
 * answers, and Cy reads her answer (a new history segment began at his join), also after a reload.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import {
	closeUsers,
	createSpace,
	inviteLink,
	launch,
	onboard,
	openUser,
	screenshot,
	send,
	type User
} from './browser.js';

let browser: Browser;
let users: User[] = [];

const texts = (page: Page) => page.getByRole('log').locator('.text').allTextContents();

async function open(label: string, url?: string): Promise<User> {
	const user = await openUser(browser, label, { url: url ?? inject('baseUrl') });
	users.push(user);
	return user;
}

beforeAll(async () => {
	browser = await launch();
});
afterEach(async (context) => {
	const problems = await closeUsers(users, 'history', context.task.result?.state === 'fail');
	users = [];
	expect(problems).toEqual([]);
});
afterAll(async () => {
	await browser?.close();
});

describe('history visibility in Chromium', () => {
	it('✓ Cy joins #general with its history hidden: he sees the notice and nothing said before, and reads Ada’s answer', async () => {
		const ada = await open('ada');
		await onboard(ada.page, 'Ada');
		await createSpace(ada.page, 'Book club');
		await send(ada.page, 'Welcome, everyone!');
		await expect.poll(() => texts(ada.page)).toEqual(['Welcome, everyone!']);

		// Ada denies @everyone the history of #general in its permission overwrites
		await ada.page.getByRole('button', { name: 'Space settings' }).click();
		await ada.page.getByRole('tab', { name: 'Channels' }).click();
		await ada.page
			.getByTestId('channel-settings')
			.getByRole('button', { name: 'general replicated' })
			.click();
		const permission = ada.page.getByLabel('Permission', { exact: true });
		// ✓ the editor lists the permission with a label that says what it decides
		await permission.selectOption({ label: 'Read message history (messages from before joining)' });
		await ada.page.getByLabel('Overwrite for').selectOption({ label: '@everyone' });
		await ada.page.getByLabel('Allow or deny').selectOption('deny');
		await ada.page.getByRole('button', { name: 'Set', exact: true }).click();
		await ada.page
			.locator('.overwrites')
			.getByText('− Read message history (messages from before joining)')
			.waitFor();
		await screenshot(ada.page, 'h01-hide-history');
		await ada.page.keyboard.press('Escape');
		await send(ada.page, 'The twist is in chapter nine');
		await expect
			.poll(() => texts(ada.page))
			.toEqual(['Welcome, everyone!', 'The twist is in chapter nine']);
		// ✓ Ada herself (the owner) keeps the history, and sees no notice
		expect(await ada.page.getByTestId('history-hidden').count()).toBe(0);

		const link = await inviteLink(ada.page);
		const cy = await open('cy', link);
		await onboard(cy.page, 'Cy');
		await cy.page.getByRole('button', { name: 'Join space' }).click();
		// ✓ #general says the history is hidden, instead of showing what he cannot read
		await cy.page.getByTestId('history-hidden').waitFor({ timeout: 30_000 });
		expect(await cy.page.getByTestId('history-hidden').textContent()).toContain(
			'Messages from before you joined are hidden in this channel'
		);
		// ✓ what he says reaches Ada; nothing said before his join is on his screen
		await send(cy.page, 'Hi, I am Cy');
		await expect.poll(() => texts(cy.page), { timeout: 20_000 }).toEqual(['Hi, I am Cy']);
		await expect
			.poll(() => texts(ada.page), { timeout: 20_000 })
			.toEqual(['Welcome, everyone!', 'The twist is in chapter nine', 'Hi, I am Cy']);
		expect(await texts(cy.page)).toEqual(['Hi, I am Cy']);
		// ✓ Ada answers after his join, and Cy reads it
		await send(ada.page, 'Welcome, Cy!');
		await expect
			.poll(() => texts(cy.page), { timeout: 20_000 })
			.toEqual(['Hi, I am Cy', 'Welcome, Cy!']);
		await expect
			.poll(() => texts(ada.page))
			.toEqual([
				'Welcome, everyone!',
				'The twist is in chapter nine',
				'Hi, I am Cy',
				'Welcome, Cy!'
			]);
		await screenshot(cy.page, 'h02-history-hidden');
		// ✓ after a reload Cy reads the same, and still nothing from before
		await cy.page.reload();
		await expect
			.poll(() => texts(cy.page), { timeout: 20_000 })
			.toEqual(['Hi, I am Cy', 'Welcome, Cy!']);
		await cy.page.getByTestId('history-hidden').waitFor({ timeout: 20_000 });
	});
});
