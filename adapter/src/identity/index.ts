export * from './conflicts.ts';
export * from './derive.ts';
export * from './env.ts';
export * from './rules.ts';
