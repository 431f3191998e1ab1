import { defineConfig } from 'vitest/config';

// Unit, integration and adversarial tests run in Node against the real stack.
// Browser tests (test/e2e) run separately through Playwright: see scripts/e2e.mjs.
export default defineConfig({
	test: {
		include: ['test/**/*.test.ts'],
		exclude: ['test/e2e/**', 'node_modules/**'],
		environment: 'node',
		testTimeout: 60_000,
		hookTimeout: 60_000,
		pool: 'forks',
		reporters: process.env.CI ? ['default'] : ['default']
	}
});
