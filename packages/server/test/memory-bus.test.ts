// The in-memory bus passes the bus contract.
import { MemoryBus } from '@switchboard/server';
import { busContract } from '@switchboard/server/testing';

busContract('MemoryBus', async () => {
  const bus = new MemoryBus();
  return { a: bus, b: bus, close: () => bus.close() };
});
