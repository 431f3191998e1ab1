import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig, type Plugin } from 'vite';

/**
 * Automerge is WebAssembly. Its "browser" entry imports the .wasm file as an ES module (which needs
 * vite-plugin-wasm), and its base64 entry inlines 4.9 MB of base64 into a JS chunk and initialises
 * through a deprecated wasm-bindgen call. Instead, in the browser build, `@automerge/automerge`
 * becomes this module: the .wasm ships as a separate asset, is compiled while it streams, and
 * initialises the one `slim` instance that automerge-repo shares, before any importer runs
 * (top-level await). Only public package exports are used. Node (the SSR build, tests, the sync
 * server) keeps Automerge's own Node entry.
 */
const AUTOMERGE = '\0charter:automerge';
function automergeWasm(): Plugin {
	return {
		name: 'charter:automerge-wasm',
		enforce: 'pre',
		applyToEnvironment: (environment) => environment.config.consumer === 'client',
		resolveId(id) {
			if (id === '@automerge/automerge') return AUTOMERGE;
		},
		load(id) {
			if (id !== AUTOMERGE) return;
			return [
				"import wasmUrl from '@automerge/automerge/automerge.wasm?url';",
				"import { initializeWasm, isWasmInitialized } from '@automerge/automerge/slim';",
				'if (!isWasmInitialized()) await initializeWasm(fetch(wasmUrl));',
				"export * from '@automerge/automerge/slim';"
			].join('\n');
		}
	};
}

/**
 * The library picks its storage per platform with lazy imports, so browsers never run the Node
 * branch; but a bundler still follows it. Keep automerge-repo's Node file-system adapter (and
 * rimraf, glob… behind it) out of the browser bundle.
 */
const NODE_ONLY = '\0charter:node-only-storage';
function nodeOnlyStorage(): Plugin {
	return {
		name: 'charter:node-only-storage',
		enforce: 'pre',
		applyToEnvironment: (environment) => environment.config.consumer === 'client',
		resolveId(id) {
			if (id === '@automerge/automerge-repo-storage-nodefs') return NODE_ONLY;
		},
		load(id) {
			if (id !== NODE_ONLY) return;
			return [
				'export class NodeFSStorageAdapter {',
				'\tconstructor() {',
				"\t\tthrow new Error('NodeFSStorageAdapter runs in Node only; browsers store in IndexedDB');",
				'\t}',
				'}'
			].join('\n');
		}
	};
}

export default defineConfig({
	plugins: [automergeWasm(), nodeOnlyStorage(), sveltekit()],
	optimizeDeps: {
		// One pre-bundled copy of Automerge for `vite dev`, shared by the module above and automerge-repo.
		include: ['@automerge/automerge/slim', '@automerge/automerge-repo'],
		exclude: ['@automerge/automerge']
	},
	build: { target: 'es2022', chunkSizeWarningLimit: 1024 }
});
