import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { chromiumMissing, launchChromium, screenshot, seriousA11yViolations } from '../helpers/chromium.js';
import { login, newEmail, PASSWORD, type SignedIn } from '../helpers/identity.js';
import { totpAt } from '../../src/modules/mfa/totp.js';
import { freePort } from '../helpers/cli.js';

/**
 * The account page in a real browser (Debian's Chromium), as a person uses it: API keys (created on the
 * page, used with fetch, revoked), sessions (one ended), passkeys (added with the CDP virtual authenticator,
 * removed), TOTP enrolment from the key shown beside the QR code, the gate on a sensitive form, export and
 * deletion. Every page is checked with axe-core and photographed under test-output/account/.
 */
const missing = chromiumMissing();
if (missing) console.warn(`[ui-account] SKIPPED: ${missing}`);


describe.skipIf(missing !== null)('the account page in Chromium', () => {
  let t: TestApp;
  let origin: string;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  let user: SignedIn;
  let totpSecret: string;
  const account = () => `${origin}/auth/ui/account`;

  /** Checks the page with axe-core and saves a screenshot. */
  async function look(name: string): Promise<void> {
    expect(await seriousA11yViolations(page), `${name}: serious or critical accessibility violations`).toEqual([]);
    await screenshot(page, 'account', name);
  }
  /** The text of the first element matching `selector`, once it is there. */
  const text = async (selector: string) => {
    try {
      await page.locator(selector).first().waitFor({ timeout: 15_000 });
    } catch (err) {
      await screenshot(page, 'account', 'failure');
      throw new Error(`${selector} not on ${page.url()}: ${(await page.textContent('main'))?.slice(0, 300)}`, { cause: err });
    }
    return (await page.locator(selector).first().textContent())!.trim();
  };
  const count = (selector: string) => page.locator(selector).count();
  const code = () => totpAt(totpSecret, t.clock.nowMs() / 1000);
  const apiStatus = async (credential: string) => (await fetch(`${origin}/auth/user`, { headers: { authorization: `Bearer ${credential}` } })).status;

  beforeAll(async () => {
    const port = await freePort();
    origin = `http://localhost:${port}`;
    t = await createTestApp({ env: { PUBLIC_URL: origin } });
    const def = await t.deps.tenants.defaultTenant();
    await t.deps.tenants.update(def.id, { settings: { allowedOrigins: [origin] } });
    await t.app.listen({ port, host: '127.0.0.1' });
    browser = await launchChromium();
    context = browser.context;
    page = context.pages()[0] ?? await context.newPage();
    await page.setViewportSize({ width: 1000, height: 900 });
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    }));
    // Registered from this browser: the response sets the DESIGN §3 cookies, as after the sign-up page.
    // Any page of the UI: its CSP lets a script fetch this origin (the API's own CSP does not).
    await page.goto(`${origin}/auth/ui/account`);
    const email = newEmail('account-ui');
    const reg = await page.evaluate(async (b) => {
      const r = await fetch('/auth/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
      return { status: r.status, data: await r.json() };
    }, { email, password: PASSWORD });
    expect(reg.status, JSON.stringify(reg.data)).toBe(200);
    user = { email, password: PASSWORD, userId: reg.data.user.id, accessToken: reg.data.tokens.accessToken, refreshToken: reg.data.tokens.refreshToken, cookies: [], body: reg.data };
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('shows the profile, on a desktop and on a phone', async () => {
    await page.goto(account());
    expect(await text('h1')).toBe('Your account');
    expect(await page.textContent('main')).toContain(user.email);
    await look('profile');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${account()}/security`);
    await look('security-phone');
    // Nothing overflows sideways on a phone.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.setViewportSize({ width: 1000, height: 900 });
  });

  it('creates an API key (shown once, with a copy button), uses it with fetch, revokes it and sees it refused', async () => {
    await page.goto(`${account()}/api-keys`);
    await look('api-keys');
    await page.fill('#api-key-create-name', 'CI deploy');
    await page.fill('#api-key-create-scopes', 'user:read sessions:read');
    await page.fill('#api-key-create-expiresInDays', '30');
    await page.click('form[action$="/api-keys"] button[type=submit]');
    const secret = (await page.textContent('#new-api-key'))!.trim();
    expect(secret).toMatch(/^ck_/);
    expect(await page.isVisible('button[data-copy="new-api-key"]')).toBe(true);
    await look('api-key-created');
    expect(await apiStatus(secret)).toBe(200);

    await page.click('text=Back to API keys');
    const listed = await page.textContent('#key-list');
    expect(listed).toContain('CI deploy');
    expect(listed).toContain(secret.slice(0, 11));
    expect(await page.content()).not.toContain(secret);
    await page.click('#key-list li:has-text("CI deploy") button');
    expect(await text('[role=status]')).toBe('The key has been revoked.');
    expect(await apiStatus(secret)).toBe(401);
  });

  it('lists the sessions and ends another one', async () => {
    const other = await login(t.app, { email: user.email });
    expect(await apiStatus(other.accessToken)).toBe(200);
    await page.goto(`${account()}/sessions`);
    const sid = (await call(t.app, { method: 'GET', url: '/auth/sessions', token: other.accessToken })).data.items.find((s: { current: boolean }) => s.current).id as string;
    expect(await count(`li[data-session="${sid}"]`)).toBe(1);
    await look('sessions');
    await page.click(`li[data-session="${sid}"] button`);
    expect(await text('[role=status]')).toBe('The session has ended.');
    expect(await count(`li[data-session="${sid}"]`)).toBe(0);
    expect(await apiStatus(other.accessToken)).toBe(401);
    expect(await apiStatus(user.accessToken)).toBe(200);
  });

  it('adds a passkey with the virtual authenticator and removes it', async () => {
    await page.goto(`${account()}/security`);
    await page.fill('#passkey-add-name', 'Laptop');
    await page.click('#passkey-add-button');
    await page.waitForURL(/done=passkey-added/);
    expect(await text('#passkey-list')).toContain('Laptop');
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    await look('passkey-added');
    await page.click('#passkey-list li:has-text("Laptop") button');
    expect(await text('[role=status]')).toBe('Passkey removed.');
    const left = await t.stores.sql.ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM passkey_credentials WHERE user_id = $1', [user.userId]);
    expect(left.rows[0]!.n).toBe(0);
  });

  it('enrols TOTP from the key shown beside the QR code and shows the recovery codes once', async () => {
    await page.goto(`${account()}/security`);
    await page.click('form[action$="/mfa/setup"] button');
    await page.locator('figure.qr svg').waitFor();
    // As a person would: type the key the page shows (grouped in fours) into an authenticator.
    totpSecret = (await page.textContent('#totp-secret'))!.replace(/\s+/g, '');
    expect(await page.textContent('#totp-uri')).toContain(`secret=${totpSecret}`);
    await look('mfa-setup');
    await page.fill('#mfa-enable-code', code());
    await page.click('form[action$="/mfa/enable"] button');
    await page.locator('#recovery-codes').waitFor();
    expect(await count('#recovery-codes li')).toBe(10);
    const firstCode = await text('#recovery-codes li');
    await look('mfa-recovery-codes');
    const status = await call(t.app, { method: 'GET', url: '/auth/mfa/status', token: user.accessToken });
    expect(status.data).toMatchObject({ enabled: true, recoveryCodesRemaining: 10 });
    // Shown once: the security page no longer has them.
    await page.goto(`${account()}/security`);
    expect(await page.content()).not.toContain(firstCode);
  });

  it('downloads the export', async () => {
    await page.goto(`${account()}/data`);
    await look('data');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('text=Download my data')]);
    const doc = JSON.parse(readFileSync((await download.path())!, 'utf8'));
    expect(JSON.stringify(doc)).toContain(user.email);
    expect(JSON.stringify(doc)).not.toMatch(/ck_[A-Za-z0-9_-]{20,}/);
  });

  it('deletes the account after the TOTP gate', async () => {
    t.clock.advance(31_000);
    await page.goto(`${account()}/data`);
    await page.fill('#account-delete-confirm', 'DELETE');
    await page.fill('#account-delete-currentPassword', user.password);
    await page.click('form[action$="/delete"] button');
    // The gate: a fresh code steps the session up and brings the browser back to the form.
    await page.waitForURL(/\/auth\/ui\/account\/confirm/);
    await look('confirm');
    await page.fill('#account-confirm-code', code());
    await page.click('form[action$="/confirm"] button[type=submit]');
    await page.waitForURL(/\/auth\/ui\/account\/data\?done=confirmed/);
    expect(await text('[role=status]')).toBe('Confirmed. Send the form again to finish.');
    await page.fill('#account-delete-confirm', 'DELETE');
    await page.fill('#account-delete-currentPassword', user.password);
    await page.click('form[action$="/delete"] button');
    expect(await text('h1')).toBe('Your account has been deleted.');
    await look('deleted');
    expect(await apiStatus(user.accessToken)).toBe(401);
    const again = await call(t.app, { method: 'POST', url: '/auth/login', json: { email: user.email, password: user.password } });
    expect(again.statusCode).toBe(401);
  });
});
