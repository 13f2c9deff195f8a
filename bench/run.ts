import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BACKEND, CONNECTIONS, DURATION_S, machine, type BenchRow } from './lib.js';

/**
 * `npm run bench [-- <name filter>…]`: runs every bench/*.bench.ts (each default-exports
 * `async () => BenchRow[]`) one after the other and prints one table. Targets are ratios to the bare
 * JSON route measured in the same run (PERFORMANCE.md); absolute req/s vary by machine.
 */
const dir = path.dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

process.stdout.write(`authplane bench — backend ${BACKEND}, ${CONNECTIONS} connections, ${DURATION_S} s per run\n${machine()}\n${new Date().toISOString()}\n\n`);
const rows: BenchRow[] = [];
let failed = false;
for (const f of files) {
  process.stdout.write(`running ${f}…\n`);
  const mod = (await import(pathToFileURL(path.join(dir, f)).href)) as { default: () => Promise<BenchRow[]> };
  try {
    rows.push(...(await mod.default()));
  } catch (err) {
    failed = true;
    process.stdout.write(`  ${f} failed: ${(err as Error).message}\n`);
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const table = [
  ['benchmark', 'req/s', 'ratio', 'CPU µs/req', 'target', ''],
  ...rows.map((r) => [
    r.name, fmt(r.reqPerSec), r.ratio.toFixed(2), r.cpuUsPerReq === undefined ? '' : r.cpuUsPerReq.toFixed(0), r.target === null ? '—' : `≥ ${r.target}`,
    r.target === null ? (r.note ?? '') : `${r.ratio >= r.target ? 'ok' : 'BELOW TARGET'}${r.note ? ` (${r.note})` : ''}`,
  ]),
];
const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
process.stdout.write(`\n${table.map((row) => row.map((c, i) => (i >= 1 && i <= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n')}\n`);
// Figures below target are reported, not failed: timing depends on the machine and its load.
process.exit(failed ? 1 : 0);
