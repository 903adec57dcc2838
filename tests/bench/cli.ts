// npm run bench -- <name> [options]: runs one benchmark, prints its table and,
// as the last line, one JSON object with its figures.
import { engineHealthBench } from './engine-health.ts';
import { engineOrdersBench } from './engine-orders.ts';
import { operatorConvergenceBench } from './operator-convergence.ts';
import { operatorMemoryBench } from './operator-memory.ts';
import { provisioningBench } from './provisioning.ts';

const benches: Record<string, (argv: string[]) => Promise<Record<string, number>>> = {
  provisioning: provisioningBench,
  'engine-health': engineHealthBench,
  'engine-orders': engineOrdersBench,
  'operator-convergence': operatorConvergenceBench,
  'operator-memory': operatorMemoryBench,
};

const [name, ...argv] = process.argv.slice(2);
const bench = name ? benches[name] : undefined;
if (!bench) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [options]`);
  process.exit(2);
}
const figures = await bench(argv);
console.log(JSON.stringify({ bench: name, ...figures }));
