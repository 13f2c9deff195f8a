import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { docPages } from './markdown.js';

/**
 * No broken relative link in README.md and docs/*.md (issue 22): every link to a file of this repository
 * names a file that exists, and every #anchor names a heading (GitHub's slugs) of the page it points at.
 * External links (http:, https:, mailto:) are not fetched. Nothing is tolerated: a missing file fails.
 */

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) { inFence = !inFence; continue; }
    if (inFence) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const slug = m[1]!.toLowerCase()
      .replace(/<[^>]+>/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  for (const m of markdown.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) out.add(m[1]!);
  return out;
}

/** The link targets of a page (inline links and images, reference definitions, <img src>, <a href>), outside code. */
export function links(markdown: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  let inFence = false;
  markdown.split('\n').forEach((raw, i) => {
    if (/^\s*(```|~~~)/.test(raw)) { inFence = !inFence; return; }
    if (inFence) return;
    const line = raw.replace(/`[^`]*`/g, '');
    for (const m of line.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ target: m[1]!, line: i + 1 });
    for (const m of line.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(\s|$)/g)) out.push({ target: m[1]!, line: i + 1 });
    for (const m of line.matchAll(/<(?:img|a)\s[^>]*(?:src|href)="([^"]+)"/g)) out.push({ target: m[1]!, line: i + 1 });
  });
  return out;
}

describe('documentation links', () => {
  const pages = docPages();

  it('the README links every docs page', () => {
    const readme = links(readFileSync(path.join(ROOT, 'README.md'), 'utf8')).map((l) => path.normalize(l.target.split('#')[0]!));
    for (const page of pages.filter((p) => p !== 'README.md')) expect(readme, `README.md links ${page}`).toContain(page);
    expect(readme).toContain('docs/api.html');
  });

  it('has no broken relative link or anchor', () => {
    const broken: string[] = [];
    for (const page of pages) {
      const text = readFileSync(path.join(ROOT, page), 'utf8');
      for (const { target, line } of links(text)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
        const [file, anchor] = target.split('#') as [string, string | undefined];
        const resolved = file === '' ? path.join(ROOT, page) : path.resolve(ROOT, path.dirname(page), decodeURI(file));
        if (!resolved.startsWith(ROOT) || !existsSync(resolved)) { broken.push(`${page}:${line}: ${target} (no such file)`); continue; }
        if (anchor === undefined || anchor === '') continue;
        if (statSync(resolved).isDirectory() || !resolved.endsWith('.md')) { broken.push(`${page}:${line}: ${target} (an anchor into a file that is not Markdown)`); continue; }
        if (!anchors(readFileSync(resolved, 'utf8')).has(decodeURIComponent(anchor))) broken.push(`${page}:${line}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('the checker itself finds a missing file and a missing anchor', () => {
    expect(links('see [a](docs/nope.md) and ![i](img/x.png "t") and `[no](code.md)`\n[ref]: other.md\n<img src="y.png">').map((l) => l.target))
      .toEqual(['docs/nope.md', 'img/x.png', 'other.md', 'y.png']);
    expect([...anchors('# Cedros compatibility (0.2.0, breaking)\n## `/authorize` and orgs\n## A\n## A')])
      .toEqual(['cedros-compatibility-020-breaking', 'authorize-and-orgs', 'a', 'a-1']);
  });
});
