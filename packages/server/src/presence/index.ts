// @switchboard/server/presence: the presence contract and the in-memory reference.
export * from './presence-store.ts';
export * from './memory-presence.ts';
