// @switchboard/postgres: the Switchboard store on PostgreSQL, in its own package so that apps without it never install the driver.
export { PostgresStore, POSTGRES_SCHEMA_VERSION, POSTGRES_MIGRATION_LOCK, POSTGRES_MINIMUM_VERSION_NUM } from './postgres-store.ts';
export type { PostgresStoreOptions } from './postgres-store.ts';
