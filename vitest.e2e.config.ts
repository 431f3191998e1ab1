import { defineConfig } from 'vitest/config';

// Browser tests: real Chromium (Debian's package) through playwright-core, against the real sync
// server serving the built client on a loopback port. See test/e2e/global-setup.ts.
export default defineConfig({
	test: {
		include: ['test/e2e/**/*.test.ts'],
		environment: 'node',
		globalSetup: ['test/e2e/global-setup.ts'],
		testTimeout: 120_000,
		hookTimeout: 180_000,
		fileParallelism: false
	}
});
