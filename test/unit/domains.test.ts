/**
 * Every domain string and format magic lives in one module (src/lib/crypto/domains.ts), each with
 * its comment: this shows the values are the documented ones (changing one is a wire break), that
 * no two are equal, and that no other module of the library defines a `charter/vN/` string or a
 * `'CH?'` magic of its own.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
	AUTOMERGE_CHUNK_MAGIC,
	DOMAIN,
	KDF,
	LINK_PREFIX,
	MAGIC,
	MESSAGE_TYPE,
	SALT,
	SEAL_PREFIX,
	SELF_TEST,
	SHARE_DOCUMENT_MAGIC
} from '../../src/lib/crypto/domains.js';
import { utf8 } from '../../src/lib/util/bytes.js';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe('domains: every tag and magic in one place', () => {
	it('✓ the signature and hash tags are the documented `charter/vN/<name>\\0` strings', () => {
		expect(Object.fromEntries(Object.entries(DOMAIN).map(([k, v]) => [k, text(v)]))).toEqual({
			entry: 'charter/v1/entry\0',
			lockbox: 'charter/v1/lockbox\0',
			deviceCertificate: 'charter/v1/device-certificate\0',
			genesis: 'charter/v1/genesis\0',
			userCard: 'charter/v1/user-card\0',
			spaceId: 'charter/v1/space-id\0',
			envelopeId: 'charter/v1/envelope-id\0',
			actor: 'charter/v1/actor\0',
			epochId: 'charter/v1/epoch-id\0',
			appDocument: 'charter/v1/app-document\0',
			inviteId: 'charter/v1/invite-id\0',
			inviteProof: 'charter/v1/invite-proof\0',
			inviteCheck: 'charter/v1/invite-check\0',
			account: 'charter/v1/account\0',
			deviceLink: 'charter/v1/device-link\0',
			friendSetup: 'charter/v1/friend-setup\0',
			friendRequest: 'charter/v1/friend-request\0',
			friendRequestCheck: 'charter/v1/friend-request-check\0',
			profile: 'charter/v1/profile\0',
			fragment: 'charter/v1/fragment\0',
			entryId: 'charter/v1/entry-id\0',
			publication: 'charter/v1/publication\0',
			publicationBytes: 'charter/v2/publication\0',
			publicationBucketed: 'charter/v3/publication\0',
			publisherActor: 'charter/v1/publisher-actor\0',
			peerAuth: 'charter/v1/peer-auth\0',
			signal: 'charter/v1/signal\0',
			identityRotation: 'charter/v1/identity-rotation\0',
			rotationPointer: 'charter/v1/rotation-pointer\0',
			rotationFollow: 'charter/v1/rotation-follow\0'
		});
	});

	it('✓ the format magics are the documented three bytes, one letter per format', () => {
		expect(Object.fromEntries(Object.entries(MAGIC).map(([k, v]) => [k, text(v)]))).toEqual({
			entry: 'CHE',
			lockbox: 'CHL',
			fragment: 'CHF',
			body: 'CHB',
			genesis: 'CHG',
			invite: 'CHI',
			deviceCertificate: 'CHC',
			userCard: 'CHU',
			profile: 'CHP',
			deviceLinkCode: 'CHK',
			deviceLinkRequest: 'CHQ',
			deviceLinkResponse: 'CHR',
			friendKit: 'CHV',
			friendRequest: 'CHW',
			peerAuth: 'CHA',
			signal: 'CHS',
			identityRotation: 'CHT',
			rotationChain: 'CHN',
			rotationFollow: 'CHD'
		});
		expect([...SHARE_DOCUMENT_MAGIC]).toEqual([0xff, 0xff, 0xff, 0xff, 0x46, 0x52]);
		expect([...AUTOMERGE_CHUNK_MAGIC]).toEqual([0x85, 0x6f, 0x4a, 0x83]);
	});

	it('✓ the salts, self-test inputs, link prefixes and message types are the documented strings', () => {
		expect(Object.fromEntries(Object.entries(SALT).map(([k, v]) => [k, text(v)]))).toEqual({
			root: 'charter/v1/root',
			invite: 'charter/v1/invite'
		});
		expect(SELF_TEST).toEqual({
			signingSeed: 'charter/v1/self-test',
			signingMessage: 'self-test',
			agreementA: 'charter/v1/self-test/a',
			agreementB: 'charter/v1/self-test/b'
		});
		expect(LINK_PREFIX).toEqual({
			invite: 'charter-invite:',
			deviceLink: 'charter-link:',
			friendRecovery: 'charter-recover:'
		});
		expect(MESSAGE_TYPE).toEqual({ peerAuth: 'charter-peer-auth' });
		expect(SEAL_PREFIX).toBe('charter-seal:');
		expect(KDF.userEncryption(3)).toBe('charter/v1/kdf/user-encryption/3');
	});

	it('✓ no two tags are equal, within a kind or across kinds', () => {
		const all = [
			...Object.values(DOMAIN).map(text),
			...Object.values(SALT).map(text),
			...Object.values(KDF).map((v) => (typeof v === 'string' ? v : v(0))),
			...Object.values(SELF_TEST),
			...Object.values(LINK_PREFIX),
			...Object.values(MESSAGE_TYPE),
			SEAL_PREFIX
		];
		expect(new Set(all).size).toBe(all.length);
		const magics = Object.values(MAGIC).map(text);
		expect(new Set(magics).size).toBe(magics.length);
		// ✓ no magic is the start of another record kind's magic
		for (const m of magics) expect(text(SHARE_DOCUMENT_MAGIC).startsWith(m)).toBe(false);
		expect(utf8.encode('CH').length).toBe(2);
	});

	it('✓ no module of the library outside domains.ts defines a domain string or a format magic', () => {
		const root = join(__dirname, '../../src/lib');
		const files: string[] = [];
		const walk = (dir: string) => {
			for (const name of readdirSync(dir)) {
				const path = join(dir, name);
				if (statSync(path).isDirectory()) walk(path);
				else if (/\.(ts|js|svelte)$/.test(name)) files.push(path);
			}
		};
		walk(root);
		const offenders: string[] = [];
		for (const file of files) {
			const rel = relative(root, file);
			if (rel === join('crypto', 'domains.ts')) continue;
			readFileSync(file, 'utf8')
				.split('\n')
				.forEach((line, i) => {
					const code = line.trim();
					if (code.startsWith('*') || code.startsWith('/*') || code.startsWith('//')) return;
					const defines =
						/['"`]charter\/v\d+\//.test(code) || // a domain tag, KDF info or salt
						/['"`]charter-[a-z-]+:['"`]/.test(code) || // a link or message prefix
						/['"`]charter-peer-auth['"`]/.test(code) || // a message type
						/encode\(\s*['"`]CH[A-Z]['"`]\s*\)/.test(code) || // a format magic
						/0x43,\s*0x48,\s*0x[0-9a-f]{2}/i.test(code) || // a format magic as bytes
						/0x85,\s*0x6f,\s*0x4a,\s*0x83/i.test(code); // Automerge's chunk magic
					if (defines) offenders.push(`${rel}:${i + 1}: ${code}`);
				});
		}
		// ✓ the scan found the library's modules, and every tag is defined in domains.ts only
		expect(files.length).toBeGreaterThan(50);
		expect(offenders).toEqual([]);
	});
});
