import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import type pino from 'pino';
import { REDACTED, redact, redactString, redactUrl } from './redact.js';
import { createLogger } from '../http/logger.js';

const JWT = 'eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJ1MSIsInRpZCI6InQxIn0.c2lnbmF0dXJlLWJ5dGVzLWhlcmU';
const CK = 'ck_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3';
const AK = 'ak_Zy9xWv8uTs7rQp6oNm5lKj4iHg3fEd2cBa1zYx0wVu9';
const CH = 'ch_Q1w2E3r4T5y6U7i8O9p0';
const REFRESH = '0f8fad5b-d9cb-469f-a165-70867728950e.Vq3mS8dJ2kPz7bXw1cN5rT9yL4hG6fA0';

const SECRET_KEYS = ['Password', 'API_KEY', 'refresh_token', 'code', 'recoveryCode', 'authorization', 'cookie', 'challenge',
  'nonce', 'signature', 'pin', 'otp', 'credential', 'passphrase', 'secret', 'clientSecret', 'accessToken', 'X-API-Key', 'Set-Cookie', 'mfaToken'];

describe('redact: secret keys', () => {
  it.each(SECRET_KEYS)('redacts the value under %s', (key) => {
    expect(redact({ [key]: 'hunter2-value' })).toEqual({ [key]: REDACTED });
  });

  it('redacts numbers under secret keys (a TOTP code or PIN sent as a number), keeps booleans', () => {
    expect(redact({ code: 123456, pin: 1234, otp: 0, issueApiKeyOnSignup: true })).toEqual({ code: REDACTED, pin: REDACTED, otp: REDACTED, issueApiKeyOnSignup: true });
  });

  it('redacts whole objects and arrays under a secret key', () => {
    expect(redact({ credential: { id: 'x', response: { clientDataJSON: 'y' } }, recoveryCodes: ['a', 'b'] }))
      .toEqual({ credential: REDACTED, recoveryCodes: REDACTED });
  });

  it('keeps harmless keys and values, null and undefined', () => {
    expect(redact({ email: 'a@example.com', name: 'Ann', count: 3, ok: false, none: null, password: null }))
      .toEqual({ email: 'a@example.com', name: 'Ann', count: 3, ok: false, none: null, password: null });
  });

  it('redacts at any depth, inside nested objects and arrays', () => {
    const input = { a: { b: [{ c: { password: 'p1' } }, [{ token: 't1' }]], headers: { authorization: 'Basic abc', cookie: 'sid=1' } } };
    const out = JSON.stringify(redact(input));
    expect(out).not.toMatch(/p1|t1|Basic abc|sid=1/);
    expect(redact(input)).toEqual({ a: { b: [{ c: { password: REDACTED } }, [{ token: REDACTED }]], headers: { authorization: REDACTED, cookie: REDACTED } } });
  });

  it('a secret nested deeper than the walk limit is cut off, never written', () => {
    let deep: Record<string, unknown> = { note: CK, password: 'deep-password' };
    for (let i = 0; i < 40; i++) deep = { level: deep };
    const out = JSON.stringify(redact(deep));
    expect(out).not.toContain(CK);
    expect(out).not.toContain('deep-password');
  });
});

describe('redact: secret-shaped values under harmless keys', () => {
  it.each([
    ['a user API key', CK],
    ['an admin key', AK],
    ['a step-up challenge', CH],
    ['a JWT', JWT],
    ['a refresh token', REFRESH],
    ['a bearer header', 'Bearer x'],
    ['a bearer header, any case', 'bearer opaque-token-value'],
  ])('%s', (_name, value) => {
    expect(redact({ note: value })).toEqual({ note: REDACTED });
    const embedded = redact({ note: `see ${value} here` }) as { note: string };
    expect(embedded.note).not.toContain(value);
    expect(embedded.note).toContain(REDACTED);
    expect(redact([value])).toEqual([REDACTED]);
    expect(redactString(value)).toBe(REDACTED);
  });

  it('redacts secret-shaped keys too', () => {
    expect(JSON.stringify(redact({ [CK]: 1 }))).not.toContain(CK);
  });

  it('redacts Buffers (they may hold key material)', () => {
    expect(redact({ blob: Buffer.from('secret') })).toEqual({ blob: REDACTED });
  });

  it('redacts Error messages and never keeps a stack', () => {
    const e = new Error(`failed with ${CK}`);
    const out = redact({ err: e }) as { err: { name: string; message: string; stack?: string } };
    expect(out.err.name).toBe('Error');
    expect(out.err.message).toBe(`failed with ${REDACTED}`);
    expect(out.err.stack).toBeUndefined();
    expect(JSON.stringify(out)).not.toMatch(/redact\.test\.ts|\n\s+at /);
    expect(JSON.stringify(out)).not.toContain(CK);
  });

  it('keeps keys that describe a secret (its id, prefix, type, time, count, lifetime), not those that hold one', () => {
    const about = {
      keyId: '0f8fad5b-d9cb-469f-a165-70867728950e', keyPrefix: 'ck_AbCd', accessTokenType: 'Bearer', accessTokenTtlSeconds: 900,
      passwordChangedAt: '2026-11-24T00:00:00.000Z', failedCodeCount: 3, api_key_id: 'k1', nonce_expires_at: 5, sessionKeyIds: ['a'],
    };
    expect(redact(about)).toEqual(about);
    const held = { key: 'x', apiKey: 'x', code: 123456, tokenid: 'x', keyIdentity: 'x', refreshToken: 'x', totp_code: 1, nonce: 'n', pinAt_: 'x' };
    for (const v of Object.values(redact(held) as Record<string, unknown>)) expect(v).toBe(REDACTED);
    // a secret-shaped value under a describing key is still caught by its shape
    expect(redact({ keyId: CK })).toEqual({ keyId: REDACTED });
    expect(redactUrl('/x?accessTokenType=Bearer&token=abc')).toBe(`/x?accessTokenType=Bearer&token=${REDACTED}`);
  });

  it('leaves ordinary identifiers alone (uuids, emails, short prefixes)', () => {
    const v = { id: '0f8fad5b-d9cb-469f-a165-70867728950e', email: 'ck_@example.com', label: 'ak_short' };
    expect(redact(v)).toEqual(v);
  });
});

