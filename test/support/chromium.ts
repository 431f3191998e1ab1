/** Debian's Chromium driven by playwright-core; never a downloaded browser (tests and benchmarks). */
import { execFileSync } from 'node:child_process';
import { chromium, type Browser } from 'playwright-core';

export function chromiumPath(): string {
	const fromEnv = process.env.CHROMIUM_PATH;
	if (fromEnv) return fromEnv;
	try {
		return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
	} catch {
		throw new Error('chromium is not on PATH: apt-get install -y chromium (.ci/run does it)');
	}
}

export function launch(): Promise<Browser> {
	return chromium.launch({
		executablePath: chromiumPath(),
		args: [
			'--no-sandbox',
			'--disable-gpu',
			'--disable-quic',
			'--no-first-run',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync'
		]
	});
}
