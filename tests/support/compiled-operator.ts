import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
let built: string[] | undefined;

/** The image's command line (operator/Dockerfile's CMD): node, its flags, the entry point. */
export function imageCommand(): string[] {
  const dockerfile = readFileSync(join(root, 'operator/Dockerfile'), 'utf8');
  const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
  if (!cmd) throw new Error('operator/Dockerfile has no CMD in exec form');
  return JSON.parse(cmd) as string[];
}

/**
 * The operator as its image runs it: the sources compiled to JavaScript by
 * `operator/scripts/compile.ts` (the Dockerfile's compile stage), in a
 * directory of its own whose node_modules are the repository's but for the
 * adapter, which is the compiled copy. Built once per process; returns the
 * arguments for node: the image's flags and the path of its entry point.
 */
export function compiledOperator(): string[] {
  if (built) return built;
  const directory = mkdtempSync(join(tmpdir(), 'tse-operator-js-'));
  for (const workspace of ['adapter', 'operator']) {
    mkdirSync(join(directory, workspace));
    cpSync(join(root, workspace, 'package.json'), join(directory, workspace, 'package.json'));
    cpSync(join(root, workspace, 'src'), join(directory, workspace, 'src'), { recursive: true });
  }
  execFileSync(process.execPath, [
    '--no-warnings',
    join(root, 'operator/scripts/compile.ts'),
    join(directory, 'adapter'),
    join(directory, 'operator'),
  ]);
  const modules = join(directory, 'node_modules');
  mkdirSync(join(modules, '@tse'), { recursive: true });
  for (const entry of readdirSync(join(root, 'node_modules')))
    if (entry !== '@tse') symlinkSync(join(root, 'node_modules', entry), join(modules, entry));
  symlinkSync(join(directory, 'adapter'), join(modules, '@tse/adapter'));
  const [, ...args] = imageCommand();
  built = args.map((arg) => (arg.endsWith('main.js') ? join(directory, arg) : arg));
  return built;
}
