import { describe, expect, it } from 'vitest';
import { compile } from '../scripts/compile.ts';

describe('compiling the sources for the image', () => {
  it('strips types and points relative imports at the compiled files, leaving packages alone', () => {
    const source = [
      "import type { Logger } from 'pino';",
      "import { a, type B } from './a.ts';",
      "export { c } from '../c/d.ts';",
      "import { z } from 'zod';",
      "const m = await import('./lazy.ts');",
      'export const f = (x: number): string => String(x);',
    ].join('\n');
    const out = compile(source);
    expect(out).toContain("from './a.js'");
    expect(out).toContain("from '../c/d.js'");
    expect(out).toContain("import('./lazy.js')");
    expect(out).toContain("from 'zod'");
    expect(out).not.toMatch(/: number|: string|type B|\.ts'/);
    // Stripping keeps positions: a stack trace of the image points at the source's line.
    expect(out.split('\n')).toHaveLength(source.split('\n').length);
  });

  it('leaves strings and other names that merely look like imports alone', () => {
    const source = [
      'const hint = "run: import \'./setup.ts\' first";',
      'const copy = \'copy from "./a.ts"\';',
      "reimport('./x.ts');",
      'import {',
      '  a,',
      '  b,',
      "} from './multi.ts';",
      "import './side-effect.ts';",
    ].join('\n');
    const out = compile(source);
    expect(out).toContain('"run: import \'./setup.ts\' first"');
    expect(out).toContain('\'copy from "./a.ts"\'');
    expect(out).toContain("reimport('./x.ts')");
    expect(out).toContain("} from './multi.js';");
    expect(out).toContain("import './side-effect.js';");
  });
});
