/** Types of scripts/client-build.mjs, for the TypeScript that imports it (test/e2e). */
export declare const root: string;
export declare const buildDir: string;
export declare function clientIsStale(): boolean;
export declare function buildClient(options?: { force?: boolean; quiet?: boolean }): boolean;
