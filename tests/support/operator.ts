import { Writable } from 'node:stream';
import { loadConfig, type Operator, startOperator } from '@tse/operator';
import pino from 'pino';

/** An operator started in this process, with its log lines kept. */
export interface InProcessOperator extends Operator {
  logs: Record<string, unknown>[];
}

/** Starts the operator in-process against a cluster and stores. */
export async function runOperator(env: Record<string, string>): Promise<InProcessOperator> {
  const logs: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  const config = loadConfig({
    METRICS_PORT: '0',
    METRICS_HOST: '127.0.0.1',
    LEADER_ELECTION: 'false',
    LOG_LEVEL: 'debug',
    ...env,
  });
  const log = pino({ level: config.logLevel }, stream);
  const operator = await startOperator(config, log, (reason) => {
    throw new Error(`operator failed: ${reason}`);
  });
  await operator.leading;
  return Object.assign(operator, { logs });
}
