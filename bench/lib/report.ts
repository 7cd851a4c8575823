// The result table as `npm run bench` prints it: one aligned line per figure.
import type { Row } from '../scenarios/common.ts';

function formatValue(value: number | null, unit: Row['unit']): string {
  if (value === null || !Number.isFinite(value)) return '-';
  switch (unit) {
    case 'msg/s':
    case 'bytes':
    case 'count':
      return Math.round(value).toLocaleString('en-US');
    case 'ms':
      return value >= 100 ? value.toFixed(0) : value.toFixed(2);
    case 'KiB':
      return value.toFixed(2);
    case 'µs':
      return value.toFixed(3);
  }
}

function verdict(row: Row): string {
  if (row.pass === null) return '';
  return row.pass ? 'pass' : 'FAIL';
}

/** Renders rows as an aligned text table. */
export function formatTable(rows: Row[]): string {
  const header = ['scenario', 'figure', 'unit', 'switchboard', 'baseline', 'ratio', 'target', 'result'];
  const body = rows.map((row) => [
    row.scenario,
    row.figure,
    row.unit,
    formatValue(row.switchboard, row.unit),
    formatValue(row.baseline, row.unit),
    row.compare,
    row.target,
    verdict(row),
  ]);
  const numeric = new Set([3, 4, 5]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
