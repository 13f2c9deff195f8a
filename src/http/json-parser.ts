import { isAscii } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import sjson from 'secure-json-parse';
import { AppError } from './errors.js';
import { toWellFormed } from '../lib/well-formed.js';

const decoder = new TextDecoder('utf-8', { fatal: true });
const MAX_DEPTH = 64;

export type ParsedBody =
  | { ok: true; value: unknown }
  | { ok: false; code: 'invalid_json' | 'validation_failed'; message: string };

/** Parses a JSON body with the API's rules; `value` is undefined for an empty body. Never throws. */
export function parseJsonBody(body: Buffer): ParsedBody {
  let text: string;
  try {
    // ASCII (nearly every body) is its own UTF-8: copied as one-byte characters without a decoder.
    text = isAscii(body) ? body.toString('latin1') : decoder.decode(body);
  } catch {
    return { ok: false, code: 'invalid_json', message: 'The request body is not valid UTF-8.' };
  }
  if (text.trim() === '') return { ok: true, value: undefined };
  let value: unknown;
  try {
    value = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    return /prototype|constructor/i.test((err as Error).message ?? '')
      ? { ok: false, code: 'validation_failed', message: 'The keys "__proto__" and "constructor.prototype" are not allowed.' }
      : { ok: false, code: 'invalid_json', message: 'The request body is not valid JSON.' };
  }
  const problem = mayNeedInspection(text) ? inspect(value) : null;
  if (problem) return { ok: false, code: 'validation_failed', message: problem };
  // A lone surrogate can only come from a `\ud800`-style escape (the bytes were strict UTF-8): valid JSON,
  // but no Unicode text. Postgres jsonb refuses it (a 500, or an audit row lost) and a text column stores
  // U+FFFD instead; replacing it here, as a browser does for a USVString, makes the value validated the
  // value stored, everywhere at once.
  return { ok: true, value: mayHoldLoneSurrogate(text) ? wellFormedDeep(value) : value };
}

/**
 * The JSON body parser: strict UTF-8, prototype-pollution keys refused, NUL characters and absurd
 * nesting refused — each a 400 in the error shape rather than a 500 from deeper down. Duplicate keys
 * follow JSON.parse (the last wins), and the value validated is the value used.
 */
export function registerJsonParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  const parse = (body: Buffer, done: (err: Error | null, value?: unknown) => void) => {
    const r = parseJsonBody(body);
    if (r.ok) return done(null, r.value);
    done(new AppError(r.code, r.message, r.code === 'validation_failed' ? { details: [] } : {}), undefined);
  };
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => parse(body as Buffer, done));
  app.addContentTypeParser(/^application\/[a-z0-9.+-]*\+json$/, { parseAs: 'buffer' }, (_req, body, done) => parse(body as Buffer, done));
}

/**
 * Whether the parsed value could break a rule `inspect` checks. A NUL can only come from a `\u0000`
 * escape (JSON forbids raw control characters), and nesting deeper than MAX_DEPTH needs more than
 * MAX_DEPTH brackets; most bodies have neither, and skip the walk.
 */
function mayNeedInspection(text: string): boolean {
  if (text.includes('\\u0000')) return true;
  // Valid JSON (this runs after parsing) closes every bracket it opens: too deep needs twice that many characters.
  if (text.length < 2 * MAX_DEPTH) return false;
  let brackets = 0;
  for (const opener of ['{', '[']) {
    for (let i = text.indexOf(opener); i !== -1; i = text.indexOf(opener, i + 1)) if (++brackets >= MAX_DEPTH) return true;
  }
  return false;
}

/** Whether the JSON text has a `\uD800`–`\uDFFF` escape (a lone surrogate needs one). */
function mayHoldLoneSurrogate(text: string): boolean {
  return /\\u[dD][89a-fA-F]/.test(text);
}

/**
 * The value with every lone surrogate (in strings and keys) replaced by U+FFFD. Runs after `inspect`, so
 * the nesting is bounded and recursion is safe; containers are fixed in place.
 */
function wellFormedDeep(v: unknown): unknown {
  if (typeof v === 'string') return toWellFormed(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = wellFormedDeep(v[i]);
    return v;
  }
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      const fixed = wellFormedDeep(o[k]);
      const key = toWellFormed(k);
      if (key !== k) delete o[k];
      o[key] = fixed;
    }
  }
  return v;
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
