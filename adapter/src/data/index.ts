export * from './cache.ts';
export * from './engine-lock.ts';
export * from './memory-store.ts';
export * from './migrations.ts';
export * from './postgres-store.ts';
export * from './records.ts';
export * from './repositories.ts';