describe('redact: log safety', () => {
  it('escapes control characters so no log line can be forged', () => {
    const out = redact({ ua: 'x\n{"level":"fatal","msg":"forged"}\r\u0000\u001b[31m\u2028' }) as { ua: string };
    expect(out.ua).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    expect(out.ua).toContain('\\u000a');
    expect(redactString('a\tb')).toBe('a\\u0009b');
  });

  it('is safe on cycles and never mutates its input', () => {
    const a: Record<string, unknown> = { name: 'a', password: 'p' };
    a.self = a;
    a.list = [a];
    const out = redact(a) as Record<string, unknown>;
    expect(out.self).toBe('[Circular]');
    expect(a.password).toBe('p');
    expect(() => JSON.stringify(out)).not.toThrow();
  });

  it('drops functions and symbols, turns dates into ISO strings, clips huge strings', () => {
    const out = redact({ f: () => 1, s: Symbol('x'), d: new Date(0), big: 'x'.repeat(10_000) }) as Record<string, unknown>;
    expect(out.f).toBeUndefined();
    expect(out.s).toBeUndefined();
    expect(out.d).toBe('1970-01-01T00:00:00.000Z');
    expect((out.big as string).length).toBeLessThan(3000);
  });

  it('redacts secret query parameters and secret-shaped path segments in URLs', () => {
    expect(redactUrl('/auth/oauth/google/callback?code=abc123&state=s1')).toBe(`/auth/oauth/google/callback?code=${REDACTED}&state=s1`);
    expect(redactUrl('/auth/x?api_key=zzz&token=t')).toBe(`/auth/x?api_key=${REDACTED}&token=${REDACTED}`);
    expect(redactUrl(`/auth/keys/${CK}`)).toBe(`/auth/keys/${REDACTED}`);
    expect(redactUrl('/auth/x?%63ode=abc')).toBe(`/auth/x?%63ode=${REDACTED}`);
  });
});

