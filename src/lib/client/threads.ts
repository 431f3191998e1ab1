/**
 * Threads as a channel shows them: a message posted in the thread of another (its root) is left out
 * of the channel's list and shown in the thread; the root carries a summary ("3 replies · last reply
 * at …"). The thread's messages live in the channel document (a `thread` field naming the root, see
 * authority/threads.ts): a thread costs no document, no key and no envelope of its own.
 */
import { NO_THREAD_OF_A_THREAD } from '../authority/threads.js';
import { CharterError } from '../errors.js';
import type { UserId } from '../identity/ids.js';

/** What threads need of a message (the channel's `Message` has it all). */
export interface ThreadMessage {
	id: string;
	author: UserId;
	createdAt: number;
	/** In a thread: the id of its root. */
	inThread?: string;
	/** On a root: its thread's summary. */
	thread?: ThreadSummary;
}

/** What a root shows of its thread. */
export interface ThreadSummary {
	/** Messages in the thread (not counting the root; deleted ones left out). */
	count: number;
	/** When the newest of them was written (ms). */
	lastAt: number;
	/** Who wrote in it, first poster first (the root's author only if they posted in it too). */
	posters: readonly UserId[];
}

/**
 * Splits a channel's messages (display order) into the channel's list and its threads, and gives
 * each root its summary. The same root object comes back while its thread did not change, and with
 * no thread at all the list itself comes back.
 */
export class ThreadIndex<Message extends ThreadMessage> {
	#threads = new Map<string, readonly Message[]>();
	#summarised = new Map<string, { base: Message; thread: readonly Message[]; shown: Message }>();
	#lastThreads = new Map<string, readonly Message[]>();

	split(all: readonly Message[]): readonly Message[] {
		if (!this.#threads.size && !all.some((m) => m.inThread)) return all;
		const threads = new Map<string, Message[]>();
		const main: Message[] = [];
		for (const m of all) {
			if (!m.inThread) {
				main.push(m);
				continue;
			}
			let thread = threads.get(m.inThread);
			if (!thread) threads.set(m.inThread, (thread = []));
			thread.push(m);
		}
		// a thread whose messages are the same objects keeps its array (subscribers compare arrays)
		const kept = new Map<string, readonly Message[]>();
		for (const [root, thread] of threads) {
			const before = this.#lastThreads.get(root);
			kept.set(
				root,
				before && before.length === thread.length && before.every((m, i) => m === thread[i])
					? before
					: thread
			);
		}
		this.#threads = this.#lastThreads = kept;
		for (let i = 0; i < main.length; i++) {
			const thread = kept.get(main[i]!.id);
			if (thread) main[i] = this.#withSummary(main[i]!, thread);
		}
		for (const root of this.#summarised.keys()) if (!kept.has(root)) this.#summarised.delete(root);
		return main;
	}

	#withSummary(base: Message, thread: readonly Message[]): Message {
		const last = this.#summarised.get(base.id);
		if (last && last.base === base && last.thread === thread) return last.shown;
		const shown: Message = { ...base, thread: summaryOf(thread) };
		this.#summarised.set(base.id, { base, thread, shown });
		return shown;
	}

	/** The messages of the thread under `root` (display order; empty: none yet). */
	of(root: string): readonly Message[] {
		return this.#threads.get(root) ?? NONE;
	}

	/** The roots of every thread with a message. */
	roots(): string[] {
		return [...this.#threads.keys()];
	}
}

const NONE: readonly never[] = Object.freeze([]);

export function summaryOf(thread: readonly ThreadMessage[]): ThreadSummary {
	const posters: UserId[] = [];
	for (const m of thread) if (!posters.includes(m.author)) posters.push(m.author);
	return { count: thread.length, lastAt: thread.at(-1)!.createdAt, posters };
}

/**
 * Why a stored message cannot be a thread's root (undefined: it can), as `Channel.send` and
 * `Channel.thread` ask: not held here, or in a thread itself (the rule's own refusal, first).
 */
export function rootProblem(root: { thread?: unknown } | undefined): CharterError | undefined {
	if (!root) return new CharterError('invalid-argument', 'no such message to start a thread on');
	if (root.thread !== undefined) return new CharterError('invalid-argument', NO_THREAD_OF_A_THREAD);
	return undefined;
}
