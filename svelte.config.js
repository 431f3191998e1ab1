import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
const config = {
	preprocess: vitePreprocess(),
	kit: {
		// A static SPA: every route falls back to index.html; the sync server serves it.
		adapter: adapter({ pages: 'build', assets: 'build', fallback: 'index.html' })
	}
};

export default config;
