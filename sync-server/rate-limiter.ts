/**
 * Per-connection token buckets for messages and bytes. A bucket starts full, refills continuously
 * at the sustained rate and holds a burst of several seconds' worth. Honest clients are bursty: a
 * device opening Charter syncs every space and channel document at once (a few messages each),
 * so the message burst is generous; a flood still trips within seconds.
 */
export const MESSAGE_BURST_SECONDS = 10;
export const BYTE_BURST_SECONDS = 4;

export class RateLimiter {
	#messages: number;
	#bytes: number;
	#refilledAt = performance.now();

	constructor(
		private readonly messagesPerSecond: number,
		private readonly bytesPerSecond: number
	) {
		this.#messages = messagesPerSecond * MESSAGE_BURST_SECONDS;
		this.#bytes = bytesPerSecond * BYTE_BURST_SECONDS;
	}

	/** Takes one message of `size` bytes; false when either bucket runs dry. */
	take(size: number): boolean {
		const now = performance.now();
		const elapsed = (now - this.#refilledAt) / 1000;
		this.#refilledAt = now;
		this.#messages =
			Math.min(
				this.messagesPerSecond * MESSAGE_BURST_SECONDS,
				this.#messages + elapsed * this.messagesPerSecond
			) - 1;
		this.#bytes =
			Math.min(
				this.bytesPerSecond * BYTE_BURST_SECONDS,
				this.#bytes + elapsed * this.bytesPerSecond
			) - size;
		return this.#messages >= 0 && this.#bytes >= 0;
	}
}

/** A sliding one-hour window of document creations (of one connection, or of one address). */
export class CreationWindow {
	#times: number[] = [];

	constructor(private readonly perHour: number) {}

	/** True if one more creation fits in the last hour (does not record it). */
	allows(now = Date.now()): boolean {
		const hourAgo = now - 3_600_000;
		while (this.#times.length && this.#times[0]! <= hourAgo) this.#times.shift();
		return this.#times.length < this.perHour;
	}

	record(now = Date.now()): void {
		this.#times.push(now);
	}

	/** True if nothing was created in the last hour. */
	empty(now = Date.now()): boolean {
		this.allows(now); // prunes
		return this.#times.length === 0;
	}
}

/** Counts events in fixed windows of `windowMs`: "more than N in a window" without a timestamp list. */
export class CountWindow {
	#count = 0;
	#startedAt = -Infinity;

	constructor(private readonly windowMs: number) {}

	/** Adds `n` events and returns how many the current window holds. */
	add(n: number, now = Date.now()): number {
		if (now - this.#startedAt >= this.windowMs) {
			this.#startedAt = now;
			this.#count = 0;
		}
		this.#count += n;
		return this.#count;
	}
}

/**
 * At most one log line per reason per interval: the first occurrence is logged, later ones within
 * the interval are only counted, and the next line says how many were left out.
 */
export class LogThrottle {
	readonly #next = new Map<string, { at: number; suppressed: number }>();

	constructor(private readonly intervalMs: number) {}

	/** The number of lines left out since the last one, or undefined if this one is left out too. */
	admit(reason: string, now = Date.now()): number | undefined {
		const state = this.#next.get(reason);
		if (state && now < state.at) {
			state.suppressed++;
			return undefined;
		}
		const suppressed = state?.suppressed ?? 0;
		this.#next.set(reason, { at: now + this.intervalMs, suppressed: 0 });
		return suppressed;
	}
}
