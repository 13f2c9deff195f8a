import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import type { CDPSession, Page } from 'playwright-core';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { chromiumMissing, launchChromium } from '../../../test/helpers/chromium.js';
import { raiseLimits } from '../../../test/helpers/identity.js';

/**
 * The built package in a real browser: headless Chromium loads dist/*.js as native ES modules from the
 * server's own origin (served by request interception, so the API keeps its CSP), and the client's default
 * passkey ceremony (the browser's WebAuthn JSON API) registers and signs in with a CDP virtual authenticator.
 */
const missing = chromiumMissing();
if (missing) console.warn(`[client browser-passkeys] SKIPPED: ${missing}`);
const DIST = new URL('../dist/', import.meta.url);

const PAGE = `<!doctype html><meta charset="utf-8"><title>client</title><script type="module">
import { createAuthplaneClient, isMfaRequired } from '/client/index.js';
window.flow = async (email, password) => {
  const app = createAuthplaneClient({ baseUrl: location.origin });
  await app.register({ email, password });
  const pk = await app.passkeys.register({ name: 'Chromium' });
  const fresh = createAuthplaneClient({ baseUrl: location.origin });
  const r = await fresh.passkeys.signIn({ email });
  const user = await fresh.getUser();
  return { passkeyName: pk.name, mfa: isMfaRequired(r), email: user.email };
};
window.ready = true;
</script>`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as net.AddressInfo; s.close(() => resolve(port)); });
  });
}

describe.skipIf(missing !== null)('@authplane/client in Chromium', () => {
  let t: TestApp;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let cdp: CDPSession;

  beforeAll(async () => {
    if (!existsSync(new URL('index.js', DIST))) throw new Error('clients/typescript/dist is missing: run npm run client:build (npm run client:test does)');
    const port = await freePort();
    const origin = `http://localhost:${port}`; // a secure context without TLS, so WebAuthn is available
    t = await createTestApp({ env: { PUBLIC_URL: origin } });
    await raiseLimits(t);
    const def = await t.deps.tenants.defaultTenant();
    await t.deps.tenants.update(def.id, { settings: { ...def.settings, allowedOrigins: [origin] } });
    await t.app.listen({ port, host: '127.0.0.1' });
    browser = await launchChromium();
    page = browser.context.pages()[0] ?? await browser.context.newPage();
    await browser.context.route(`${origin}/client/**`, (route) => {
      const rel = new URL(route.request().url()).pathname.slice('/client/'.length);
      if (rel === 'page.html') return route.fulfill({ contentType: 'text/html; charset=utf-8', body: PAGE });
      const file = new URL(rel, DIST);
      if (!/^[a-z0-9/-]+\.js$/.test(rel) || !existsSync(file)) return route.fulfill({ status: 404, body: '' });
      return route.fulfill({ contentType: 'text/javascript; charset=utf-8', body: readFileSync(file, 'utf8') });
    });
    cdp = await browser.context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    await page.goto(`${origin}/client/page.html`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('registers a passkey and signs in with it through the default browser ceremony', async () => {
    const email = `browser-${Date.now()}@example.com`;
    const r = await page.evaluate(([e, p]) => (window as unknown as { flow(e: string, p: string): Promise<unknown> }).flow(e!, p!), [email, 'correct horse battery staple']);
    expect(r).toEqual({ passkeyName: 'Chromium', mfa: false, email });
  });
});
