/**
 * Threads as a channel shows them: a message posted in the thread of another (its root) is left out
 * of the channel's list and shown in the thread; the root carries a summary ("3 replies · last reply
 * at …"). The thread's messages live in the channel document (a `thread` field naming the root, see
 * authority/threads.ts): a thread costs no document, no key and no envelope of its own.
 */
import { NO_THREAD_OF_A_THREAD } from '../authority/threads.js';
import { CharterError } from '../errors.js';
import type { UserId } from '../identity/ids.js';
import type { Channel, Message, SendOptions } from './Channel.js';

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
export class ThreadIndex {
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

const NONE: readonly Message[] = Object.freeze([]);

function summaryOf(thread: readonly Message[]): ThreadSummary {
	const posters: UserId[] = [];
	for (const m of thread) if (!posters.includes(m.author)) posters.push(m.author);
	return { count: thread.length, lastAt: thread.at(-1)!.createdAt, posters };
}

/**
 * One thread of a channel: its root (as it is now; `'deleted'` once deleted — the thread stays
 * readable and open) and its messages. Get one with `channel.thread(rootId)`.
 */
export class Thread {
	/** @internal Made by `channel.thread`. */
	constructor(
		readonly channel: Channel,
		readonly rootId: string
	) {}

	/** The root as shown now; `'deleted'`; undefined while this device does not hold it. */
	get root(): Message | 'deleted' | undefined {
		return this.channel.lookup(this.rootId);
	}

	/** The thread's messages in display order (not the root). */
	get messages(): readonly Message[] {
		return this.channel.threadMessages(this.rootId);
	}

	/** The summary the root shows (undefined: nothing posted in the thread yet). */
	get summary(): ThreadSummary | undefined {
		const messages = this.messages;
		return messages.length ? summaryOf(messages) : undefined;
	}

	/** Calls `listener` with the thread's messages now and whenever they change; returns an unsubscribe. */
	subscribe(listener: (messages: readonly Message[]) => void): () => void {
		let last: readonly Message[] | undefined;
		return this.channel.subscribe(() => {
			const messages = this.messages;
			if (messages === last) return;
			last = messages;
			listener(messages);
		});
	}

	/** Posts in the thread (needs SEND_MESSAGES, as any message). */
	send(text: string, options: Omit<SendOptions, 'thread'> = {}): Promise<Message> {
		return this.channel.send(text, { ...options, thread: this.rootId });
	}
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
