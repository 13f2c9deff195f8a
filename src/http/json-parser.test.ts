import { describe, expect, it } from 'vitest';
import { parseJsonBody } from './json-parser.js';

const nested = (levels: number, open: string, close: string) => `${open.repeat(levels)}1${close.repeat(levels)}`;
const parse = (text: string) => parseJsonBody(Buffer.from(text, 'utf8'));

describe('parseJsonBody', () => {
  it('accepts 64 levels of nesting and refuses 65, for objects, arrays and a mix', () => {
    for (const [open, close] of [['[', ']'], ['{"a":', '}'], ['[{"a":', '}]']] as const) {
      const perStep = open === '[{"a":' ? 2 : 1;
      expect(parse(nested(64 / perStep, open, close))).toMatchObject({ ok: true });
      const over = parse(nested(64 / perStep + 1, open, close));
      expect(over).toMatchObject({ ok: false, code: 'validation_failed', message: expect.stringMatching(/nested deeper than 64/) });
    }
  });

  it('is not fooled by brackets inside strings, and refuses NUL however it is spelled', () => {
    expect(parse(JSON.stringify({ s: '['.repeat(500), t: '{'.repeat(500) }))).toMatchObject({ ok: true });
    expect(parse('{"s":"a\\u0000b"}')).toMatchObject({ ok: false, code: 'validation_failed' });
    expect(parse('{"a\\u0000":1}')).toMatchObject({ ok: false, code: 'validation_failed' });
  });

  it('replaces lone surrogates (valid JSON escapes, no Unicode text) with U+FFFD in values and keys at any depth; pairs stay', () => {
    expect(parse('{"a":"x\\ud800y","b\\udc00":["\\uDBFF",{"c":"\\ud83d\\ude00 \\udfff"}],"n":1}'))
      .toEqual({ ok: true, value: { a: 'x\ufffdy', 'b\ufffd': ['\ufffd', { c: '😀 \ufffd' }], n: 1 } });
    expect(parse('"\\ud800"')).toEqual({ ok: true, value: '\ufffd' });
    // an escaped backslash followed by "ud800" is six ordinary characters
    expect(parse('{"a":"\\\\ud800"}')).toEqual({ ok: true, value: { a: '\\ud800' } });
  });

  it('decodes UTF-8 whether or not the body is ASCII', () => {
    expect(parse('{"a":"plain"}')).toEqual({ ok: true, value: { a: 'plain' } });
    expect(parse('{"a":"é😀","ü":1}')).toEqual({ ok: true, value: { a: 'é😀', ü: 1 } });
  });

  it('refuses invalid UTF-8, bad JSON and prototype keys; an empty body is undefined', () => {
    expect(parseJsonBody(Buffer.from([0x7b, 0xff, 0x7d]))).toMatchObject({ ok: false, code: 'invalid_json' });
    expect(parse('{"a":')).toMatchObject({ ok: false, code: 'invalid_json' });
    expect(parse('{"__proto__":{"x":1}}')).toMatchObject({ ok: false, code: 'validation_failed' });
    expect(parse('  ')).toEqual({ ok: true, value: undefined });
  });
});
