const orig = globalThis.setTimeout;
(globalThis as any).setTimeout = (fn: any, ms: number, ...rest: any[]) => { if (ms >= 5000) console.log('setTimeout', ms, new Error().stack!.split('\n').slice(2, 6).join(' | ')); return orig(fn, ms, ...rest); };
await import('./exit.ts');
