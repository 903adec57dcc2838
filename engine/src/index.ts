export * from './config.ts';
export * from './engine.ts';
export { loadProtos } from './grpc/server.ts';
export * from './status.ts';
