// Runs before the tests: fails at once, in one line, when a store the
// integration tests need cannot be had, instead of a stack trace later.
import { missingStores } from './stores.ts';

const missing = await missingStores();
if (missing.length > 0) {
  console.error(`npm test needs real servers; missing ${missing.join('; ')}`);
  process.exit(1);
}
