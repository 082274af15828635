// Settled in a real browser (issue #9). Run with `bash e2e/run.sh`, which
// builds and starts the app and sets E2E_BASE_URL.
//
// The journeys run one after another against one server; every HTML page
// they receive is recorded, and the last two tests check all of them with
// axe-core and the Nu Html Checker.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { axeAll, documents, launch, settled, validateAll } from '../lib/harness.js';
import { accountJourney, decideJourney, laterJourney } from '../journeys/decide.js';
import { mobileJourney } from '../journeys/mobile.js';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

test('journeys 1 and 2: a team forms, proposes, objects and decides (JavaScript on)', async (t) => {
  await decideJourney(t, browser, { js: true });
});

test('journey 3: the same with JavaScript disabled', async (t) => {
  await decideJourney(t, browser, { js: false });
});

test('journey 4: a phone (375x740): sign in, dashboard, proposal, stance, no sideways scrolling', async (t) => {
  await mobileJourney(t, browser);
});

test('journey 6: a forgotten password is reset from a phone, and the other sessions end', async (t) => {
  await accountJourney(t, browser);
});

// Last: it restarts the server with its clock ahead.
test('journey 5: nine and sixteen days later, an undecided proposal is overdue, and the admin is told', async (t) => {
  await laterJourney(t, browser);
});

test('the pages checked below include search, the areas answer and feeds, and only HTML', async () => {
  await settled();
  const urls = [...documents.values()].map((d) => new URL(d.url));
  const seen = (what, test) => assert.ok(urls.some(test), `no ${what} page was recorded`);
  seen('search results', (u) => u.pathname === '/search' && u.searchParams.get('q') === 'adopt');
  seen('search without results', (u) => u.pathname === '/search' && u.searchParams.get('q') === '"unbalanced (');
  seen('"who decides" answer', (u) => /^\/t\/[^/]+\/areas$/.test(u.pathname) && u.searchParams.has('q'));
  seen('feeds', (u) => /^\/t\/[^/]+\/feeds$/.test(u.pathname));
  // The Atom and iCalendar answers are fetched, not recorded: they are not HTML.
  assert.deepEqual(urls.filter((u) => u.pathname.startsWith('/feeds/')).map(String), []);
});

test('accessibility: axe-core finds no serious or critical violation on any page visited', async (t) => {
  assert.ok(documents.size > 0, 'no page was recorded');
  const problems = await axeAll(browser);
  t.diagnostic(`axe-core checked ${documents.size} distinct pages`);
  const report = problems
    .map(
      (p) =>
        `${p.page}\n` +
        p.violations.map((v) => `  [${v.impact}] ${v.id}: ${v.help}\n    ${v.nodes.join('\n    ')}`).join('\n'),
    )
    .join('\n');
  assert.equal(problems.length, 0, `axe-core violations on ${problems.length} of ${documents.size} pages:\n${report}`);
});

test('HTML validity: the Nu Html Checker finds no error in any page visited', async (t) => {
  assert.ok(documents.size > 0, 'no page was recorded');
  const { count, errors, dir } = await validateAll();
  t.diagnostic(`the Nu Html Checker checked ${count} distinct pages`);
  const report = errors.map((e) => `${e.page} line ${e.line}: ${e.message}\n    ${e.extract ?? ''}`).join('\n');
  assert.equal(errors.length, 0, `${errors.length} HTML errors in ${count} pages (files in ${dir}):\n${report}`);
});
