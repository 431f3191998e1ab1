/** Debian's Chromium through playwright-core; never a downloaded browser. */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export function chromiumPath(): string {
	const fromEnv = process.env.CHROMIUM_PATH;
	if (fromEnv) return fromEnv;
	try {
		return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
	} catch {
		throw new Error('chromium is not installed: apt-get install -y chromium (see .ci/run)');
	}
}

export function launch(): Promise<Browser> {
	return chromium.launch({
		executablePath: chromiumPath(),
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
	});
}

export const ARTIFACTS = 'test-results/screenshots';
mkdirSync(ARTIFACTS, { recursive: true });
