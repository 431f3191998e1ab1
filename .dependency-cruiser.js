/**
 * The layering of the library, checked by `npm run lint` (dependency-cruiser; issue 14).
 *
 * The layers of src/lib, lowest first (docs/embedding.md, "Layers"). A module may import its own
 * layer and any layer below it, never one above:
 *
 *   errors.ts                CharterError, imports nothing of the library
 *   util/                    bytes, binary readers, tasks, URLs
 *   crypto/                  primitives and every domain string / format magic
 *   identity/                user and device keys, phrase, certificates, profiles, secret stores
 *   encryption/              entries, fragments, lockboxes, the key ring
 *   authority/               rules, validation, the convergent state of a space
 *   sync/                    envelope documents, replicas, durability, peers
 *   platform.ts              the per-runtime stores (files, IndexedDB, memory) Charter.open picks
 *   client/                  Charter, Space, Channel, SharedDocument
 *   index.ts                 the public API
 *   svelte/                  Svelte bindings, on top of index.ts only
 *
 * Apps (the web client in src/routes, the sync server, the home node, the examples) use the
 * library only through src/lib/index.ts; the web client also uses the Svelte bindings.
 * Tests and benchmarks are not apps: they may reach into a layer to test or time it.
 *
 * Type-only imports count (tsPreCompilationDeps): a type that a lower layer needs from a higher
 * one belongs in the lower one.
 */

const lib = '^src/lib/';
const errors = `${lib}errors\\.ts$`;
const util = `${lib}util/`;
const crypto = `${lib}crypto/`;
const identity = `${lib}identity/`;
const encryption = `${lib}encryption/`;
const authority = `${lib}authority/`;
const sync = `${lib}sync/`;
const client = `${lib}client/`;
const platform = `${lib}platform\\.ts$`;
const index = `${lib}index\\.ts$`;
const svelte = `${lib}svelte/`;

/** The `to` of a rule that forbids importing any of the given (higher) layers. */
const above = (...layers) => ({ path: layers });

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
	forbidden: [
		{
			name: 'no-circular',
			comment:
				'An import cycle in the library makes its modules one unit: none can be understood, ' +
				'tested or loaded alone, and the evaluation order decides which sees the other ' +
				'half-initialised. Break it by moving the shared part down a layer.',
			severity: 'error',
			from: { path: lib },
			to: { circular: true }
		},
		{
			name: 'errors-imports-nothing',
			comment:
				'errors.ts is the bottom of the library: every layer throws CharterError, so it may ' +
				'depend on no layer.',
			severity: 'error',
			from: { path: errors },
			to: { path: lib }
		},
		{
			name: 'util-not-up',
			comment:
				'util/ is plain helpers (bytes, binary readers, tasks, URLs) every layer uses; it knows ' +
				'no keys, identities or documents.',
			severity: 'error',
			from: { path: util },
			to: above(crypto, identity, encryption, authority, sync, client, platform, index, svelte)
		},
		{
			name: 'crypto-not-up',
			comment:
				'crypto/ is primitives and domain strings; who holds a key and what it signs is the ' +
				'business of the layers above.',
			severity: 'error',
			from: { path: crypto },
			to: above(identity, encryption, authority, sync, client, platform, index, svelte)
		},
		{
			name: 'identity-not-up',
			comment:
				'identity/ (keys, phrase, certificates, secret stores) is what every higher layer ' +
				'signs and seals with; it knows no envelope, rule or document.',
			severity: 'error',
			from: { path: identity },
			to: above(encryption, authority, sync, client, platform, index, svelte)
		},
		{
			name: 'encryption-not-up',
			comment:
				'encryption/ seals and opens entries and lockboxes for given keys; who may write or ' +
				'read is authority/, moving the bytes is sync/.',
			severity: 'error',
			from: { path: encryption },
			to: above(authority, sync, client, platform, index, svelte)
		},
		{
			name: 'authority-not-up',
			comment:
				'authority/ decides validity as a pure function of the entries. It never imports sync/ ' +
				'(or anything above): sync/ calls the validators authority/ defines, so whatever the ' +
				'two share (the ReplicaValidator contract) lives in authority/.',
			severity: 'error',
			from: { path: authority },
			to: above(sync, client, platform, index, svelte)
		},
		{
			name: 'sync-not-up',
			comment:
				'sync/ moves sealed entries between replicas and peers; the facade that composes it ' +
				'with keys and plans (client/) sits above it.',
			severity: 'error',
			from: { path: sync },
			to: above(client, platform, index, svelte)
		},
		{
			name: 'platform-not-up',
			comment:
				'platform.ts picks the stores of a runtime for client/ (Charter.open); it knows no ' +
				'client object. Nothing in src/lib but client/ itself and index.ts imports client/.',
			severity: 'error',
			from: { path: platform },
			to: above(client, index, svelte)
		},
		{
			name: 'client-not-up',
			comment:
				'client/ is the facade apps get through index.ts; it must not depend on the public ' +
				'entry point or on the Svelte bindings built on it.',
			severity: 'error',
			from: { path: client },
			to: above(index, svelte)
		},
		{
			name: 'svelte-only-through-index',
			comment:
				'svelte/ is an app of the library like any other: it sees src/lib/index.ts only, so ' +
				'the public API is enough to build the web client.',
			severity: 'error',
			from: { path: svelte },
			to: { path: lib, pathNot: [index, svelte] }
		},
		{
			name: 'web-client-only-through-index',
			comment:
				'The web client (src/ outside lib/ and node/: the routes, the service worker) uses the ' +
				'library through index.ts and the Svelte bindings, never a layer directly.',
			severity: 'error',
			from: { path: '^src/(?!lib/|node/)' },
			to: { path: lib, pathNot: [index, svelte] }
		},
		{
			name: 'no-unresolvable-own-import',
			comment:
				'An import of our own code ($lib or a relative path) that does not resolve is a bug, ' +
				'and an edge the rules above cannot see: a broken alias must fail the check, not hide ' +
				'a violation.',
			severity: 'error',
			from: {},
			to: { couldNotResolve: true, path: '^(\\.|\\$lib)' }
		},
		{
			name: 'apps-only-through-index',
			comment:
				'The sync server, the home node and the examples are apps: they use the library only ' +
				'through src/lib/index.ts, the API it promises to keep.',
			severity: 'error',
			from: { path: ['^sync-server/', '^src/node/', '^examples/'] },
			to: { path: lib, pathNot: index }
		}
	],
	options: {
		// Only our own code: a package's internals are not ours to layer.
		doNotFollow: { path: 'node_modules' },
		exclude: { path: '^\\.svelte-kit/' },
		// Count `import type` too: a type a lower layer borrows from a higher one is an upward edge.
		tsPreCompilationDeps: true,
		// Resolves `$lib` and `$lib/...` (SvelteKit's alias) to src/lib. Not tsconfig.json itself: its
		// alias comes from .svelte-kit/tsconfig.json, relative to that directory and without a
		// baseUrl, which dependency-cruiser's resolver (tsconfig-paths) reads relative to the root.
		tsConfig: { fileName: 'tsconfig.depcruise.json' },
		enhancedResolveOptions: {
			exportsFields: ['exports'],
			conditionNames: ['import', 'require', 'node', 'default', 'types'],
			extensions: ['.ts', '.js', '.svelte', '.json']
		},
		reporterOptions: { text: { highlightFocused: true } }
	}
};
