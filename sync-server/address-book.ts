/**
 * What the server remembers per remote address (IP), across that address's connections: documents
 * it created this hour, changes it sent that were refused, and which log lines about it were
 * written lately. Many connections from one address cannot multiply a per-connection limit, and a
 * misbehaving address cannot fill the log however often it reconnects.
 */
import type { IncomingMessage } from 'node:http';
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

/**
 * The address a connection's limits are kept under: the peer's IP, or — behind a reverse proxy
 * (`--trust-proxy`) — the last X-Forwarded-For entry, the one the proxy itself appended. IPv4-mapped
 * IPv6 addresses count as their IPv4 address; other IPv6 addresses by their /64 prefix, the block
 * one subscriber usually gets (an address per connection would be free for them).
 */
export function clientAddress(request: IncomingMessage, trustProxy: boolean): string {
	const forwarded = trustProxy ? request.headers['x-forwarded-for'] : undefined;
	const raw =
		(typeof forwarded === 'string' ? forwarded.split(',').at(-1)?.trim() : undefined) ||
		request.socket.remoteAddress ||
		'unknown';
	return addressKey(raw);
}

export function addressKey(address: string): string {
	const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
	if (mapped) return mapped[1]!;
	if (!address.includes(':')) return address;
	const [head = '', tail] = address.split('%')[0]!.toLowerCase().split('::');
	const left = head ? head.split(':') : [];
	const right = tail ? tail.split(':') : [];
	const groups =
		tail === undefined
			? left
			: [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
	return `${groups
		.slice(0, 4)
		.map((g) => g.replace(/^0+(?=.)/, ''))
		.join(':')}::/64`;
}
