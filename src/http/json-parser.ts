import type { FastifyInstance } from 'fastify';
import sjson from 'secure-json-parse';
import { AppError } from './errors.js';

const decoder = new TextDecoder('utf-8', { fatal: true });
const MAX_DEPTH = 64;

/**
 * The JSON body parser: strict UTF-8, prototype-pollution keys refused, NUL characters and absurd
 * nesting refused — each a 400 in the error shape rather than a 500 from deeper down. Duplicate keys
 * follow JSON.parse (the last wins), and the value validated is the value used.
 */
export function registerJsonParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  const parse = (body: Buffer, done: (err: Error | null, value?: unknown) => void) => {
    let text: string;
    try {
      text = decoder.decode(body);
    } catch {
      return done(new AppError('invalid_json', 'The request body is not valid UTF-8.'), undefined);
    }
    if (text.trim() === '') return done(null, undefined);
    let value: unknown;
    try {
      value = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
    } catch (err) {
      const proto = /prototype|constructor/i.test((err as Error).message ?? '');
      return done(proto
        ? new AppError('validation_failed', 'The keys "__proto__" and "constructor.prototype" are not allowed.', { details: [] })
        : new AppError('invalid_json', 'The request body is not valid JSON.'), undefined);
    }
    const problem = inspect(value);
    if (problem) return done(new AppError('validation_failed', problem, { details: [] }), undefined);
    done(null, value);
  };
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => parse(body as Buffer, done));
  app.addContentTypeParser(/^application\/[a-z0-9.+-]*\+json$/, { parseAs: 'buffer' }, (_req, body, done) => parse(body as Buffer, done));
}

/** Walks the value without recursion; returns a message for the first problem, or null. */
function inspect(root: unknown): string | null {
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return 'Strings may not contain the NUL character (\\u0000).';
    } else if (v && typeof v === 'object') {
      if (depth >= MAX_DEPTH) return `The request body is nested deeper than ${MAX_DEPTH} levels.`;
      for (const [k, child] of Object.entries(v)) {
        if (k.includes('\u0000')) return 'Keys may not contain the NUL character (\\u0000).';
        stack.push([child, depth + 1]);
      }
    }
  }
  return null;
}
