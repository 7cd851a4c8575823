// @switchboard/server/bus: the bus contract and the in-memory reference, for back ends that carry fan-out.
export * from './bus.ts';
export { MemoryBus } from './memory-bus.ts';
