// @switchboard/cli's importable side: the config helper for switchboard.config.ts and its type.
export { defineConfig } from './config.ts';
export type { SwitchboardConfig } from './config.ts';
