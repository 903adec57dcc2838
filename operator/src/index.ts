export * from './api/crd.ts';
export * from './api/schema.ts';
export * from './config.ts';
export * from './manager.ts';
