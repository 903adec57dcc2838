import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fencedBlocks } from '../support/doc-blocks.ts';

// Every docs example is executed by a test: a shell block is either on a page
// whose `sh` blocks a test runs as written, or a `console` block (with a `$ `
// prompt) for what cannot run on a test machine (Docker, kind, .ci/ itself).
const root = fileURLToPath(new URL('../../', import.meta.url));

/** The pages whose `sh` blocks a test runs, and that test. */
const EXECUTED: Record<string, string> = {
  'docs/install.md': 'tests/node/docs.test.ts',
  'docs/images.md': 'tests/node/images-docs.test.ts',
  'docs/api.md': 'tests/integration/api-docs.test.ts',
};

const RULE =
  'every docs example is executed by a test: a ```sh block belongs on a page listed in ' +
  'tests/integration/doc-blocks.test.ts with the test that runs its blocks as written; ' +
  'a command that cannot run on a test machine goes in a ```console block with a `$ ` prompt';

const SHELLS = new Set(['sh', 'bash', 'shell', 'zsh']);

/** README.md and the other top-level pages, docs/*.md, examples/*.md and the chart's pages. */
function pages(): string[] {
  const markdown = (dir: string) =>
    existsSync(join(root, dir))
      ? readdirSync(join(root, dir))
          .filter((name) => name.endsWith('.md'))
          .map((name) => (dir === '.' ? name : `${dir}/${name}`))
      : [];
  return [
    ...markdown('.'),
    ...markdown('docs'),
    ...markdown('examples'),
    ...markdown('helm/trading-engine-operator'),
  ].sort();
}

/** A block's language as a reader's renderer takes it: case does not matter. */
const languageOf = (block: { language: string }) => block.language.toLowerCase();

describe('the shell blocks of the docs', () => {
  it('are found in list items too', () => {
    const blocks = fencedBlocks(
      '- a step:\n\n  ```sh\n  ctr images ls\n  ```\n\n```console\n$ x\n```\n',
    );
    expect(blocks).toEqual([
      { language: 'sh', line: 3, text: 'ctr images ls\n' },
      { language: 'console', line: 7, text: '$ x\n' },
    ]);
  });

  it('are all on pages a test executes', () => {
    expect(pages()).toContain('README.md');
    const unexecuted = pages().flatMap((page) =>
      fencedBlocks(readFileSync(join(root, page), 'utf8'))
        .filter((block) => SHELLS.has(languageOf(block)))
        .filter((block) => block.language !== 'sh' || !EXECUTED[page])
        .map(
          (block) =>
            `${page}:${block.line} \`\`\`${block.language} ${JSON.stringify(block.text.split('\n')[0])}`,
        ),
    );
    expect(unexecuted, `${RULE}; not executed:\n${unexecuted.join('\n')}`).toEqual([]);
  });

  it('that cannot run show their commands with a `$ ` prompt', () => {
    const unprompted = pages().flatMap((page) =>
      fencedBlocks(readFileSync(join(root, page), 'utf8'))
        .filter((block) => languageOf(block) === 'console')
        .filter((block) => !block.text.trimStart().startsWith('$ '))
        .map((block) => `${page}:${block.line} ${JSON.stringify(block.text.split('\n')[0])}`),
    );
    expect(unprompted, `${RULE}; without a prompt:\n${unprompted.join('\n')}`).toEqual([]);
  });

  it('are run by the test listed for their page', () => {
    for (const [page, test] of Object.entries(EXECUTED)) {
      const blocks = fencedBlocks(readFileSync(join(root, page), 'utf8'));
      expect(
        blocks.filter((block) => block.language === 'sh').length,
        `${page} has no sh block`,
      ).toBeGreaterThan(0);
      expect(existsSync(join(root, test)), `${test} is missing (${RULE})`).toBe(true);
      const source = readFileSync(join(root, test), 'utf8');
      expect(source, `${test} does not read ${page}`).toContain(`'${page}'`);
      expect(source, `${test} does not run the sh blocks`).toMatch(/shellBlocks\(page\)/);
    }
  });
});
