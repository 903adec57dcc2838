// Compiles the operator's TypeScript sources (and the adapter's) to
// JavaScript in place, for the production image: Node then loads plain
// JavaScript and never starts its TypeScript compiler, which costs memory
// for the life of the process. Types are only stripped (the sources use
// erasable syntax only; `tsc -b` checks them), so the JavaScript runs the
// same code the tests run. Usage: node compile.ts <package dir>...
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Relative imports name `.ts` files: they name the `.js` files written
 * beside them. Only module syntax is rewritten: a statement that starts
 * with `import`/`export` and names a module after `from` (or, for a
 * side-effect import, right after `import`), and `import(...)`.
 */
const STATIC =
  /^(\s*(?:import|export)\b[^;'"]*?\bfrom\s*|\s*import\s*)(['"])(\.{1,2}\/[^'"\n]+)\.ts\2/gm;
const DYNAMIC = /(\bimport\(\s*)(['"])(\.{1,2}\/[^'"\n]+)\.ts\2/g;
/** What must not be left: a relative `.ts` module specifier (a form the patterns above missed). */
const LEFT_OVER =
  /(?:^\s*(?:import|export)\b[^;'"]*?\bfrom\s*|^\s*import\s*|\bimport\(\s*)['"]\.{1,2}\/[^'"\n]+\.ts['"]/m;

export function compile(source: string): string {
  const compiled = stripTypeScriptTypes(source, { mode: 'strip' })
    .replace(STATIC, '$1$2$3.js$2')
    .replace(DYNAMIC, '$1$2$3.js$2');
  const left = LEFT_OVER.exec(compiled);
  if (left) throw new Error(`a .ts module specifier is left after compiling: ${left[0]}`);
  return compiled;
}

function compileTree(directory: string): number {
  let files = 0;
  for (const entry of readdirSync(directory)) {
    const path = join(directory, entry);
    if (statSync(path).isDirectory()) files += compileTree(path);
    else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) {
      writeFileSync(path.replace(/\.ts$/, '.js'), compile(readFileSync(path, 'utf8')));
      rmSync(path);
      files++;
    }
  }
  return files;
}

/** Compiles each package directory named on the command line. */
function main(roots: string[]): void {
  for (const root of roots) compilePackage(root);
}

function compilePackage(root: string): void {
  const files = compileTree(join(root, 'src'));
  // The package's entry points name the compiled files.
  const manifest = join(root, 'package.json');
  writeFileSync(
    manifest,
    readFileSync(manifest, 'utf8').replace(/\.\/src\/([^"]+)\.ts"/g, './src/$1.js"'),
  );
  process.stdout.write(`${root}: ${files} files compiled\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
