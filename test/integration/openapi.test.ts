import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import SwaggerParser from '@apidevtools/swagger-parser';
import { createTestApp, call, type TestApp } from '../helpers/app.js';
import { OPENAPI_FILE } from '../../scripts/write-openapi.js';

type Operation = { operationId?: string; responses?: Record<string, unknown>; security?: unknown[] };
type Doc = { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, Operation>>; components?: Record<string, unknown> };

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
const DRIFT = 'openapi.json is out of date with the routes: run `npm run openapi` and commit openapi.json';

let t: TestApp;
let doc: Doc;

beforeAll(async () => {
  t = await createTestApp();
  const res = await call(t.app, { method: 'GET', url: '/auth/openapi.json' });
  expect(res.statusCode).toBe(200);
  doc = res.data as Doc;
});
afterAll(async () => { await t?.close(); });

const operations = () => Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item).filter(([m]) => METHODS.includes(m)).map(([method, op]) => ({ path, method, op })));

describe('GET /auth/openapi.json', () => {
  it('is a valid OpenAPI 3 document (swagger-parser validate)', async () => {
    expect(doc.openapi).toMatch(/^3\.(0|1)\.\d+$/);
    // validate() dereferences in place: give it a copy.
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
  });

  it('is served as public, cacheable JSON with the security headers', async () => {
    const res = await call(t.app, { method: 'GET', url: '/auth/openapi.json' });
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toMatch(/public/);
  });

  it('names the service and its version', () => {
    expect(doc.info.title).toBe('Authplane');
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('gives every operation a unique operationId and declares its responses', () => {
    const ops = operations();
    expect(ops.length).toBeGreaterThan(0);
    const ids = ops.map(({ op }) => op.operationId);
    for (const { path, method, op } of ops) {
      expect(op.operationId, `${method.toUpperCase()} ${path} has no operationId`).toBeTruthy();
      expect(Object.keys(op.responses ?? {}).length, `${method.toUpperCase()} ${path} declares no response`).toBeGreaterThan(0);
    }
    expect(new Set(ids).size, 'operationIds are unique').toBe(ids.length);
  });

  it('documents the liveness route and itself (Cedros lists GET /openapi.json)', () => {
    expect(doc.paths['/auth/health']?.get).toBeDefined();
    expect(doc.paths['/auth/openapi.json']?.get?.operationId).toBe('openapi');
  });

  it('declares the credential schemes, and each authenticated operation names one', () => {
    const schemes = (doc.components?.securitySchemes ?? {}) as Record<string, unknown>;
    for (const s of ['bearerAuth', 'apiKey', 'accessCookie', 'adminKey']) expect(schemes[s]).toBeDefined();
    for (const { op } of operations()) {
      for (const requirement of op.security ?? []) {
        for (const name of Object.keys(requirement as object)) expect(Object.keys(schemes)).toContain(name);
      }
    }
  });
});

describe('the committed openapi.json', () => {
  it('exists at the repository root', () => {
    expect(existsSync(OPENAPI_FILE), `${OPENAPI_FILE} is missing: run \`npm run openapi\``).toBe(true);
  });

  it('equals the served document', () => {
    const committed = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'));
    // The drift message is what a developer who added a route sees first.
    expect(doc, DRIFT).toEqual(committed);
  });

  it('is formatted as `npm run openapi` writes it (2-space JSON, final newline)', () => {
    const text = readFileSync(OPENAPI_FILE, 'utf8');
    expect(text, DRIFT).toBe(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
  });
});
