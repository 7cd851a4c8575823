// The in-memory store passes the store contract (it does not persist, so the reopen test is skipped).
import { MemoryStore } from '@switchboard/server';
import { storeContract } from '@switchboard/server/testing';

storeContract('MemoryStore', async () => new MemoryStore());
