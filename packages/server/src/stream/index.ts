// @switchboard/server/history: the history (streams) contract and the in-memory reference.
export * from './history.ts';
export * from './memory-history.ts';
