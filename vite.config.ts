import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

// Automerge's "browser" build imports .wasm as an ES module; its base64 build runs anywhere and
// initialises the wasm that automerge-repo's slim import then shares.
const automergeBase64 = fileURLToPath(
	new URL('./node_modules/@automerge/automerge/dist/mjs/entrypoints/fullfat_base64.js', import.meta.url)
);

export default defineConfig({
	plugins: [sveltekit()],
	resolve: { alias: [{ find: /^@automerge\/automerge$/, replacement: automergeBase64 }] },
	build: { target: 'es2022', chunkSizeWarningLimit: 4096 }
});
