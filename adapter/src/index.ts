export * from './data/index.ts';
export * from './errors.ts';
export * from './identity/index.ts';
export * from './provisioning/index.ts';
