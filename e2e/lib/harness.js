// Shared set-up for the browser tests: the browser, one context per user,
// a recorder of every HTML document the server sent, and the two page checks
// (axe-core and the Nu Html Checker) run over everything recorded.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const E2E_DIR = join(here, '..');
export const SCREENSHOTS = join(E2E_DIR, 'screenshots');

export const BASE = (process.env.E2E_BASE_URL || '').replace(/\/$/, '');
if (!BASE) {
  throw new Error('E2E_BASE_URL is not set: run the suite with `bash e2e/run.sh`');
}

export const PASSWORD = 'correct horse battery staple';

const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export const DESKTOP = { width: 1280, height: 900 };
export const MOBILE = { width: 375, height: 740 };

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

/**
 * Every HTML document a page received (navigations of the main frame,
 * including pages re-rendered with an error after a POST), deduplicated
 * after masking the per-session CSRF token.
 */
export const documents = new Map();
const pendingBodies = new Set();

function record(page, viewport, label) {
  page.on('response', (response) => {
    const request = response.request();
    if (!request.isNavigationRequest() || request.frame() !== page.mainFrame()) return;
    const status = response.status();
    if (status >= 300 && status < 400) return;
    if (!(response.headers()['content-type'] || '').startsWith('text/html')) return;
    const pending = response
      .text()
      .then((html) => {
        const masked = html.replace(/(name="csrf-token" content=|name="csrf_token" value=)"[^"]*"/g, '$1"-"');
        const hash = createHash('sha256').update(masked).digest('hex');
        if (!documents.has(hash)) {
          documents.set(hash, {
            url: response.url(),
            method: request.method(),
            status,
            html,
            viewport,
            label,
          });
        }
      })
      .catch(() => {}) // the page navigated away before the body was read
      .finally(() => pendingBodies.delete(pending));
    pendingBodies.add(pending);
  });
}

export async function settled() {
  await Promise.all([...pendingBodies]);
}

/**
 * A person with their own browser context (cookies) and page.
 * `js: false` disables JavaScript; `mobile: true` is a 375x740 phone.
 */
export async function person(browser, { name, email, timeZone = 'UTC', js = true, mobile = false }) {
  const viewport = mobile ? MOBILE : DESKTOP;
  const ctx = await browser.newContext({
    javaScriptEnabled: js,
    viewport,
    ...(mobile ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}),
    locale: 'en-GB',
  });
  ctx.setDefaultTimeout(10_000);
  ctx.setDefaultNavigationTimeout(15_000);
  const page = await ctx.newPage();
  const label = `${name}${js ? '' : ' (no JS)'}${mobile ? ' (mobile)' : ''}`;
  record(page, viewport, label);
  return {
    name,
    email,
    timeZone,
    ctx,
    page,
    label,
    /** Another tab in the same session, also recorded. */
    async newTab() {
      const tab = await ctx.newPage();
      record(tab, viewport, label);
      return tab;
    },
  };
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * Restarts the server under test with `args` (for example
 * `['--clock-ahead', '9d']`), on the same database, port and mail folder;
 * resolves once it answers again. Sessions survive: they are in the database.
 */
export async function restartServer(...args) {
  await promisify(execFile)('bash', [join(E2E_DIR, 'serve.sh'), 'restart', ...args], { timeout: 60_000 });
}

/** The page's `role=status` flash message. */
export function flash(page) {
  return page.getByRole('status');
}

/** Navigates and insists on a successful answer. */
export async function open(page, path) {
  const response = await page.goto(path.startsWith('http') ? path : BASE + path);
  assert.ok(response, `no response for ${path}`);
  assert.ok(response.ok(), `${path} answered ${response.status()}`);
  return response;
}

/** Clicks `locator` (a submit button or link) and waits for the page that answers. */
export async function submit(page, locator) {
  const [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    locator.click(),
  ]);
  return response;
}

/** Document overflow in the current page, in CSS pixels (0 when it fits). */
export async function horizontalOverflow(page) {
  return page.evaluate(() => {
    const el = document.scrollingElement;
    return el.scrollWidth - el.clientWidth;
  });
}

// --- axe-core -------------------------------------------------------------

