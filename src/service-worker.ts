/// <reference types="@sveltejs/kit" />
/// <reference no-default-lib="true"/>
/// <reference lib="esnext" />
/// <reference lib="webworker" />
/**
 * Offline shell: after the first visit the app's files come from this cache, so Charter opens with no
 * network — spaces and messages are already in IndexedDB. Sync traffic (WebSocket) is never cached.
 */
import { build, files, version } from '$service-worker';

const sw = self as unknown as ServiceWorkerGlobalScope;
const CACHE = `charter-shell-${version}`;
const SHELL = [...build, ...files, '/'];

sw.addEventListener('install', (event) => {
	event.waitUntil(
		caches
			.open(CACHE)
			.then((cache) => cache.addAll(SHELL))
			.then(() => sw.skipWaiting())
	);
});

sw.addEventListener('activate', (event) => {
	event.waitUntil(
		caches
			.keys()
			.then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
			.then(() => sw.clients.claim())
	);
});

sw.addEventListener('fetch', (event) => {
	const request = event.request;
	if (request.method !== 'GET') return;
	const url = new URL(request.url);
	if (
		url.origin !== sw.location.origin ||
		['/healthz', '/readyz', '/metrics'].includes(url.pathname)
	)
		return;
	event.respondWith(
		(async () => {
			const cache = await caches.open(CACHE);
			// the app shell: cache first; anything else: network, falling back to the shell for navigations
			const cached = await cache.match(SHELL.includes(url.pathname) ? url.pathname : request);
			if (cached) return cached;
			try {
				return await fetch(request);
			} catch {
				const shell = request.mode === 'navigate' ? await cache.match('/') : undefined;
				return shell ?? new Response('offline', { status: 503 });
			}
		})()
	);
});
