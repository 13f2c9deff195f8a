import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { FastifyBaseLogger } from 'fastify';
import { createLogger, lazyChildren } from './logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
  return { lines, log: createLogger('info', stream) };
}

describe('lazyChildren', () => {
  it('children log with their bindings (redacted, grandchildren too), as real children do', () => {
    const { lines, log } = capture();
    lazyChildren(log as unknown as FastifyBaseLogger);
    const child = log.child({ reqId: 'r-1' });
    child.info('one');
    child.child({ part: 'x' }).warn('two');
    log.child({ token: 'ck_0123456789abcdef0123456789abcdef' }).info('three');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({ reqId: 'r-1', msg: 'one', level: 'info' });
    expect(lines[1]).toMatchObject({ reqId: 'r-1', part: 'x', msg: 'two', level: 'warn' });
    expect(JSON.stringify(lines[2])).not.toContain('ck_0123456789abcdef');
    expect(child.level).toBe('info');
    expect(child.isLevelEnabled('debug')).toBe(false);
  });

  it('makes the real child only when a child is used', () => {
    const { log } = capture();
    let made = 0;
    const real = log.child.bind(log);
    Object.defineProperty(log, 'child', { value: (...a: Parameters<typeof real>) => { made++; return real(...a); }, writable: true, configurable: true });
    lazyChildren(log as unknown as FastifyBaseLogger);
    const child = log.child({ reqId: 'r-2' });
    expect(made).toBe(0);
    child.info('used');
    child.info('again');
    expect(made).toBe(1);
  });
});
