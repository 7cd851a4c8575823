// Switchboard's wire protocol: the envelope, error and close codes, and codecs. No Node-only code.
export * from './envelope.ts';
export * from './codes.ts';
export * from './codec.ts';
export * from './channel.ts';
export * from './live.ts';
export * from './room.ts';
export * from './access.ts';
export * from './manifest.ts';