const AXE_SOURCE = readFileSync(join(E2E_DIR, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/**
 * Runs axe-core over every recorded document. Each is replayed, byte for
 * byte as the server sent it, into a JavaScript-enabled page at its
 * original URL and viewport (the stylesheet still comes from the server),
 * so pages seen with JavaScript disabled are checked the same way.
 * Returns the serious and critical violations per page.
 */
export async function axeAll(browser) {
  await settled();
  const problems = [];
  const byViewport = new Map();
  for (const doc of documents.values()) {
    const key = `${doc.viewport.width}x${doc.viewport.height}`;
    if (!byViewport.has(key)) byViewport.set(key, []);
    byViewport.get(key).push(doc);
  }
  for (const docs of byViewport.values()) {
    const ctx = await browser.newContext({ viewport: docs[0].viewport, bypassCSP: true });
    const page = await ctx.newPage();
    let current = null;
    await page.route('**/*', (route) => {
      const request = route.request();
      if (current && request.isNavigationRequest() && request.url() === current.url) {
        return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: current.html });
      }
      if (new URL(request.url()).origin !== BASE) return route.abort();
      return route.continue();
    });
    for (const doc of docs) {
      current = doc;
      await page.goto(doc.url, { waitUntil: 'load' });
      await page.evaluate(AXE_SOURCE);
      const violations = await page.evaluate(async () => {
        // eslint-disable-next-line no-undef
        const result = await axe.run(document, { resultTypes: ['violations'] });
        return result.violations.map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary}`),
        }));
      });
      const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      if (bad.length) problems.push({ page: `${doc.method} ${doc.url} (${doc.status}, ${doc.label})`, violations: bad });
    }
    await ctx.close();
  }
  return problems;
}

// --- Nu Html Checker ------------------------------------------------------

const run = promisify(execFile);

/**
 * Writes every recorded document to a temporary folder and runs the Nu Html
 * Checker once over all of them. Returns the errors, each with its page.
 */
export async function validateAll() {
  await settled();
  const dir = process.env.E2E_HTML_DIR || mkdtempSync(join(tmpdir(), 'settled-html-'));
  mkdirSync(dir, { recursive: true });
  const files = new Map();
  let n = 0;
  for (const doc of documents.values()) {
    const slug = new URL(doc.url).pathname.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '') || 'root';
    const file = join(dir, `${String(n++).padStart(3, '0')}-${slug}.html`);
    writeFileSync(file, doc.html);
    files.set(file, doc);
  }
  const jar = join(E2E_DIR, 'node_modules', 'vnu-jar', 'build', 'dist', 'vnu.jar');
  let stdout;
  let stderr;
  try {
    ({ stdout, stderr } = await run('java', ['-jar', jar, '--errors-only', '--format', 'json', ...files.keys()], {
      maxBuffer: 64 * 1024 * 1024,
    }));
  } catch (err) {
    // vnu exits 1 when it found errors; its report is still on stderr.
    ({ stdout, stderr } = err);
    if (!stderr || !stderr.trim().startsWith('{')) throw err;
  }
  const report = JSON.parse((stderr || stdout).trim());
  return {
    count: files.size,
    dir,
    errors: report.messages
      .filter((m) => m.type === 'error' || m.subType === 'fatal')
      .map((m) => {
        const path = decodeURIComponent(new URL(m.url).pathname);
        const doc = files.get(path);
        return {
          page: doc ? `${doc.method} ${doc.url} (${doc.status}, ${doc.label})` : path,
          file: path,
          line: m.lastLine,
          message: m.message,
          extract: m.extract,
        };
      }),
  };
}

/** A local date-time string (`YYYY-MM-DDTHH:MM`) for `date` in `timeZone`. */
export function localInput(date, timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** How the app shows `date` to a viewer in `timeZone`, without the zone's abbreviation: `Fri 27 Nov 2026, 11:00`. */
export function shownAs(date, timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', {
      timeZone,
      weekday: 'short',
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.weekday.slice(0, 3)} ${parts.day} ${parts.month.slice(0, 3)} ${parts.year}, ${parts.hour}:${parts.minute}`;
}

/**
 * Runs steps in order as subtests of `t`; once one fails, the rest are
 * skipped (they would only fail for the same reason), and every open page
 * of `people` is saved as a screenshot for the failure.
 */
export function stepper(t, prefix, people) {
  let failed = null;
  return async (name, fn) => {
    await t.test(name, { skip: failed ? `an earlier step failed: ${failed}` : false }, async () => {
      try {
        await fn();
      } catch (err) {
        failed = name;
        for (const p of people()) {
          for (const [i, page] of p.ctx.pages().entries()) {
            await screenshot(page, `failed-${prefix}-${p.name.toLowerCase()}-${i}`).catch(() => {});
          }
        }
        throw err;
      }
    });
  };
}
