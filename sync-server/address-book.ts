/**
 * What the server remembers per remote address (IP), across that address's connections: documents
 * it created this hour, changes it sent that were refused, and which log lines about it were
 * written lately. Many connections from one address cannot multiply a per-connection limit, and a
 * misbehaving address cannot fill the log however often it reconnects.
 */
import { CountWindow, CreationWindow, LogThrottle } from './rate-limiter.js';

export interface AddressLimits {
	documentsPerAddressPerHour: number;
	refusedWindowSeconds: number;
}

export interface AddressState {
	readonly address: string;
	readonly creations: CreationWindow;
	/** Refused changes in the current window (see --max-refused-changes). */
	readonly refused: CountWindow;
	/** One log line per reason per refused-changes window. */
	readonly logs: LogThrottle;
	connections: number;
}

/** Forget idle addresses once this many are remembered (checked when a connection opens). */
const SWEEP_ABOVE = 10_000;

export class AddressBook {
	readonly #addresses = new Map<string, AddressState>();

	constructor(private readonly limits: AddressLimits) {}

	/** A connection from `address` opened: its state, kept until the address is idle. */
	open(address: string): AddressState {
		if (this.#addresses.size > SWEEP_ABOVE) this.#sweep();
		let state = this.#addresses.get(address);
		if (!state) {
			const windowMs = this.limits.refusedWindowSeconds * 1000;
			state = {
				address,
				creations: new CreationWindow(this.limits.documentsPerAddressPerHour),
				refused: new CountWindow(windowMs),
				logs: new LogThrottle(windowMs),
				connections: 0
			};
			this.#addresses.set(address, state);
		}
		state.connections++;
		return state;
	}

	close(state: AddressState): void {
		state.connections--;
		if (state.connections <= 0 && state.creations.empty()) this.#addresses.delete(state.address);
	}

	/** An address with no connection and no creation this hour has nothing worth remembering. */
	#sweep(): void {
		for (const [address, state] of this.#addresses)
			if (state.connections <= 0 && state.creations.empty()) this.#addresses.delete(address);
	}
}
