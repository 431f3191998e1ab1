// A client-only SPA: the library runs in the browser, next to its IndexedDB stores.
export const ssr = false;
export const prerender = false;
