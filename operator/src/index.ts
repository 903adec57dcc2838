export * from './api/crd.ts';
export * from './api/schema.ts';
export * from './builders/deployment.ts';
export * from './builders/secret.ts';
export * from './builders/service.ts';
export * from './config.ts';
export * from './manager.ts';
export * from './runtime/metrics.ts';
