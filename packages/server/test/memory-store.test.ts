// The in-memory store passes the store contract (it does not persist, so the reopen test is skipped).
import { MemoryStore } from '@switchboard/server';
import { storeContract } from './store-contract.ts';

storeContract('MemoryStore', async () => new MemoryStore());
