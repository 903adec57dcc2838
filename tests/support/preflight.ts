// Runs before the tests: fails at once, in one line, when a store or an image
// the integration tests need cannot be had, instead of a stack trace later.
import { fileURLToPath } from 'node:url';
import { missingImages } from '../images/required.ts';
import { missingStores, storeImages } from './stores.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const missing = [...(await missingStores()), ...(await missingImages(root, storeImages()))];
if (missing.length > 0) {
  console.error(`npm test needs real servers; missing ${missing.join('; ')}`);
  process.exit(1);
}
