import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type CDPSession, type Page } from 'playwright-core';

/**
 * Debian's Chromium, driven by playwright-core. Never downloads a browser: the executable is the
 * system one (`apt-get install -y chromium`, see .ci/run and docs/getting-started.md "Development").
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null when they can. */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM_PATH) ? null : `Chromium not found at ${CHROMIUM_PATH}: install it with "apt-get install -y chromium" (or set CHROMIUM_PATH)`;
}

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A headless Chromium with a fresh user data dir, removed on close. */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'authplane-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM_PATH, headless: true, args: ARGS, timeout: 60_000 });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Where browser tests write screenshots (gitignored; CI may keep it as an artifact). */
export const TEST_OUTPUT_DIR = path.resolve('test-output');

/** Saves a full-page PNG of `page` as test-output/<folder>/<name>.png; returns its path. */
export async function screenshot(page: Page, folder: string, name: string): Promise<string> {
  const dir = path.join(TEST_OUTPUT_DIR, folder);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name.replace(/[^a-z0-9._-]+/gi, '-')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** One axe-core finding, trimmed to what a failing assertion should show. */
export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

const AXE_SOURCE_PATH = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/**
 * Runs axe-core (WCAG 2.x A/AA rules) in `page` and returns the serious and critical violations.
 * The script is injected through CDP's isolated evaluation (page.evaluate), not a <script> tag, so
 * the page's CSP does not have to allow it.
 */
export async function seriousA11yViolations(page: Page): Promise<AxeViolation[]> {
  const source = readFileSync(AXE_SOURCE_PATH, 'utf8');
  await page.evaluate(source);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: unknown, o: unknown): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => String(n.target[0])) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/**
 * A CDP virtual authenticator on `page` (CTAP2, internal, resident keys, user verification that always
 * passes), as test/e2e/passkeys-browser.test.ts sets it up: navigator.credentials in that page is answered by it.
 */
export async function addVirtualAuthenticator(context: BrowserContext, page: Page): Promise<{ cdp: CDPSession; authenticatorId: string }> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  return { cdp, authenticatorId };
}

/**
 * Registers a passkey for the user of `accessToken` from `page`, which must be a hosted page that serves
 * @simplewebauthn/browser (webauthn.js, e.g. the sign-in page): what the account page does in a browser.
 * Returns the status of /auth/passkeys/register/verify (201 when registered).
 */
export async function registerPasskeyFromHostedPage(page: Page, accessToken: string, name = 'Chromium'): Promise<number> {
  return page.evaluate(async ([token, label]) => {
    const lib = (window as unknown as { SimpleWebAuthnBrowser: { startRegistration(o: unknown): Promise<Record<string, unknown>> } }).SimpleWebAuthnBrowser;
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const options = await (await fetch('/auth/passkeys/register/options', { method: 'POST', credentials: 'omit', headers, body: '{}' })).json();
    const cred = await lib.startRegistration({ optionsJSON: options });
    return (await fetch('/auth/passkeys/register/verify', { method: 'POST', credentials: 'omit', headers, body: JSON.stringify({ ...cred, name: label }) })).status;
  }, [accessToken, name] as const);
}
