/**
 * An embedding app declares its own document type with its own rule table: a poll board where any
 * member opens a poll, only its author closes it, and anyone votes once under their own name.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as A from '@automerge/automerge';
import {
	all,
	invalid,
	requires,
	RuleSet,
	VALID,
	Permission,
	type RuleCheck
} from '../../src/lib/index.js';
import { deliver, personas, shutdown, userOf } from '../support/personas.js';

interface Board {
	polls: Record<
		string,
		{ question: string; author: string; closed?: boolean; votes: Record<string, string> }
	>;
}

const authorIsSigner: RuleCheck<Board> = (ctx) => {
	const existing = ctx.before.polls?.[ctx.params.poll!]?.author;
	const author =
		existing ??
		ctx.ops.find((o) => o.kind === 'put' && o.path.join('/') === `polls/${ctx.params.poll}/author`)
			?.value;
	return author === ctx.signer ? VALID : invalid('only the poll author may');
};
const createdHere: RuleCheck<Board> = (ctx) =>
	ctx.createdHere(['polls', ctx.params.poll!]) ? VALID : invalid('set when the poll is opened');
const ownVote: RuleCheck<Board> = (ctx) =>
	ctx.params.voter === ctx.signer ? VALID : invalid('vote only as yourself');

const board = {
	name: 'example/polls',
	init: (d: Board) => {
		d.polls = {};
	},
	rules: new RuleSet<Board>([
		{
			pattern: 'polls/:poll',
			description: 'members open polls',
			check: requires(Permission.SEND_MESSAGES, 'SEND_MESSAGES')
		},
		{ pattern: 'polls/:poll/question', description: 'set on opening', check: createdHere },
		{
			pattern: 'polls/:poll/author',
			description: 'the opener',
			check: all(createdHere, authorIsSigner)
		},
		{ pattern: 'polls/:poll/votes', description: 'created with the poll', check: createdHere },
		{ pattern: 'polls/:poll/closed', description: 'only the author closes', check: authorIsSigner },
		{ pattern: 'polls/:poll/votes/:voter', description: 'one vote, as yourself', check: ownVote }
	])
};

describe('app-declared document types', async () => {
	const cast = await personas('ana', 'ben');
	afterAll(() => shutdown(Object.values(cast)));
	const space = await cast.ana.client.createSpace({ name: 'Club' });
	await space.addMember(await cast.ben.client.memberCard());
	await deliver(cast.ana, cast.ben, space.id);

	it("✓ members use the document under the app's rules, and everyone enforces them", async () => {
		const anaBoard = await space.openDocument(board);
		await anaBoard.change((d) => {
			d.polls['lunch'] = {
				question: new A.ImmutableString('Pizza?') as never,
				author: new A.ImmutableString(userOf(cast.ana)) as never,
				votes: {}
			};
		});
		await deliver(cast.ana, cast.ben, space.id, { also: [anaBoard.idBytes] });
		const benBoard = await cast.ben.client.space(space.id)!.openDocument(board);
		await cast.ben.client.space(space.id)!.settled();
		expect(String(benBoard.value.polls['lunch']!.question)).toBe('Pizza?');

		await benBoard.change((d) => {
			d.polls['lunch']!.votes[userOf(cast.ben)] = new A.ImmutableString('yes') as never;
		});
		await expect(
			benBoard.change((d) => {
				d.polls['lunch']!.closed = true;
			})
		).rejects.toMatchObject({ code: 'not-authorized' });
		await expect(
			benBoard.change((d) => {
				d.polls['lunch']!.votes[userOf(cast.ana)] = new A.ImmutableString('no') as never;
			})
		).rejects.toMatchObject({ code: 'not-authorized' });
		await deliver(cast.ben, cast.ana, space.id, { also: [anaBoard.idBytes] });
		await space.settled();
		expect(Object.keys(anaBoard.value.polls['lunch']!.votes)).toEqual([userOf(cast.ben)]);
		expect(anaBoard.value.polls['lunch']!.closed).toBeUndefined();
	});
});
