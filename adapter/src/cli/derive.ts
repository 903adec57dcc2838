import { parseArgs } from 'node:util';
import { TseError } from '../errors.ts';
import { deriveIdentity } from '../identity/derive.ts';

const USAGE = 'usage: derive [instanceName] [--service S] [--schema X] [--namespace N]';

/**
 * Prints the identity an instance name derives, as one JSON object.
 * Bad input: one line on stderr and exit code 2.
 */
export function main(argv: string[]): number {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        service: { type: 'string' },
        schema: { type: 'string' },
        namespace: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length > 1)
      throw new UsageError(`expected at most one instance name, got ${positionals.length}`);
    const identity = deriveIdentity({
      serviceName: values.service,
      instanceName: positionals[0],
      postgresSchema: values.schema,
      redisNamespace: values.namespace,
    });
    console.log(JSON.stringify(identity));
    return 0;
  } catch (error) {
    if (error instanceof TseError || error instanceof UsageError || isParseArgsError(error)) {
      console.error(`derive: ${(error as Error).message}`);
      return 2;
    }
    throw error;
  }
}

class UsageError extends Error {
  constructor(message: string) {
    super(`${message}\n${USAGE}`);
  }
}

function isParseArgsError(error: unknown): boolean {
  return (
    error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')
  );
}

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
