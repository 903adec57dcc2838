export * from './data/index.ts';
export * from './environment.ts';
export * from './errors.ts';
export * from './identity/index.ts';
export * from './provisioning/index.ts';
export * from './redaction.ts';
export * from './store-tls.ts';
