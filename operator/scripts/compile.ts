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

/** Relative imports name `.ts` files: they name the `.js` files written beside them. */
const SPECIFIER = /((?:from|import)\s*\(?\s*)(['"])(\.{1,2}\/[^'"]+)\.ts\2/g;

export function compile(source: string): string {
  return stripTypeScriptTypes(source, { mode: 'strip' }).replace(SPECIFIER, '$1$2$3.js$2');
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
