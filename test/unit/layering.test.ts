/**
 * The layering rule of `npm run lint` (.dependency-cruiser.js): the library has no import cycle, no
 * layer imports one above it (authority/ never imports sync/), and apps use it through index.ts.
 * The rule is run on the project — it holds — and on a small tree that breaks it — it bites.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cruise, type ICruiseOptions, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const CONFIG = './.dependency-cruiser.js';

/** Runs the project's rules over `paths` (relative to `baseDir`, by default the repository). */
async function check(
	paths: string[],
	options: Partial<ICruiseOptions> = {}
): Promise<ICruiseResult> {
	const base = await extractDepcruiseOptions(CONFIG);
	// the project's tsconfig (the `$lib` alias) only for the project; a fixture imports relatively
	if (options.baseDir) delete base.tsConfig;
	const tsConfig = base.tsConfig?.fileName ? extractTSConfig(base.tsConfig.fileName) : undefined;
	const { output } = await cruise(
		paths,
		{ ...base, ...options, outputType: 'json' },
		{},
		{ tsConfig }
	);
	return typeof output === 'string' ? (JSON.parse(output) as ICruiseResult) : output;
}

/** Each violation as `rule: from → to`; a cycle (reported once, from either end) as its modules. */
const violations = (result: ICruiseResult) =>
	result.summary.violations
		.map((v) =>
			v.cycle
				? `${v.rule.name}: ${[...new Set([v.from, ...v.cycle.map((c) => c.name)])].sort().join(' ↔ ')}`
				: `${v.rule.name}: ${v.from} → ${v.to}`
		)
		.sort();

const temps: string[] = [];
afterEach(async () => {
	for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A throwaway source tree: `files` maps paths to their contents. */
async function tree(files: Record<string, string>): Promise<string> {
	const dir = await mkdtemp(join(tmpdir(), 'charter-layering-'));
	temps.push(dir);
	for (const [path, text] of Object.entries(files)) {
		await mkdir(dirname(join(dir, path)), { recursive: true });
		await writeFile(join(dir, path), text);
	}
	return dir;
}

describe('the layering of the library', () => {
	it('✓ holds for the library, the web client, the sync server, the home node and the examples', async () => {
		const result = await check(['src', 'sync-server', 'examples']);

		expect(violations(result)).toEqual([]);
		// the rules saw real edges: the web client's `$lib/...` imports resolve into src/lib
		const page = result.modules.find((m) => m.source === 'src/routes/+page.svelte');
		const resolved = page?.dependencies.map((d) => d.resolved) ?? [];
		expect(resolved).toContain('src/lib/index.ts');
		expect(resolved).toContain('src/lib/svelte/index.svelte.ts');
		expect(result.summary.totalCruised).toBeGreaterThan(100);
	});

	it('✓ reports an upward import, a cycle and an app reaching past index.ts', async () => {
		const dir = await tree({
			// identity/ sits below encryption/: an import up into it
			'src/lib/identity/ids.ts':
				"import { seal } from '../encryption/lockbox.js';\nexport const id = seal;\n",
			'src/lib/encryption/lockbox.ts': 'export const seal = 1;\n',
			// authority/ reading a type of sync/ — type-only imports count too
			'src/lib/authority/validator.ts':
				"import type { Replica } from '../sync/replica.js';\nexport type V = Replica;\n",
			'src/lib/sync/replica.ts': 'export interface Replica { id: string }\n',
			// two modules of one layer importing each other
			'src/lib/util/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
			'src/lib/util/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
			// the Svelte bindings, like an app, see index.ts only
			'src/lib/svelte/live.ts': "export { seal } from '../encryption/lockbox.js';\n",
			// the web client reaching past index.ts and the Svelte bindings
			'src/routes/+page.ts': "export { seal } from '../lib/encryption/lockbox.js';\n",
			// the sync server reaching into a layer instead of the public API
			'src/lib/index.ts': "export { seal } from './encryption/lockbox.js';\n",
			'sync-server/main.ts':
				"import { seal } from '../src/lib/index.js';\nimport type { Replica } from '../src/lib/sync/replica.js';\nexport const r: Replica | number = seal;\n"
		});

		const result = await check(['src', 'sync-server'], { baseDir: dir });

		expect(violations(result)).toEqual([
			'apps-only-through-index: sync-server/main.ts → src/lib/sync/replica.ts',
			'authority-not-up: src/lib/authority/validator.ts → src/lib/sync/replica.ts',
			'identity-not-up: src/lib/identity/ids.ts → src/lib/encryption/lockbox.ts',
			'no-circular: src/lib/util/a.ts ↔ src/lib/util/b.ts',
			'svelte-only-through-index: src/lib/svelte/live.ts → src/lib/encryption/lockbox.ts',
			'web-client-only-through-index: src/routes/+page.ts → src/lib/encryption/lockbox.ts'
		]);
	});

	it('✓ reports every layer boundary, each crossed one step up, and an import that does not resolve', async () => {
		// a chain up the layers: each module imports one in the layer just above its own
		const chain = [
			'src/lib/errors.ts',
			'src/lib/util/u.ts',
			'src/lib/crypto/c.ts',
			'src/lib/identity/i.ts',
			'src/lib/encryption/e.ts',
			'src/lib/authority/a.ts',
			'src/lib/sync/s.ts',
			'src/lib/platform.ts',
			'src/lib/client/k.ts',
			'src/lib/index.ts'
		];
		const files: Record<string, string> = {};
		chain.forEach((path, i) => {
			const above = chain[i + 1];
			files[path] = above
				? `export * from '${relative(dirname(path), above)
						.replace(/^(?!\.)/, './')
						.replace(/\.ts$/, '.js')}';\n`
				: 'export const top = 1;\n';
		});
		files['src/lib/sync/lost.ts'] = "export * from './missing.js';\n";
		const dir = await tree(files);

		const result = await check(['src'], { baseDir: dir });

		expect(violations(result)).toEqual([
			'authority-not-up: src/lib/authority/a.ts → src/lib/sync/s.ts',
			'client-not-up: src/lib/client/k.ts → src/lib/index.ts',
			'crypto-not-up: src/lib/crypto/c.ts → src/lib/identity/i.ts',
			'encryption-not-up: src/lib/encryption/e.ts → src/lib/authority/a.ts',
			'errors-imports-nothing: src/lib/errors.ts → src/lib/util/u.ts',
			'identity-not-up: src/lib/identity/i.ts → src/lib/encryption/e.ts',
			'no-unresolvable-own-import: src/lib/sync/lost.ts → ./missing.js',
			'platform-not-up: src/lib/platform.ts → src/lib/client/k.ts',
			'sync-not-up: src/lib/sync/s.ts → src/lib/platform.ts',
			'util-not-up: src/lib/util/u.ts → src/lib/crypto/c.ts'
		]);
	});
});
