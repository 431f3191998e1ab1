export async function eventually<T>(
	probe: () => T | undefined | false | Promise<T | undefined | false>,
	what: string,
	timeoutMs = 20_000
): Promise<T> {
	const start = Date.now();
	for (;;) {
		const value = await probe();
		if (value) return value;
		if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 25));
	}
}
