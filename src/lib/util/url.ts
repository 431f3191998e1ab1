/**
 * Sync server addresses. One check for every place a WebSocket URL enters Charter — options,
 * invites, device-link codes, settings — so an address that can never connect is refused once, at
 * the boundary, instead of being retried every few seconds for as long as the client runs.
 */

/** Longest address accepted (far above any real host name; keeps a crafted invite small). */
export const MAX_SYNC_SERVER_URL = 2048;

/**
 * A `ws://` or `wss://` URL with a host and, if it names one, a port from 1 to 65535, no user name
 * or password, and no fragment. `ws://127.0.0.1:0` and `ws://` are refused.
 */
export function isSyncServerUrl(url: unknown): boolean {
	if (typeof url !== 'string' || url.length > MAX_SYNC_SERVER_URL) return false;
	if (!/^wss?:\/\/[^\s/?#]+/i.test(url)) return false;
	let parsed: URL;
	try {
		parsed = new URL(url);
	} catch {
		return false;
	}
	if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') return false;
	if (!parsed.hostname || parsed.username || parsed.password || parsed.hash) return false;
	// URL drops a port equal to the scheme's default; an explicit one must be 1–65535
	const explicit = /^wss?:\/\/(?:\[[^\]]*\]|[^/:?#]*):(\d*)(?:[/?#]|$)/i.exec(url)?.[1];
	if (explicit !== undefined) {
		const port = Number(explicit);
		if (!explicit.length || !Number.isInteger(port) || port < 1 || port > 65535) return false;
	}
	return true;
}
