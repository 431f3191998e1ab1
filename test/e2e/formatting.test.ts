/**
 * Message formatting in Chromium (issue 16, item 8), between two people through the sync server.
 * Ada writes formatted messages and Ben's client shows them formatted: bold, italic, code, a code
 * block, a quote, a spoiler that stays hidden until he clicks it (or presses Enter on it), links.
 * A message written to attack readers — a script, an event handler, a `javascript:` link — shows as
 * the text it is, and nothing in it runs, on either side. And a 100 KB paste into the composer is
 * kept whole with a clear refusal instead of being cut to 4,000 characters; trimmed to the limit,
 * it sends.
 */
import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_LENGTH } from '../../src/lib/index.js';
import {
	adaInvitesBen,
	composer,
	dismissNotices,
	screenshot,
	send,
	useBrowser,
	shownTexts as texts
} from './browser.js';

const stage = useBrowser('formatting');

/**
 * Ada, with a space of her own and a first message, and Ben, joined by her invite link and
 * reading that message: the cast of every test here, fresh each time.
 */
const setup = () => adaInvitesBen(stage);

describe('formatted messages in Chromium', () => {
	it('✓ Ben sees what Ada formatted: bold, italic, code, a code block, a quote, spoilers, links', async () => {
		const { ada, ben } = await setup();
		const lines = [
			'**Chapter 3** is *the* turning point, see `page 42`',
			'```\nfor (const page of book)\n  read(page);\n```',
			'> Reader, I married him.\nAnd so it ends',
			'The ending: ||Jane marries Rochester|| and ||Bertha dies||',
			'Reviews at https://example.com/reviews and [the publisher](https://publisher.example/jane-eyre)'
		];
		for (const line of lines) await send(ada.page, line);
		const log = ben.page.getByRole('log');
		await expect.poll(() => log.locator('.text').count(), { timeout: 20_000 }).toBe(6);

		// ✓ each construct is its element, with the markers gone
		expect(await log.locator('.text strong').allTextContents()).toEqual(['Chapter 3']);
		expect(await log.locator('.text em').allTextContents()).toEqual(['the']);
		expect(await log.locator('.text code.inline-code').allTextContents()).toEqual(['page 42']);
		expect(await log.locator('.text pre.code-block').allTextContents()).toEqual([
			'for (const page of book)\n  read(page);'
		]);
		// only the line marked > is quoted, the next is Ada's own
		expect(await log.locator('.text blockquote').allTextContents()).toEqual([
			'Reader, I married him.'
		]);
		const all = await texts(ben.page);
		expect(all[1]).toBe('Chapter 3 is the turning point, see page 42');

		// ✓ spoilers are hidden: buttons that say so, their text unreadable and out of reach
		const spoilers = log.getByTestId('spoiler');
		expect(await spoilers.count()).toBe(2);
		expect(await log.getByRole('button', { name: 'Spoiler, press to reveal' }).count()).toBe(2);
		expect(
			await spoilers.first().evaluate((el) => getComputedStyle(el.firstElementChild!).color)
		).toBe('rgba(0, 0, 0, 0)');
		// ✓ a click reveals the first, Enter the second
		await spoilers.first().click();
		await expect.poll(() => spoilers.first().getAttribute('class')).toContain('revealed');
		expect(await spoilers.first().getAttribute('role')).toBeNull();
		expect(await spoilers.first().textContent()).toBe('Jane marries Rochester');
		expect(
			await spoilers.first().evaluate((el) => getComputedStyle(el).color === 'rgba(0, 0, 0, 0)')
		).toBe(false);
		expect(await spoilers.nth(1).getAttribute('role')).toBe('button');
		await dismissNotices(ben.page);
		await ben.page.mouse.move(0, 0);
		await screenshot(ben.page, '33-formatting');

		await spoilers.nth(1).focus();
		await ben.page.keyboard.press('Enter');
		await expect.poll(() => spoilers.nth(1).getAttribute('class')).toContain('revealed');

		// ✓ links open in a new tab with no opener or referrer; a named link shows where it goes
		const links = log.locator('.text a');
		expect(await links.count()).toBe(2);
		const attrs = await links.evaluateAll((as) =>
			as.map((a) => ({
				href: a.getAttribute('href'),
				target: a.getAttribute('target'),
				rel: a.getAttribute('rel'),
				text: a.textContent
			}))
		);
		expect(attrs).toEqual([
			{
				href: 'https://example.com/reviews',
				target: '_blank',
				rel: 'noopener noreferrer nofollow',
				text: 'https://example.com/reviews'
			},
			{
				href: 'https://publisher.example/jane-eyre',
				target: '_blank',
				rel: 'noopener noreferrer nofollow',
				text: 'the publisher (https://publisher.example/jane-eyre)'
			}
		]);
		// ✓ Ada's own client shows the same
		await expect.poll(() => texts(ada.page)).toEqual(all);
	});

	it('✓ an attack message is shown as text: no script runs, no handler, no javascript: link', async () => {
		const { ada, ben } = await setup();
		const attack = [
			'<script>window.__pwned=1</script>',
			'<img src=x onerror="window.__pwned=1">',
			'[click](javascript:window.__pwned=1)',
			'[again](JaVaScRiPt:window.__pwned=1) <a href="javascript:window.__pwned=1">a</a>',
			'<svg onload="window.__pwned=1"></svg> [d](data:text/html,<script>parent.__pwned=1</script>)'
		].join('\n');
		await send(ada.page, attack);
		await send(ada.page, 'and a normal one after it');
		for (const { page } of [ben, ada])
			await expect
				.poll(() => texts(page), { timeout: 20_000 })
				.toEqual(['Welcome!', attack, 'and a normal one after it']);

		for (const { page } of [ben, ada]) {
			const log = page.getByRole('log');
			// ✓ nothing but text came of it: no element from the message, no handler, no bad href
			const found = await log.evaluate((root) => {
				const elements = Array.from(root.querySelectorAll('*'));
				return {
					handlers: elements.flatMap((el) =>
						Array.from(el.attributes)
							.filter((a) => a.name.toLowerCase().startsWith('on'))
							.map((a) => `${el.tagName} ${a.name}`)
					),
					badHrefs: elements
						.filter((el) => el.hasAttribute('href') || el.hasAttribute('src'))
						.map((el) => el.getAttribute('href') ?? el.getAttribute('src') ?? '')
						.filter((url) => !/^https?:/i.test(url.trim())),
					injected: root.querySelectorAll('.text script, .text img, .text svg, .text a').length
				};
			});
			expect(found).toEqual({ handlers: [], badHrefs: [], injected: 0 });
			// ✓ clicking the would-be link (on its very characters) does nothing
			const at = await log.evaluate((root) => {
				const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
				for (let node = walker.nextNode(); node; node = walker.nextNode()) {
					const i = node.textContent!.indexOf('[click]');
					if (i < 0) continue;
					const range = document.createRange();
					range.setStart(node, i + 1);
					range.setEnd(node, i + 6);
					const r = range.getBoundingClientRect();
					return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
				}
				return undefined;
			});
			expect(at).toBeDefined();
			await page.mouse.click(at!.x, at!.y);
			await page.evaluate(
				() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))
			);
			expect(await page.evaluate(() => (window as { __pwned?: unknown }).__pwned)).toBeUndefined();
		}
		await screenshot(ben.page, 'formatting-attack');
	});

	it('✓ a 100 KB paste is kept whole and refused with a clear message; trimmed to the limit, it sends', async () => {
		const { ada, ben } = await setup();
		const { page } = ada;
		const paste = 'All work and no play makes Jack a dull boy. '.repeat(2400).slice(0, 100_000);
		// a real paste, through the clipboard
		await page.bringToFront();
		await page.evaluate((text) => navigator.clipboard.writeText(text), paste);
		await composer(page).focus();
		await page.keyboard.press('ControlOrMeta+V');
		await expect
			.poll(() =>
				composer(page)
					.inputValue()
					.then((v) => v.length)
			)
			.toBe(100_000);

		// ✓ kept whole, the refusal says by how much, Send is off and Enter does not send
		const over = paste.trim().length - MAX_MESSAGE_LENGTH;
		await expect
			.poll(() => page.getByTestId('composer-count').textContent())
			.toBe(`${over.toLocaleString('en-US')} characters over the 4,000-character limit`);
		expect(await page.getByRole('button', { name: 'Send', exact: true }).isDisabled()).toBe(true);
		expect(await composer(page).getAttribute('aria-invalid')).toBe('true');
		await composer(page).press('Enter');
		await dismissNotices(page);
		await screenshot(page, '34-message-too-long');
		expect((await composer(page).inputValue()).length).toBe(100_000);

		// ✓ trimmed to just over the counter's start, it counts; to the limit, it sends
		await composer(page).fill(paste.slice(0, 3612));
		await expect
			.poll(() => page.getByTestId('composer-count').textContent())
			.toBe(`${paste.slice(0, 3612).trim().length.toLocaleString('en-US')} / 4,000`);
		const limit = paste.slice(0, MAX_MESSAGE_LENGTH - 1) + '!';
		await composer(page).fill(limit);
		await expect.poll(() => page.getByTestId('composer-count').textContent()).toBe('4,000 / 4,000');
		expect(await page.getByRole('button', { name: 'Send', exact: true }).isEnabled()).toBe(true);
		await composer(page).press('Enter');
		await expect.poll(() => composer(page).inputValue()).toBe('');
		expect(await page.getByTestId('composer-count').count()).toBe(0);
		// ✓ Ben receives all 4,000 characters
		await expect.poll(() => texts(ben.page), { timeout: 20_000 }).toEqual(['Welcome!', limit]);

		// ✓ an edit has the same limit: over it, the counter says so and Enter does not save
		const mine = page.locator('.message', { hasText: 'Welcome!' });
		await mine.hover();
		await mine.getByRole('button', { name: 'Edit message' }).click();
		const edit = page.getByRole('textbox', { name: 'Edit message' });
		await edit.fill(limit + ' and more');
		await expect
			.poll(() => page.getByTestId('edit-count').textContent())
			.toBe('9 characters over the 4,000-character limit');
		expect(await page.getByRole('button', { name: 'save' }).isDisabled()).toBe(true);
		await edit.press('Enter');
		expect(await edit.inputValue()).toBe(limit + ' and more');
		await edit.fill('Welcome, everyone!');
		await edit.press('Enter');
		await expect
			.poll(() => texts(ben.page), { timeout: 20_000 })
			.toEqual(['Welcome, everyone! (edited)', limit]);
	});
});
