#!/usr/bin/env node
// tse derive [instanceName] [--service S] [--schema X] [--namespace N]
// tse status [-n NAMESPACE]     instances in the cluster ($KUBECONFIG): Ready, and why not
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { main as derive } from '@tse/adapter/cli/derive';
import { formatTable, instanceStatus } from './status.ts';

const USAGE = `usage: tse derive [instanceName] [--service S] [--schema X] [--namespace N]
       tse status [-n NAMESPACE]`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'derive') return derive(rest);
  if (command === 'status') {
    const { values } = parseArgs({
      args: rest,
      options: { namespace: { type: 'string', short: 'n' } },
    });
    const kc = new KubeConfig();
    kc.loadFromDefault();
    const rows = await instanceStatus(kc, values.namespace);
    console.log(
      rows.length
        ? formatTable(rows)
        : `no TradingEngineInstances${values.namespace ? ` in ${values.namespace}` : ''}`,
    );
    return rows.every((row) => row.ready === 'True') ? 0 : 1;
  }
  console.error(USAGE);
  return 2;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(`tse: ${(error as Error).message}`);
  process.exitCode = 1;
}
