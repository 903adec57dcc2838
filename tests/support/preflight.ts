// Runs before the tests: fails at once, in one line, when a store or a tool
// (promtool, Prometheus, helm...) the tests need cannot be had, instead of a
// stack trace later.
import { missingTools } from '../cluster/binaries.ts';
import { missingStores } from './stores.ts';

const missing = [...(await missingStores()), missingTools()].filter(Boolean);
if (missing.length > 0) {
  console.error(`npm test needs real servers; missing ${missing.join('; ')}`);
  process.exit(1);
}