describe('pino output never contains a planted secret', () => {
  function capture() {
    const lines: string[] = [];
    const dest = new Writable({ write(chunk, _enc, cb) { lines.push(chunk.toString()); cb(); } });
    const log = createLogger('trace', dest as unknown as pino.DestinationStream);
    return { log, text: () => lines.join('') };
  }

  const PLANTED = [CK, AK, CH, JWT, REFRESH, 'hunter2-password', 'otp-654321', '654321', 'sid=cookie-value'];

  it('in merge objects, messages, interpolation, errors and child bindings', () => {
    const { log, text } = capture();
    log.info({ body: { email: 'a@example.com', password: 'hunter2-password', code: 654321 }, headers: { cookie: 'sid=cookie-value' } }, 'login');
    log.info({ note: `key ${CK}` }, `message with ${AK}`);
    log.warn('interpolated %s and %o and %j', JWT, { otp: 'otp-654321' }, { nested: { refresh_token: REFRESH } });
    log.error({ err: new Error(`boom ${CH}`) }, 'failed');
    log.error(new Error(`bare error ${CK}`));
    const child = log.child({ reqId: 'r1', apiKey: CK });
    child.info({ authorization: `Bearer ${JWT}` }, 'child');
    child.child({ token: REFRESH }).debug('grandchild');
    child.setBindings({ cookie: 'sid=cookie-value' });
    child.info('after setBindings');
    const out = text();
    for (const secret of PLANTED) expect(out, secret).not.toContain(secret);
    expect(out).toContain('a@example.com');
    expect(out).toContain('"reqId":"r1"');
    // Every line is one valid JSON object: nothing was forged or broken.
    for (const line of out.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    expect(out.trim().split('\n')).toHaveLength(8);
  });

  it('logs a failure by type and message, never with its stack', () => {
    const { log, text } = capture();
    log.error({ err: new Error('kaboom') }, 'unhandled error');
    const line = JSON.parse(text());
    expect(line.err).toMatchObject({ type: 'Error', message: 'kaboom' });
    expect(line.err.stack).toBeUndefined();
    expect(text()).not.toMatch(/"stack"|\\n\s+at |redact\.test\.ts/);
  });
});

describe('redact: issue 25 — common secret names', () => {
  const MORE_SECRET_KEYS = [
    'passwd', 'db_passwd', 'pwd', 'userPwd', 'pass', 'db_pass', 'userPass', 'PASS', 'mnemonic', 'walletMnemonic', 'seed', 'seedPhrase',
    'recovery_phrase', 'privateKey', 'private_key', 'secretKey', 'apiKey', 'clientSecret', 'client_secret', 'otp', 'pin', 'credential',
    'credentials', 'cookie', 'cookies', 'authorization', 'proxyAuthorization', 'auth', 'basicAuth', 'jwt', 'idJwt', 'bearer', 'salt',
    'dsn', 'connectionString', 'database_url', 'privateJwk', 'jwk', 'sessionSecret', 'assertion', 'sharedSecret',
  ];
  it.each(MORE_SECRET_KEYS)('redacts the value under %s', (key) => {
    expect(redact({ [key]: 'hunter2-value' })).toEqual({ [key]: REDACTED });
  });

  it('does not treat words that merely contain "pass" or "seed" as secrets', () => {
    const v = { passkeyCount: 2, compass: 'north', bypassed: false, passenger: 'Ann', seeded: true, succeeded: 'yes' };
    expect(redact(v)).toEqual(v);
  });

  it('a describing suffix on a bare secret word is still a secret (secretAt, tokenCount, passwordAt, codeSeconds)', () => {
    const held = { secretAt: 'hunter2-value', tokenCount: 'hunter2-value', passwordAt: 'hunter2', codeSeconds: 123456, pinMs: 4821, tokenType: 'opaque-value', key_at: 'x', otpKind: 'x' };
    expect(redact(held)).toEqual(Object.fromEntries(Object.keys(held).map((k) => [k, REDACTED])));
    // A value shaped like what the suffix describes (an id, a time) carries no secret, and stays.
    const about = { keyId: '0f8fad5b-d9cb-469f-a165-70867728950e', secretAt: '2026-11-24T00:00:00.000Z', tokenAt: new Date(0) };
    expect(redact(about)).toEqual({ ...about, tokenAt: '1970-01-01T00:00:00.000Z' });
    expect(redactUrl('/x?secretAt=hunter2&keyId=0f8fad5b-d9cb-469f-a165-70867728950e'))
      .toBe(`/x?secretAt=${REDACTED}&keyId=0f8fad5b-d9cb-469f-a165-70867728950e`);
  });
});

describe('redact: issue 25 — no part of a secret survives the length cut', () => {
  const LIMIT = 2048;
  const secretOf = (token: string) => token.slice(token.indexOf('.') + 1);
  // Every 6-character piece of a secret: none may appear in the output.
  const pieces = (s: string) => Array.from({ length: s.length - 5 }, (_, i) => s.slice(i, i + 6));

  it.each([
    ['a refresh token', REFRESH, secretOf(REFRESH)],
    ['a user API key', CK, CK.slice(3)],
    ['an admin key', AK, AK.slice(3)],
    ['a JWT', JWT, JWT.slice(JWT.indexOf('.') + 1)],
  ])('%s straddling the cut at every offset', (_name, token, secret) => {
    for (let before = 1; before < token.length; before++) {
      const input = `${'x'.repeat(LIMIT - before - 1)} ${token} trailing text`;
      const out = redactString(input);
      expect(out.length).toBeLessThanOrEqual(LIMIT + 1);
      for (const p of pieces(secret)) expect(out, `cut ${before} characters into it`).not.toContain(p);
    }
  });

  it('the audit log clips (target, user agent) without leaving a piece of a secret either', () => {
    const out = redactString(`${'t'.repeat(480)} ${REFRESH}`, { max: 500 });
    expect(out.length).toBeLessThanOrEqual(501);
    for (const p of pieces(secretOf(REFRESH))) expect(out).not.toContain(p);
  });

  it('a cut never splits a surrogate pair (the output is well-formed)', () => {
    const out = redactString(`${'x'.repeat(LIMIT - 1)}😀😀`);
    expect(isWellFormed(out)).toBe(true);
  });
});

describe('redact: issue 24 — lone surrogates are replaced (jsonb refuses them)', () => {
  it('in values and keys, at any depth', () => {
    const out = redact({ a: 'x\ud800y', ['k\udc00']: ['\udbff'], nested: { s: 'ok 😀 \udfff' } });
    expect(out).toEqual({ a: 'x\ufffdy', ['k\ufffd']: ['\ufffd'], nested: { s: 'ok 😀 \ufffd' } });
    expect(isWellFormed(JSON.stringify(out))).toBe(true);
    expect(redactString('\ud800')).toBe('\ufffd');
  });
});

function isWellFormed(s: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}
