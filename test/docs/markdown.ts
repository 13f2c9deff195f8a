import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/cli.js';

/** The documentation pages: README.md and every docs/*.md, as paths relative to the repository root. */
export function docPages(): string[] {
  return ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
}

export interface ShellBlock {
  page: string;
  /** 1-based line of the opening fence */
  line: number;
  /** `run`: a ```sh block, executed; `no-run`: ```sh no-run, skipped */
  kind: 'run' | 'no-run';
  /** the fence's info string after `sh no-run` (a reason may be given there) */
  info: string;
  code: string;
  /** the prose right before the fence (up to 6 lines), where a no-run block says why */
  before: string;
}

/** Every fenced block whose language is `sh` (```sh or ```sh no-run …), in page order. Other languages are not examples. */
export function shellBlocks(page: string, text = readFileSync(path.join(ROOT, page), 'utf8')): ShellBlock[] {
  const lines = text.split('\n');
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const [, , fence, infoString] = open;
    let end = i + 1;
    while (end < lines.length && !lines[end]!.trim().startsWith(fence!)) end++;
    const words = infoString!.trim().split(/\s+/);
    if (words[0] === 'sh') {
      const noRun = words[1] === 'no-run';
      blocks.push({
        page, line: i + 1, kind: noRun ? 'no-run' : 'run',
        info: noRun ? words.slice(2).join(' ') : '',
        code: lines.slice(i + 1, end).join('\n'),
        before: lines.slice(Math.max(0, i - 6), i).join('\n'),
      });
    }
    i = end;
  }
  return blocks;
}
