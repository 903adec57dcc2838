// Runs before the tests: fails at once, in one line, when a store, an image or
// a tool (promtool, Prometheus, helm...) the tests need cannot be had, instead
// of a stack trace later.
import { fileURLToPath } from 'node:url';
import { missingTools } from '../cluster/binaries.ts';
import { missingImages } from '../images/required.ts';
import { missingStores, storeImages } from './stores.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const missing = [
  ...(await missingStores()),
  ...(await missingImages(root, storeImages())),
  missingTools(),
].filter(Boolean);
if (missing.length > 0) {
  console.error(`npm test needs real servers; missing ${missing.join('; ')}`);
  process.exit(1);
}
