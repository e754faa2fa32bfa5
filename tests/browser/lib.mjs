// Shared by the flows: Chromium launched the way this machine needs, the
// mail the SMTP sink received, screenshots, and a few page helpers.
// tests/browser/main.rs sets BASE_URL, MAIL_DIR, SHOT_DIR, FLOW, CHROMIUM.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export { assert };

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the flows through \`cargo test --test browser\``);
  }
  return value;
}

export const BASE = required('BASE_URL');
const MAIL_DIR = required('MAIL_DIR');
const SHOT_DIR = required('SHOT_DIR');
const FLOW = required('FLOW');

// A hung page must fail the flow rather than the whole `cargo test`.
setTimeout(() => {
  console.error(`flow ${FLOW} still running after 180 s: giving up`);
  process.exit(2);
}, 180_000).unref();

/** Headless Chromium on a fresh, empty profile. Without the
 * background-networking flags Chromium keeps calling out to Google's
 * services, which this closed network only answers with timeouts. */
export async function launch() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tower-users-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true, // Playwright passes --headless
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 900, height: 700 },
  });
  // Argon2 at full cost on a shared two-core machine: give forms time.
  context.setDefaultTimeout(20_000);
  const close = async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, page: context.pages()[0] ?? (await context.newPage()), close };
}

// This flow's screenshots from an earlier run would pass for this run's.
for (const name of fs.readdirSync(SHOT_DIR)) {
  if (name.startsWith(`${FLOW}-`) && name.endsWith('.png')) {
    fs.rmSync(path.join(SHOT_DIR, name));
  }
}

let shots = 0;
/** Saves a full-page screenshot as SHOT_DIR/FLOW-NN-name.png. */
export async function shot(page, name) {
  shots += 1;
  const file = path.join(SHOT_DIR, `${FLOW}-${String(shots).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot ${file}`);
  return file;
}

/** Every message the SMTP sink has accepted, oldest first. */
export function mails() {
  return fs
    .readdirSync(MAIL_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => JSON.parse(fs.readFileSync(path.join(MAIL_DIR, name), 'utf8')));
}

/** Waits (up to 30 s) until `count` messages to `to` for which `where` holds
 * have arrived; returns them, oldest first. */
export async function waitForMail(to, { where = () => true, count = 1 } = {}) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found = mails().filter((m) => m.rcpt_tos.includes(to) && where(m));
    if (found.length >= count) {
      return found;
    }
    if (Date.now() > deadline) {
      const seen = mails().map((m) => `${m.rcpt_tos.join(',')}: ${m.subject}`);
      throw new Error(`only ${found.length} of ${count} emails to ${to} arrived; all mail:\n${seen.join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The one link of a message's text part. */
export function linkIn(mail) {
  const links = mail.text.split(/\s+/).filter((word) => word.startsWith('http'));
  assert.equal(links.length, 1, `one link expected in:\n${mail.text}`);
  return links[0];
}

/** The `<dd>` that follows the `<dt>` named `term` on the account page. */
export function detail(page, term) {
  return page
    .locator('dt', { hasText: new RegExp(`^\\s*${term}\\s*$`) })
    .locator('xpath=following-sibling::dd[1]');
}

/** A URL predicate for page.waitForURL: this server's `path`, whatever the
 * query (the pages add `?done=…` after an action). */
export function at(path) {
  return (url) => url.origin === BASE && url.pathname === path;
}

/** Signs up through the page and lands on the account page. */
export async function signUp(page, email, password) {
  await page.goto(`${BASE}/signup`);
  await page.getByRole('heading', { level: 1, name: 'Sign up' }).waitFor();
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.waitForURL(at('/account'));
  await page.getByRole('heading', { level: 1, name: 'Your account' }).waitFor();
}

/** Logs in through the page; resolves once the page answered. */
export async function logIn(page, email, password) {
  await page.goto(`${BASE}/login`);
  await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForLoadState();
}

/** Presses "Log out" on the account page; the account page then sends the
 * browser to the login page. */
export async function logOut(page) {
  await page.goto(`${BASE}/account`);
  await page.getByRole('form', { name: 'Log out', exact: true }).getByRole('button', { name: 'Log out', exact: true }).click();
  await page.waitForLoadState();
  await page.goto(`${BASE}/account`);
  await page.waitForURL(at('/login'));
}
