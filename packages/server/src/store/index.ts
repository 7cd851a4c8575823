// @switchboard/server/store: the store contract (connections, audit, grants) and the in-memory reference.
export * from './store.ts';
export * from './memory-store.ts';
