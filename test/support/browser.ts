// A real Chromium (Debian's package, driven by playwright-core) for the console's tests, with
// every console error and uncaught page error collected so a test can require there were none.

import { access } from 'node:fs/promises';
import type { TestContext } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { CONSOLE_DIR } from '../../src/cli/server-runtime.ts';

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught exceptions seen so far, as text. */
  errors: string[];
}

/** Launches Chromium (MUON_TEST_CHROMIUM or /usr/bin/chromium), closed after the test. */
export async function openBrowser(
  t: TestContext,
  viewport: { width: number; height: number } = { width: 1280, height: 800 },
): Promise<TestBrowser> {
  await access(`${CONSOLE_DIR}/index.html`).catch(() => {
    throw new Error('the console is not built: run `npm run build:console` (npm test builds it)');
  });
  const browser = await chromium.launch({
    executablePath: process.env.MUON_TEST_CHROMIUM || '/usr/bin/chromium',
    args: ARGS,
    timeout: 30_000,
  });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page: ${error.message}`));
  return { browser, context, page, errors };
}
