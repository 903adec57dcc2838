import { cpus } from 'node:os';

// Shared by the benchmarks: timing, percentiles, a readable table, and the
// closing JSON line that tools read.

/**
 * Seconds elapsed while `work` ran, and the CPU seconds the whole machine
 * spent meanwhile (every process, every core): on a machine the work
 * saturates, the CPU it cost is steadier from run to run than its time.
 */
export async function timed<T>(
  work: () => Promise<T>,
): Promise<{ value: T; seconds: number; cpuSeconds: number }> {
  const started = process.hrtime.bigint();
  const cpuBefore = machineCpuSeconds();
  const value = await work();
  return {
    value,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    cpuSeconds: machineCpuSeconds() - cpuBefore,
  };
}

/** CPU seconds all cores have spent busy since boot. */
function machineCpuSeconds(): number {
  let ms = 0;
  for (const { times } of cpus()) ms += times.user + times.nice + times.sys + times.irq;
  return ms / 1000;
}

/** The p-th percentile (0-100) of a list of numbers. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return (
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
  );
}

/** Rounds to a few significant digits for printing. */
export function round(value: number, digits = 3): number {
  return Number(value.toPrecision(digits));
}

/** Prints rows as an aligned table. */
export function printTable(title: string, rows: Record<string, string | number>[]): void {
  const columns = Object.keys(rows[0] ?? {});
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => String(row[column]).length)),
  );
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ');
  console.log(`\n${title}`);
  console.log(line(columns));
  console.log(line(widths.map((width) => '-'.repeat(width))));
  for (const row of rows) console.log(line(columns.map((column) => String(row[column]))));
}

/** A one-line progress counter on stderr for long runs. */
export function progress(label: string, total: number): { tick(): void; done(): void } {
  let count = 0;
  const tty = process.stderr.isTTY;
  return {
    tick() {
      count++;
      if (tty) process.stderr.write(`\r${label}: ${count}/${total}`);
      else if (count === total || count % Math.max(1, Math.floor(total / 10)) === 0)
        process.stderr.write(`${label}: ${count}/${total}\n`);
    },
    done() {
      if (tty) process.stderr.write('\n');
    },
  };
}
