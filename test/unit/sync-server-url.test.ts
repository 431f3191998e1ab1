/**
 * One WebSocket-URL check (src/lib/util/url.ts `isSyncServerUrl`) for every place an address
 * enters: the client's options and settings, invites, device-link codes — and the command lines of
 * the home node (`--sync-server`, `--peer`) and of the sync server (`--peer`). Each accepts exactly
 * what the others accept, so an address one refuses is never taken by another.
 */
import { describe, expect, it } from 'vitest';
import { isSyncServerUrl } from '../../src/lib/index.js';
import { parseNodeConfig } from '../../src/node/config.js';
import { parseConfig } from '../../sync-server/config.js';

const ADDRESSES = [
	'ws://127.0.0.1:3030',
	'wss://sync.example.org',
	'wss://sync.example.org/charter',
	'ws://[::1]:8080',
	'ws://127.0.0.1:0',
	'ws://host:65536',
	'ws://user:secret@host',
	'wss://host/#fragment',
	'ws://',
	'http://host',
	'ws://host name'
];

const accepts = (parse: () => unknown) => {
	try {
		parse();
		return true;
	} catch {
		return false;
	}
};

describe('one WebSocket-URL check', () => {
	it('✓ the home node and the sync server accept exactly the addresses the library accepts', () => {
		const library = ADDRESSES.map((url) => isSyncServerUrl(url));
		// ✓ the list has both kinds
		expect(library).toContain(true);
		expect(library).toContain(false);
		// ✓ ws://127.0.0.1:0, credentials and fragments are refused everywhere, not only in the client
		for (const flag of ['--sync-server', '--peer'])
			expect(
				ADDRESSES.map((url) =>
					accepts(() => parseNodeConfig(['--data', 'd', flag, url], {}, () => ''))
				)
			).toEqual(library);
		expect(ADDRESSES.map((url) => accepts(() => parseConfig(['--peer', url], {})))).toEqual(
			library
		);
	});
});
