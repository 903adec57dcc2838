import { spawn } from 'node:child_process';
import { once } from 'node:events';

/** A fenced code block of a Markdown page: its info string, first line (1-based) and text. */
export interface FencedBlock {
  language: string;
  line: number;
  text: string;
}

/**
 * Every fenced block of a page, top-level or indented in a list item (the
 * indentation of the opening fence is taken off each line).
 */
export function fencedBlocks(markdown: string): FencedBlock[] {
  const lines = markdown.split('\n');
  const blocks: FencedBlock[] = [];
  for (let index = 0; index < lines.length; index++) {
    const open = /^( *)(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[index] ?? '');
    if (!open) continue;
    const [, indent = '', fence = '', language = ''] = open;
    const body: string[] = [];
    let end = index + 1;
    while (end < lines.length && !new RegExp(`^ *${fence}${fence[0]}*\\s*$`).test(lines[end] ?? ''))
      end++;
    for (const line of lines.slice(index + 1, end))
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    blocks.push({ language, line: index + 1, text: body.length ? `${body.join('\n')}\n` : '' });
    index = end;
  }
  return blocks;
}

/** The page's `sh` blocks, in order: the ones a test runs as written. */
export function shellBlocks(markdown: string): string[] {
  return fencedBlocks(markdown)
    .filter((block) => block.language === 'sh')
    .map((block) => block.text);
}

/** Text on a page that stands for something of the user's, what the test uses instead, and why. */
export interface Substitution {
  from: string;
  to: string;
  why: string;
}

/**
 * The blocks with each substitution applied; throws when a substitution
 * matches no block, so one cannot outlive the text it stood for.
 */
export function substitute(blocks: string[], substitutions: Substitution[]): string[] {
  for (const { from, why } of substitutions)
    if (!blocks.some((block) => block.includes(from)))
      throw new Error(`no block holds ${JSON.stringify(from)} (substituted: ${why})`);
  return blocks.map((block) =>
    substitutions.reduce((text, { from, to }) => text.replaceAll(from, to), block),
  );
}

/** What a block printed and how it ended. */
export interface BlockResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs one block in bash (`set -euxo pipefail`) in a process group of its own;
 * whatever the block left running in the background is stopped when it ends.
 */
export async function runShellBlock(
  block: string,
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<BlockResult> {
  const child = spawn('bash', ['-c', `set -euxo pipefail\n${block}`], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  // Wait for the shell itself, not its output pipes: a background process keeps those open.
  const closed = once(child, 'close');
  const [status] = (await once(child, 'exit')) as [number | null];
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
  await closed;
  return { status, stdout, stderr };
}
