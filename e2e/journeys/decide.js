// Journeys 1 and 2 (and, with JavaScript disabled, journey 3): a team is
// created, two members join through invitation links, a proposal with a
// named decider and a deadline collects stances and comments, the decider is
// refused while the rules say no and then records; the permalink keeps the
// record, and a second proposal supersedes the first.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import {
  BASE,
  PASSWORD,
  flash,
  horizontalOverflow,
  localInput,
  open,
  person,
  restartServer,
  screenshot,
  shownAs,
  stepper,
  submit,
} from '../lib/harness.js';

const DAY = 24 * 60 * 60 * 1000;

// --- what a person does ---------------------------------------------------

const accountNav = (page) => page.getByRole('navigation', { name: 'Account' });
const teamNav = (page) => page.getByRole('navigation', { name: 'Team' });
const heading1 = (page) => page.getByRole('heading', { level: 1 });

/** The text as rendered (CSS text-transform applies: status badges read in capitals). */
async function text(locator) {
  return (await locator.innerText()).replace(/\s+/g, ' ').trim();
}

/** The text as written in the page. */
async function content(locator) {
  return (await locator.textContent()).replace(/\s+/g, ' ').trim();
}

async function signUp(p) {
  const { page } = p;
  await open(page, '/');
  // Signed out, the app asks to sign in; a new person follows "Sign up".
  assert.match(new URL(page.url()).pathname, /^\/sign-(in|up)$/);
  await submit(page, accountNav(page).getByRole('link', { name: 'Sign up' }));
  await fillSignUp(p);
}

/** Fills the sign-up form; the new account lands on `landing` (a page's h1). */
async function fillSignUp(p, landing = 'Your teams') {
  const { page } = p;
  assert.equal(await text(heading1(page)), 'Create your account');
  await page.getByLabel('Email').fill(p.email);
  await page.getByLabel('Display name').fill(p.name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Time zone').fill(p.timeZone);
  await submit(page, page.getByRole('button', { name: 'Create account' }));
  assert.equal(await text(flash(page)), `Welcome, ${p.name}.`);
  assert.equal(await text(heading1(page)), landing);
  // The header shows who is signed in.
  await accountNav(page).getByRole('link', { name: p.name }).waitFor();
}

async function createInvitation(admin, role) {
  const { page } = admin;
  await submit(page, teamNav(page).getByRole('link', { name: 'Settings' }));
  assert.equal(await text(heading1(page)), 'Team settings');
  await page.getByLabel('Role', { exact: true }).selectOption(role);
  await submit(page, page.getByRole('button', { name: 'Create invitation link' }));
  const link = await page.getByLabel('Invitation link').inputValue();
  assert.ok(link.startsWith(`${BASE}/invite/`), `invitation link ${link} is not under ${BASE}/invite/`);
  return link;
}

async function join(p, link, teamName) {
  await open(p.page, link);
  await acceptInvitation(p, teamName);
}

/** On an invitation's page: join. */
async function acceptInvitation(p, teamName) {
  const { page } = p;
  assert.match(new URL(page.url()).pathname, /^\/invite\/[\w-]+$/);
  assert.equal(await text(heading1(page)), `Join ${teamName}`);
  await page.getByText(`Ana invites you to join ${teamName} as a member.`).waitFor();
  await submit(page, page.getByRole('button', { name: `Join ${teamName}` }));
  assert.equal(await text(flash(page)), `Welcome to ${teamName}.`);
  assert.match(await text(heading1(page)), new RegExp(`^${teamName} `));
}

const region = (page, name) => page.getByRole('region', { name });
const stances = (page) => region(page, 'Stances');

async function takeStance(p, position, reason = '') {
  const { page } = p;
  const form = stances(page);
  await form.getByRole('group', { name: 'Your stance' }).getByRole('radio', { name: position, exact: true }).check();
  await form.getByLabel('Reason').fill(reason);
  return submit(page, form.getByRole('button', { name: 'Save my stance' }));
}

/** The cells of the member's row in the stances table: [member, stance, reason, when, comments]. */
async function stanceOf(page, name) {
  const row = stances(page)
    .getByRole('row')
    .filter({ has: page.getByRole('cell', { name, exact: true }) });
  assert.equal(await row.count(), 1, `exactly one stances row for ${name}`);
  return Promise.all((await row.getByRole('cell').all()).map(content));
}

async function stanceRows(page) {
  // One header row, then one row per voting member.
  return (await stances(page).getByRole('row').count()) - 1;
}

async function comment(p, body, shown = body) {
  const { page } = p;
  const comments = region(page, /^Comments \(\d+\)$/);
  await comments.getByLabel('Add a comment').fill(body);
  await submit(page, comments.getByRole('button', { name: 'Comment', exact: true }));
  assert.equal(await text(flash(page)), 'Comment added.');
  await region(page, /^Comments \(\d+\)$/).getByText(shown).waitFor();
}

async function openFromDashboard(p, teamName, id) {
  const { page } = p;
  await open(page, '/');
  await submit(page, page.getByRole('link', { name: teamName, exact: true }));
  const link = region(page, 'Needs your stance').getByRole('link', { name: new RegExp(`^${id} `) });
  await submit(page, link);
  assert.match(await text(heading1(page)), new RegExp(`^${id} `));
}

async function newProposal(p, { title, body, decider, closesAt, supersedes }) {
  const { page } = p;
  await submit(page, teamNav(page).getByRole('link', { name: 'New proposal' }));
  assert.equal(await text(heading1(page)), 'New proposal');
  await page.getByLabel('Title').fill(title);
  await page.getByLabel('Proposal').fill(body);
  await page.getByLabel('Decider').selectOption({ label: decider });
  await page.getByLabel('Earliest decision').fill(closesAt ?? '');
  if (supersedes) await page.getByLabel('Supersedes').selectOption({ label: supersedes });
  return submit(page, page.getByRole('button', { name: 'Open proposal' }));
}

/** Marks the page, so that `notReloaded` can tell a live update from a reload. */
async function markLoaded(page) {
  await page.evaluate(() => {
    window.settledNotReloaded = true;
  });
}

async function notReloaded(page) {
  return page.evaluate(() => window.settledNotReloaded === true);
}

/**
 * The one-click unsubscribe link of the latest `kind` mail to `address`,
 * from the .eml files the server wrote (run.sh sets E2E_MAIL_DIR).
 */
function unsubscribeLink(address, kind) {
  const dir = process.env.E2E_MAIL_DIR;
  assert.ok(dir, 'E2E_MAIL_DIR is not set');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(`-${kind}.eml`))
    .sort()
    .reverse();
  for (const f of files) {
    // Headers end at the first empty line; long ones are folded.
    const head = readFileSync(joinPath(dir, f), 'utf8').split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' ');
    const to = head.match(/^To: (.*)$/m);
    const link = head.match(/^List-Unsubscribe: <([^>]+)>/m);
    if (to && to[1].includes(address) && link) return link[1];
  }
  assert.fail(`no ${kind} mail to ${address} in ${dir}`);
}

/**
 * The headers of the latest `kind` mail to `address` (unfolded, one string),
 * waiting up to 10 s for the server's worker to write it.
 */
async function mailHead(address, kind) {
  const dir = process.env.E2E_MAIL_DIR;
  assert.ok(dir, 'E2E_MAIL_DIR is not set');
  for (let i = 0; i < 100; i++) {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith(`-${kind}.eml`))
      .sort()
      .reverse();
    for (const f of files) {
      const head = readFileSync(joinPath(dir, f), 'utf8').split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' ');
      const to = head.match(/^To: (.*)$/m);
      if (to && to[1].includes(address)) return head;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`no ${kind} mail to ${address} in ${dir}`);
}

/**
 * An IANA zone (`Etc/GMT…`) where it is now about nine in the morning, so
 * that an overdue reminder, sent in the decider's local morning, goes out
 * while the journey runs.
 */
function morningZone() {
  let offset = (9 - new Date().getUTCHours() + 24) % 24;
  if (offset > 14) offset -= 24;
  // POSIX-style names: Etc/GMT-9 is nine hours ahead of UTC.
  return offset === 0 ? 'Etc/UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
}

/** Live updates must show within a second or two; allow for a loaded machine. */
const LIVE = { timeout: 5_000 };

async function mainText(page) {
  return text(page.getByRole('main'));
}

// --- the journey ----------------------------------------------------------

/**
 * @param {import('node:test').TestContext} t
 * @param {import('playwright-core').Browser} browser
 * @param {{ js: boolean }} mode
 */
export async function decideJourney(t, browser, { js }) {
  const tag = js ? '' : '-nojs';
  const teamName = js ? 'Platform' : 'Platform Plain';
  const key = js ? 'ARCH' : 'PLAIN';
  const shot = (page, name) => screenshot(page, `${name}${tag}`);
  const people = [];
  const step = stepper(t, js ? 'js' : 'nojs', () => people);

  const make = async (name, timeZone) => {
    const p = await person(browser, { name, email: `${name.toLowerCase()}${tag}@example.com`, timeZone, js });
    people.push(p);
    return p;
  };
  const ana = await make('Ana', 'Europe/Berlin');
  const bob = await make('Bob', 'America/New_York');
  const chen = await make('Chen', 'Asia/Tokyo');

  let slug;
  const title1 = 'Adopt Rust for the ingest service';
  const title2 = 'Adopt Rust for ingest, with an on-call rotation';
  const deadline = new Date(Math.ceil((Date.now() + 3 * DAY) / 3_600_000) * 3_600_000);
  const id1 = `${key}-1`;
  const id2 = `${key}-2`;
  const statement = 'We adopt Rust for the ingest service.';
  const rationale = 'Fewer crashes outweigh the learning cost.';

  try {
    await step('1a. Ana signs up and creates a team', async () => {
      await signUp(ana);
      await ana.page.getByText('You are not in a team yet.').waitFor();
      await ana.page.getByLabel('Team name').fill(teamName);
      await ana.page.getByLabel('Key').fill(key);
      await submit(ana.page, ana.page.getByRole('button', { name: 'Create team' }));
      assert.equal(await text(flash(ana.page)), `Team ${teamName} created. Invite your colleagues from its settings.`);
      assert.equal(await text(heading1(ana.page)), `${teamName} ${key}`);
      slug = new URL(ana.page.url()).pathname.replace(/^\/t\//, '');
      assert.match(slug, /^[a-z0-9-]+$/);
      // A new team's dashboard has nothing waiting yet.
      await region(ana.page, 'Needs your stance').getByText('Nothing waits for you.').waitFor();
      await region(ana.page, 'Recently decided').getByText('No decisions recorded yet.').waitFor();
    });

    await step('1b. Bob follows an invitation link, signs up and joins', async () => {
      const link = await createInvitation(ana, 'member');
      // Signed out, the invitation says who invites him to what; he creates
      // an account, and lands back on the invitation without opening it again.
      const invitePath = new URL(link).pathname;
      await open(bob.page, link);
      let url = new URL(bob.page.url());
      assert.equal(url.pathname, invitePath);
      assert.equal(await text(heading1(bob.page)), `Join ${teamName}`);
      await bob.page.getByText(`Ana invites you to join ${teamName} as a member.`).waitFor();
      await bob.page.getByRole('main').getByRole('link', { name: 'Sign in' }).waitFor();
      await shot(bob.page, 'invitation-signed-out');
      await submit(bob.page, bob.page.getByRole('main').getByRole('link', { name: 'Create account' }));
      url = new URL(bob.page.url());
      assert.equal(url.pathname, '/sign-up');
      assert.equal(url.searchParams.get('next'), invitePath);
      await fillSignUp(bob, `Join ${teamName}`);
      assert.equal(new URL(bob.page.url()).pathname, invitePath);
      await acceptInvitation(bob, teamName);
      // The link worked once; it is spent now.
      await chen.page.goto(BASE + '/sign-up');
      await fillSignUp(chen);
      const spent = await chen.page.goto(link);
      assert.equal(spent.status(), 410);
      assert.match(await text(chen.page.getByRole('alert')), /This invitation link is no longer valid: it was used already/);
    });

    await step('1c. a third member, Chen, joins with her own link', async () => {
      const link = await createInvitation(ana, 'member');
      await join(chen, link, teamName);
      await open(ana.page, `/t/${slug}/settings`);
      const members = ana.page.getByRole('table');
      for (const [name, role] of [['Ana', 'admin'], ['Bob', 'member'], ['Chen', 'member']]) {
        const row = members.getByRole('row').filter({ has: ana.page.getByRole('cell', { name, exact: true }) });
        assert.equal(await text(row.getByRole('cell').nth(1)), `${name.toLowerCase()}${tag}@example.com`);
        assert.equal(await text(row.getByRole('cell').nth(2)), role);
      }
    });

    await step('2a. Ana proposes, naming Bob as decider with a deadline', async () => {
      // Chen keeps the team's dashboard open meanwhile.
      await open(chen.page, `/t/${slug}`);
      await markLoaded(chen.page);
      await open(ana.page, `/t/${slug}`);
      // A deadline in the past is refused, and what she typed is kept.
      const yesterday = localInput(new Date(Date.now() - DAY), ana.timeZone);
      let response = await newProposal(ana, {
        title: title1,
        body: 'We **move** the ingest service to Rust.\n\n- fewer crashes\n- one binary',
        decider: 'Bob',
        closesAt: yesterday,
      });
      assert.equal(response.status(), 422);
      assert.equal(await text(ana.page.getByText(/^Earliest decision must/)), 'Earliest decision must be in the future.');
      assert.equal(await ana.page.getByLabel('Title').inputValue(), title1);
      assert.equal(await content(ana.page.getByLabel('Decider').getByRole('option', { selected: true })), 'Bob');
      // Three days from now, in her own time zone.
      await ana.page.getByLabel('Earliest decision').fill(localInput(deadline, ana.timeZone));
      response = await submit(ana.page, ana.page.getByRole('button', { name: 'Open proposal' }));
      assert.equal(response.status(), 200);
      assert.equal(new URL(ana.page.url()).pathname, `/d/${id1}`);
      assert.equal(await text(flash(ana.page)), 'Proposal opened. Members can now take their stance.');
      assert.equal(await text(heading1(ana.page)), `${id1} ${title1}`);
      const main = await mainText(ana.page);
      assert.match(main, /\bopen Proposed by Ana\b/i);
      assert.match(main, /Decider Bob/);
      assert.match(main, new RegExp(`Earliest decision ${shownAs(deadline, ana.timeZone)}`));
      // Markdown is rendered.
      await region(ana.page, 'Proposal').getByRole('listitem').filter({ hasText: 'fewer crashes' }).waitFor();
      // One row per voting member, nobody has answered yet.
      assert.equal(await stanceRows(ana.page), 3);
      for (const name of ['Ana', 'Bob', 'Chen']) {
        assert.equal((await stanceOf(ana.page, name))[1], 'not yet responded');
      }
      // Only the decider gets the form to record the decision.
      assert.equal(await ana.page.getByRole('heading', { name: 'Record the decision' }).count(), 0);
      if (js) {
        // The new proposal shows on Chen's dashboard without a reload.
        await region(chen.page, 'Needs your stance').getByRole('link', { name: new RegExp(`^${id1} `) }).waitFor(LIVE);
        assert.ok(await notReloaded(chen.page), "Chen's dashboard was updated in place");
      } else {
        // Without JavaScript the page stays as it was served.
        await region(chen.page, 'Needs your stance').getByText('Nothing waits for you.').waitFor();
      }
    });

    await step('2b. members take stances and comment; an objection needs a reason', async () => {
      // Bob reads the proposal and starts a comment while Ana takes her stance.
      await open(bob.page, `/d/${id1}`);
      await markLoaded(bob.page);
      const draft = 'Half-written thought about the migration';
      await region(bob.page, /^Comments/).getByLabel('Add a comment').fill(draft);
      await takeStance(ana, 'agree', 'Memory safety without a GC.');
      assert.equal(await text(flash(ana.page)), 'Your stance is recorded.');
      assert.deepEqual((await stanceOf(ana.page, 'Ana')).slice(0, 3), ['Ana', 'agree', 'Memory safety without a GC.']);
      if (js) {
        // It appears on Bob's page without a reload, and his draft is untouched.
        await stances(bob.page).getByRole('cell', { name: 'Memory safety without a GC.' }).waitFor(LIVE);
        assert.ok(await notReloaded(bob.page), "Bob's page was updated in place");
        assert.equal((await stanceOf(bob.page, 'Ana'))[1], 'agree');
        assert.equal(await region(bob.page, /^Comments/).getByLabel('Add a comment').inputValue(), draft);
        await bob.page.getByText(/^Updated at .* with a stance\.$/).waitFor(LIVE);
      } else {
        assert.equal((await stanceOf(bob.page, 'Ana'))[1], 'not yet responded');
      }
      // Ana asks Chen by name: with JavaScript a list suggests members as
      // she types; without it, she types the name herself.
      const comments = region(ana.page, /^Comments \(\d+\)$/);
      const box = comments.getByLabel('Add a comment');
      const handle = `chen${tag}`;
      if (js) {
        await box.fill('I can pair with anyone who wants to learn. ');
        await box.pressSequentially('@ch');
        await ana.page.getByRole('option', { name: `Chen (@${handle})` }).waitFor();
        await shot(ana.page, 'mention-suggestions');
        await box.press('Enter');
        assert.equal(await box.inputValue(), `I can pair with anyone who wants to learn. @${handle} `);
        await box.pressSequentially('will you join?');
      } else {
        await box.fill(`I can pair with anyone who wants to learn. @${handle} will you join?`);
      }
      await submit(ana.page, comments.getByRole('button', { name: 'Comment', exact: true }));
      assert.equal(await text(flash(ana.page)), 'Comment added.');
      // The mention links to Chen, and she is told by mail.
      await region(ana.page, /^Comments \(\d+\)$/).getByRole('link', { name: '@Chen' }).waitFor();
      for (let i = 0; i < 50; i++) {
        try {
          unsubscribeLink(chen.email, 'mentioned');
          break;
        } catch {
          await ana.page.waitForTimeout(100);
        }
      }
      assert.ok(unsubscribeLink(chen.email, 'mentioned'), 'a mention mail to Chen');

      await openFromDashboard(chen, teamName, id1);
      assert.match(await mainText(chen.page), new RegExp(`Earliest decision ${shownAs(deadline, chen.timeZone)}`));
      const response = await takeStance(chen, 'object');
      assert.equal(response.status(), 422);
      assert.match(await text(region(chen.page, 'Stances').getByRole('alert')), /an objection needs a reason/);
      // Her choice is kept for her to add the reason.
      assert.ok(await stances(chen.page).getByRole('radio', { name: 'object', exact: true }).isChecked());
      assert.equal((await stanceOf(chen.page, 'Chen'))[1], 'not yet responded');
      await takeStance(chen, 'disagree', 'The team has no Rust experience.');
      assert.equal(await text(flash(chen.page)), 'Your stance is recorded.');
      assert.deepEqual((await stanceOf(chen.page, 'Chen')).slice(0, 3), ['Chen', 'disagree', 'The team has no Rust experience.']);
      await comment(chen, 'Who will be **on call** for it?', 'Who will be on call for it?');
      await region(chen.page, /^Comments/).getByText('on call', { exact: true }).waitFor(); // Markdown: bold
      assert.equal(await text(chen.page.getByRole('heading', { name: /^Comments/ })), 'Comments (2)');
      // Ana's stance is there for everyone.
      assert.equal((await stanceOf(chen.page, 'Ana'))[1], 'agree');
      await shot(chen.page, 'proposal');
    });

    await step('2c. the decider tries to record early and is told why not', async () => {
      await openFromDashboard(bob, teamName, id1);
      // The deadline Ana set in Berlin time, in Bob's own zone.
      assert.match(await mainText(bob.page), new RegExp(`Earliest decision ${shownAs(deadline, bob.timeZone)}`));
      const record = region(bob.page, 'Record the decision');
      assert.match(await text(record), /You can record from .*, when the window ends, or earlier once every voting member has responded\. Still waiting for: Bob\./);
      await record.getByLabel('What was agreed').fill(statement);
      await record.getByLabel('Rationale').fill(rationale);
      const response = await submit(bob.page, record.getByRole('button', { name: 'Record decision' }));
      assert.equal(response.status(), 409);
      // The deadline in Bob's own zone, as everywhere else on the page.
      assert.match(
        await text(region(bob.page, 'Record the decision').getByRole('alert')),
        new RegExp(
          `^the decider can record from ${shownAs(deadline, bob.timeZone)} [A-Z]+, when the window ends, or earlier once every voting member has responded; 1 voting member\\(s\\) have not responded yet$`,
        ),
      );
      // What he typed is still there.
      const refused = region(bob.page, 'Record the decision');
      assert.equal(await refused.getByLabel('What was agreed').inputValue(), statement);
      assert.equal(await refused.getByLabel('Rationale').inputValue(), rationale);
      // Nothing was recorded.
      assert.equal(await bob.page.getByRole('heading', { name: /^Decision record/ }).count(), 0);
      await open(bob.page, `/d/${id1}`);
      assert.match(await mainText(bob.page), /\bopen Proposed by Ana\b/i);
    });

    let chenOldTab;
    await step('2d. everyone responds; an unanswered objection blocks the record', async () => {
      await takeStance(bob, 'agree', 'Worth it.');
      assert.equal(await text(flash(bob.page)), 'Your stance is recorded.');
      // Everyone has responded: the page tells Bob, the decider, at its top.
      const ready = region(bob.page, 'Ready for your decision');
      assert.match(
        await text(ready),
        /^Ready for your decision Every voting member has responded, so you can record the decision now\. 3 of 3 voting members responded\. There are no standing objections\. Record the decision$/,
      );
      await shot(bob.page, '2d-ready-banner');
      // His dashboard lists it first, and only there.
      await open(bob.page, `/t/${slug}`);
      const waiting = region(bob.page, 'Waiting for your decision');
      await waiting.getByRole('link', { name: new RegExp(`^${id1} `) }).waitFor();
      assert.equal(await region(bob.page, 'Needs your stance').getByRole('link', { name: new RegExp(`^${id1} `) }).count(), 0);
      assert.equal(await region(bob.page, 'Open in this team').getByRole('link', { name: new RegExp(`^${id1} `) }).count(), 0);
      await shot(bob.page, '2d-dashboard-waiting');
      // And by mail (the folder transport wrote it).
      for (let i = 0; i < 50; i++) {
        try {
          unsubscribeLink(bob.email, 'ready');
          break;
        } catch {
          await bob.page.waitForTimeout(100);
        }
      }
      assert.ok(unsubscribeLink(bob.email, 'ready'), 'a ready-for-your-decision mail to Bob');
      await submit(bob.page, waiting.getByRole('link', { name: new RegExp(`^${id1} `) }));
      await comment(bob, 'Let us settle this before the sprint.');
      const record = region(bob.page, 'Record the decision');
      assert.doesNotMatch(await text(record), /Still waiting for/);
      // Bob starts writing the record while Chen changes her mind and objects.
      await record.getByLabel('What was agreed').fill(statement);
      await record.getByLabel('Rationale').fill(rationale);
      await open(chen.page, `/d/${id1}`);
      await takeStance(chen, 'object', 'Nobody on call can debug Rust yet.');
      assert.equal(await text(flash(chen.page)), 'Your stance is recorded.');
      const row = await stanceOf(chen.page, 'Chen');
      assert.equal(row[1], 'object (changed 1×)');
      assert.equal(row[2], 'Nobody on call can debug Rust yet.');
      assert.equal(await stanceRows(chen.page), 3, 'still one row per member');
      // Chen keeps this tab open while the decision is recorded.
      chenOldTab = await chen.newTab();
      await open(chenOldTab, `/d/${id1}`);

      const response = await submit(bob.page, record.getByRole('button', { name: 'Record decision' }));
      assert.equal(response.status(), 422);
      assert.equal(
        await text(region(bob.page, 'Record the decision').getByRole('alert')),
        'every standing objection needs a written response (missing: Chen)',
      );
      assert.match(await text(region(bob.page, 'Record the decision')), /Every standing objection needs a written response below\./);
      // Nothing he wrote is lost.
      const refused = region(bob.page, 'Record the decision');
      assert.ok(await refused.getByRole('radio', { name: 'accepted' }).isChecked());
      assert.equal(await refused.getByLabel('What was agreed').inputValue(), statement);
      assert.equal(await refused.getByLabel('Rationale').inputValue(), rationale);
    });

    await step('2e. the decider answers the objection and records', async () => {
      const record = region(bob.page, 'Record the decision');
      // The outcome, statement and rationale are as he left them: only the
      // response is new.
      assert.ok(await record.getByRole('radio', { name: 'accepted' }).isChecked());
      assert.equal(await record.getByLabel('What was agreed').inputValue(), statement);
      assert.equal(await record.getByLabel('Rationale').inputValue(), rationale);
      await record
        .getByLabel(/^Response to Chen's objection: “Nobody on call can debug Rust yet\.”$/)
        .fill('Ana runs two debugging sessions before we switch over.');
      await submit(bob.page, record.getByRole('button', { name: 'Record decision' }));
      assert.equal(await text(flash(bob.page)), 'Decision recorded. The record is sealed in the log and cannot change.');
      const sealed = region(bob.page, 'Decision record: accepted');
      assert.match(await text(sealed), /^Decision record: accepted Recorded by Bob on /);
      await sealed.getByText(statement).waitFor();
      await sealed.getByText(rationale).waitFor();
      await sealed.getByText('To Chen').waitFor();
      await sealed.getByText('Ana runs two debugging sessions before we switch over.').waitFor();
      // Nothing can be added to a decided proposal.
      assert.equal(await bob.page.getByRole('button', { name: 'Save my stance' }).count(), 0);
      assert.equal(await bob.page.getByRole('button', { name: 'Comment', exact: true }).count(), 0);
      assert.equal(await bob.page.getByRole('heading', { name: 'Record the decision' }).count(), 0);
    });

    await step('2f. the permalink shows the immutable record', async () => {
      if (js) {
        // Chen's tab from before the decision shows the record by itself,
        // and no longer offers a stance.
        await region(chenOldTab, 'Decision record: accepted').waitFor(LIVE);
        await region(chenOldTab, 'Decision record: accepted').getByText(statement).waitFor();
        assert.equal(await chenOldTab.getByRole('button', { name: 'Save my stance' }).count(), 0);
      } else {
        // Chen's tab from before the decision: her late stance is refused.
        const response = await takeStance({ page: chenOldTab }, 'agree', 'Fine after all.');
        assert.equal(response.status(), 409);
        assert.equal(await text(chenOldTab.getByRole('alert')), 'the proposal is accepted, not open');
        await region(chenOldTab, 'Decision record: accepted').waitFor();
      }
      await chenOldTab.close();

      await open(chen.page, `/d/${id1}`);
      const permalink = `${BASE}/d/${id1}`;
      await chen.page.getByRole('link', { name: permalink, exact: true }).waitFor();
      const markdown = await chen.page.getByLabel('Markdown link').inputValue();
      assert.ok(markdown.includes(permalink), `markdown link ${markdown} cites ${permalink}`);
      const sealed = region(chen.page, 'Decision record: accepted');
      await sealed.getByText('We adopt Rust for the ingest service.').waitFor();
      await sealed.getByText('Ana runs two debugging sessions before we switch over.').waitFor();
      assert.match(await text(sealed), /Sealed at log index \d+, tree size \d+, root [0-9a-f]{64}; leaf hash [0-9a-f]{64}\./);
      await sealed.getByRole('link', { name: 'Download the proof bundle' }).waitFor();
      assert.equal((await stanceOf(chen.page, 'Chen'))[1], 'object (changed 1×)');
      await shot(chen.page, 'decision-permalink');
    });

    await step('2g. a second proposal supersedes the first', async () => {
      await open(ana.page, `/t/${slug}`);
      await newProposal(ana, {
        title: title2,
        body: 'As before, and an on-call rotation with Rust training first.',
        decider: 'Ana',
        supersedes: `${id1} ${title1}`,
      });
      assert.equal(new URL(ana.page.url()).pathname, `/d/${id2}`);
      assert.match(await mainText(ana.page), new RegExp(`Supersedes ${id1}`));
      await open(ana.page, `/d/${id1}`);
      assert.match(await mainText(ana.page), new RegExp(`Proposed replacement ${id2} \\(open\\)`));

      // Chen's dashboard tells her what happened since she last looked,
      // with the answer to her objection.
      await open(chen.page, `/t/${slug}`);
      const since = region(chen.page, 'Since your last visit');
      await since.getByRole('link', { name: new RegExp(`^${id2} `) }).waitFor();
      assert.match(await text(since), new RegExp(`${id1} ${title1} accepted by Bob The answer to your objection: Ana runs two debugging sessions before we switch over\\.`));
      await shot(chen.page, 'dashboard-since');

      for (const p of [bob, chen]) {
        await openFromDashboard(p, teamName, id2);
        await takeStance(p, 'agree');
        assert.equal((await stanceOf(p.page, p.name))[1], 'agree');
      }
      await open(ana.page, `/d/${id2}`);
      await takeStance(ana, 'agree');
      const record = region(ana.page, 'Record the decision');
      await record.getByLabel('What was agreed').fill('Rust for ingest, after two training sessions and with a rotation.');
      await submit(ana.page, record.getByRole('button', { name: 'Record decision' }));
      assert.equal(await text(flash(ana.page)), 'Decision recorded. The record is sealed in the log and cannot change.');
      await region(ana.page, 'Decision record: accepted').waitFor();

      // The first decision now says it was superseded, and its record is unchanged.
      await open(bob.page, `/d/${id1}`);
      const main = await mainText(bob.page);
      assert.match(main, /\bsuperseded Proposed by Ana\b/i);
      assert.match(main, new RegExp(`Superseded by ${id2}`));
      await region(bob.page, 'Decision record: accepted').getByText('We adopt Rust for the ingest service.').waitFor();
      await submit(bob.page, bob.page.getByRole('link', { name: id2, exact: true }));
      assert.equal(new URL(bob.page.url()).pathname, `/d/${id2}`);

      // The decision log filters by status.
      await submit(bob.page, bob.page.getByRole('link', { name: 'Decision log' }));
      await bob.page.getByLabel('Status').selectOption('superseded');
      await submit(bob.page, bob.page.getByRole('button', { name: 'Filter' }));
      const links = bob.page.getByRole('main').getByRole('list').getByRole('link');
      assert.deepEqual(await links.allInnerTexts(), [`${id1} ${title1}`]);
    });

    await step('2h. the dashboard and the log show what happened', async () => {
      await open(ana.page, `/t/${slug}`);
      const recent = region(ana.page, 'Recently decided');
      await recent.getByRole('link', { name: `${id2} ${title2}` }).waitFor();
      await recent.getByRole('link', { name: `${id1} ${title1}` }).waitFor();
      await region(ana.page, 'Needs your stance').getByText('Nothing waits for you.').waitFor();
      await shot(ana.page, 'dashboard');

      await submit(ana.page, teamNav(ana.page).getByRole('link', { name: 'Log', exact: true }));
      assert.equal(await text(heading1(ana.page)), `The log of ${teamName}`);
      assert.match(await mainText(ana.page), /Size \d+ entries/);
      await ana.page.getByText(/^#\d+ decision recorded by Bob,/).waitFor();
      await ana.page.getByText(/^#\d+ decision recorded by Ana,/).waitFor();
      await ana.page.getByText(/^#\d+ member joined by Chen,/).waitFor();
      assert.equal(await ana.page.getByText(/^#\d+ stance taken by Chen,/).count(), 3);
      // The server's own entries say whom it told.
      await ana.page.getByText(/^#\d+ decision ready: the server told Bob,/).first().waitFor();
      await shot(ana.page, 'log');

      // Nothing is overdue yet; Ana, an admin, shortens the period after
      // the window, and the decision log can list what is overdue.
      await open(ana.page, `/t/${slug}`);
      await region(ana.page, 'Overdue').getByText('No decision is overdue.').waitFor();
      await open(ana.page, `/t/${slug}/settings`);
      const waits = region(ana.page, 'Decisions that wait');
      assert.equal(await waits.getByLabel('Decide within this many days after the window').inputValue(), '7');
      await waits.getByLabel('Decide within this many days after the window').fill('5');
      await submit(ana.page, waits.getByRole('button', { name: 'Save' }));
      assert.equal(await text(flash(ana.page)), 'Decisions are now due within 5 days after the window.');
      await shot(ana.page, 'settings-decide-within');
      await open(ana.page, `/t/${slug}/decisions?status=overdue`);
      assert.equal(await ana.page.getByLabel('Status').inputValue(), 'overdue');

      // Who carries what: Ana decides the open replacement, Bob decided the first.
      await submit(ana.page, teamNav(ana.page).getByRole('link', { name: 'Who carries what' }));
      assert.equal(await text(heading1(ana.page)), 'Who carries what');
      const bobRow = ana.page.getByRole('row', { name: /^Bob / });
      assert.match(await text(bobRow), /^Bob 0 0 0 1 /);
      await shot(ana.page, 'who-carries-what');
    });

    await step('2i. signing out ends the session', async () => {
      await submit(chen.page, accountNav(chen.page).getByRole('button', { name: 'Sign out' }));
      assert.equal(new URL(chen.page.url()).pathname, '/sign-in');
      await chen.page.goto(`${BASE}/d/${id1}`);
      assert.equal(new URL(chen.page.url()).pathname, '/sign-in');
      // And signing in again brings her back to the page she asked for.
      await chen.page.getByLabel('Email').fill(chen.email);
      await chen.page.getByLabel('Password').fill(PASSWORD);
      await submit(chen.page, chen.page.getByRole('button', { name: 'Sign in' }));
      assert.equal(new URL(chen.page.url()).pathname, `/d/${id1}`);
      assert.equal(await text(heading1(chen.page)), `${id1} ${title1}`);
      await open(chen.page, '/');
      await chen.page.getByRole('link', { name: teamName, exact: true }).waitFor();
    });

    await step('3a. search from the team menu finds the decision, and odd input is no error', async () => {
      const { page } = chen;
      await open(page, `/t/${slug}`);
      const box = teamNav(page).getByRole('search', { name: `Search ${teamName}`, exact: true });
      // A word of the recorded statement ("We adopt Rust for the ingest service.").
      await box.getByRole('searchbox', { name: `Search ${teamName}`, exact: true }).fill('adopt');
      let response = await submit(page, box.getByRole('button', { name: 'Search', exact: true }));
      assert.equal(response.status(), 200);
      let url = new URL(page.url());
      assert.equal(url.pathname, '/search');
      assert.equal(url.searchParams.get('q'), 'adopt');
      assert.equal(url.searchParams.get('team'), slug);
      assert.equal(await text(heading1(page)), 'Search');
      const results = region(page, /^Results for /);
      const hit = results
        .getByRole('listitem')
        .filter({ hasText: 'Decision record' })
        .filter({ has: page.getByRole('link', { name: `${id1} ${title1}`, exact: true }) });
      assert.equal(await hit.count(), 1, `one decision-record result for ${id1}`);
      assert.ok((await text(hit)).includes(statement), `the result quotes “${statement}”`);
      // The matching words are highlighted.
      const marks = (await hit.getByRole('mark').allTextContents()).map((m) => m.toLowerCase());
      assert.ok(marks.length > 0 && marks.every((m) => m === 'adopt'), `highlighted: ${JSON.stringify(marks)}`);
      await shot(page, 'search');
      await submit(page, hit.getByRole('link', { name: `${id1} ${title1}`, exact: true }));
      url = new URL(page.url());
      assert.equal(url.pathname, `/d/${id1}`);
      assert.equal(url.hash, '#record-heading');
      assert.equal(await text(heading1(page)), `${id1} ${title1}`);
      await region(page, 'Decision record: accepted').getByText(statement).waitFor();

      // Unbalanced quotes and brackets are taken as text: a helpful answer, not an error.
      await page.goto(`${BASE}/search?team=${slug}`);
      await page.getByRole('searchbox', { name: 'Search for' }).fill('"unbalanced (');
      response = await submit(page, page.getByRole('search').getByRole('button', { name: 'Search', exact: true }));
      assert.equal(response.status(), 200);
      const none = region(page, 'No results for "unbalanced ("');
      await none.getByRole('listitem').filter({ hasText: 'Check the spelling' }).waitFor();
      assert.equal(await page.getByRole('alert').count(), 0);
      assert.equal(await page.getByRole('searchbox', { name: 'Search for' }).inputValue(), '"unbalanced (');
    });

    await step('3b. the areas page answers who decides about a topic', async () => {
      // Ana, an admin, describes an area with Chen as its default decider.
      await open(ana.page, `/t/${slug}`);
      await submit(ana.page, teamNav(ana.page).getByRole('link', { name: 'Who decides what' }));
      assert.equal(await text(heading1(ana.page)), 'Who decides what');
      await ana.page.getByLabel('Name', { exact: true }).fill('Data pipeline');
      await ana.page.getByLabel('Description', { exact: true }).fill('Queues, parsers and the ingest service.');
      await ana.page.getByLabel('Default decider').selectOption({ label: 'Chen' });
      await submit(ana.page, ana.page.getByRole('button', { name: 'Create area' }));
      assert.equal(await text(flash(ana.page)), 'Area saved.');

      // Bob asks who decides about ingest.
      const { page } = bob;
      await open(page, `/t/${slug}`);
      await submit(page, teamNav(page).getByRole('link', { name: 'Who decides what' }));
      const who = page.getByRole('search', { name: 'Who decides' });
      await who.getByRole('searchbox', { name: 'Topic' }).fill('ingest');
      const response = await submit(page, who.getByRole('button', { name: 'Find the decider' }));
      assert.equal(response.status(), 200);
      assert.equal(new URL(page.url()).searchParams.get('q'), 'ingest');
      const areas = page.getByRole('list', { name: 'Matching areas' }).getByRole('listitem');
      assert.deepEqual(await areas.allInnerTexts().then((a) => a.map((s) => s.replace(/\s+/g, ' ').trim())), [
        'Data pipeline: ask Chen, its default decider. Queues, parsers and the ingest service.',
      ]);
      const past = page.getByRole('list', { name: 'Past decisions' }).getByRole('listitem');
      const pastOf = (id, title) => past.filter({ has: page.getByRole('link', { name: `${id} ${title}`, exact: true }) });
      assert.match(await text(pastOf(id1, title1)), /decided by Bob\b/);
      assert.match(await text(pastOf(id2, title2)), /decided by Ana\b/);
      await shot(page, 'areas-who-decides');
    });

    await step('3c. private feeds: an Atom and an iCalendar address, one revoked', async () => {
      const { page } = bob;
      await submit(page, teamNav(page).getByRole('link', { name: 'Feeds' }));
      assert.equal(await text(heading1(page)), 'Your feeds');
      await page.getByText('You have no feed address for this team.').waitFor();

      const create = async (kind, label, file) => {
        await page.getByRole('radio', { name: kind }).check();
        await page.getByLabel('Label', { exact: true }).fill(label);
        await submit(page, page.getByRole('button', { name: 'Create feed address' }));
        assert.equal(
          await text(flash(page)),
          'Feed address created. Copy it now: it is shown once. Anyone holding it can read this feed until you revoke it.',
        );
        const url = await region(page, 'Your new feed address').getByLabel('Feed address').inputValue();
        assert.ok(url.startsWith(`${BASE}/feeds/${file}?token=`), `feed address ${url}`);
        return url;
      };
      const atomUrl = await create('Decisions (Atom, for a feed reader)', 'news reader', 'decisions.atom');
      const icsUrl = await create('Deadlines waiting for my stance (iCalendar, for a calendar)', 'phone calendar', 'deadlines.ics');
      const webcal = await page.getByRole('link', { name: 'open it in your calendar app' }).getAttribute('href');
      assert.equal(webcal, icsUrl.replace(/^https?:/, 'webcal:'));

      // Fetched like a feed reader would, without the page's cookies mattering.
      let res = await page.request.get(atomUrl);
      assert.equal(res.status(), 200);
      assert.match(res.headers()['content-type'], /^application\/atom\+xml\b/);
      const atom = await res.text();
      assert.ok(atom.startsWith('<?xml'), 'an XML document');
      assert.ok(atom.includes(`href="${BASE}/d/${id1}"`), `the Atom feed links to ${BASE}/d/${id1}`);
      res = await page.request.get(icsUrl);
      assert.equal(res.status(), 200);
      assert.match(res.headers()['content-type'], /^text\/calendar\b/);
      assert.ok((await res.text()).startsWith('BEGIN:VCALENDAR\r\n'), 'an iCalendar document');

      // The address is shown once.
      await open(page, `/t/${slug}/feeds`);
      assert.equal(await region(page, 'Your new feed address').count(), 0);
      const rows = region(page, 'Your feed addresses').getByRole('row');
      assert.equal(await rows.count(), 3, 'a header and two feeds');
      await shot(page, 'feeds');

      await submit(page, page.getByRole('button', { name: 'Revoke phone calendar' }));
      assert.equal(await text(flash(page)), 'Feed address revoked: it answers “not found” from now on.');
      assert.equal(await page.getByRole('button', { name: 'Revoke phone calendar' }).count(), 0);
      await page.getByRole('button', { name: 'Revoke news reader' }).waitFor();
      res = await page.request.get(icsUrl);
      assert.equal(res.status(), 404);
      res = await page.request.get(atomUrl);
      assert.equal(res.status(), 200, 'the other address still works');
    });

    await step('3d. mail: the digest preview, mail settings, a mailed unsubscribe link, and the outbox for the instance admin', async () => {
      const { page } = bob;
      await open(page, '/settings');
      let mail = region(page, 'Mail');
      assert.equal(await mail.getByRole('combobox', { name: /^Digest/ }).inputValue(), 'off');
      // With digests off, the preview shows what a daily one would hold:
      // today's two decisions (and the comments on the first).
      await submit(page, mail.getByRole('link', { name: 'Preview your next digest' }));
      assert.equal(await text(heading1(page)), 'Your next digest');
      const preview = region(page, teamName);
      await preview.getByText(/^Subject: \[.+\] Your daily digest: 2 decided\b/).waitFor();
      await preview.getByText(new RegExp(`${id1}: ${title1}`)).waitFor();
      await shot(page, 'digest-preview');

      await open(page, '/settings');
      mail = region(page, 'Mail');
      await mail.getByRole('checkbox', { name: /a deadline is a day away/ }).uncheck();
      await mail.getByRole('combobox', { name: /^Digest/ }).selectOption('daily');
      await mail.getByLabel(/^At/).selectOption('07:00');
      await submit(page, mail.getByRole('button', { name: 'Save mail settings' }));
      assert.equal(await text(flash(page)), 'Mail settings saved.');
      mail = region(page, 'Mail');
      assert.equal(await mail.getByRole('combobox', { name: /^Digest/ }).inputValue(), 'daily');
      assert.equal(await mail.getByLabel(/^At/).inputValue(), '7');
      assert.equal(await mail.getByRole('checkbox', { name: /a deadline is a day away/ }).isChecked(), false);
      assert.equal(await mail.getByRole('checkbox', { name: /I am named decider/ }).isChecked(), true);

      // The mail Bob got when he was named decider: its unsubscribe link
      // works in any browser, signed in or not, and asks before it acts.
      const link = unsubscribeLink(`bob${tag}@example.com`, 'decider_named');
      const mailbox = await make('Mailbox', 'UTC');
      await open(mailbox.page, link);
      assert.equal(await text(heading1(mailbox.page)), 'Unsubscribe');
      await mailbox.page.getByText(`Stop mail about the proposals you decide for bob${tag}@example.com?`).waitFor();
      await submit(mailbox.page, mailbox.page.getByRole('button', { name: 'Unsubscribe' }));
      assert.equal(await text(heading1(mailbox.page)), 'You are unsubscribed');
      await open(page, '/settings');
      mail = region(page, 'Mail');
      assert.equal(await mail.getByRole('checkbox', { name: /I am named decider/ }).isChecked(), false);
      assert.equal(await mail.getByRole('combobox', { name: /^Digest/ }).inputValue(), 'daily', 'nothing else changed');

      // Bob also heard that Ana opened ${id2}, as every member does; that
      // mail's link stops opening notices only.
      const opened = unsubscribeLink(`bob${tag}@example.com`, 'opened');
      await open(mailbox.page, opened);
      await mailbox.page.getByText(`Stop mail when a proposal of your team opens, or changes its decider or deadline for bob${tag}@example.com?`).waitFor();
      await submit(mailbox.page, mailbox.page.getByRole('button', { name: 'Unsubscribe' }));
      assert.equal(await text(heading1(mailbox.page)), 'You are unsubscribed');
      await open(page, '/settings');
      mail = region(page, 'Mail');
      assert.equal(await mail.getByRole('checkbox', { name: /a proposal opens in one of my teams/ }).isChecked(), false);
      assert.equal(await mail.getByRole('checkbox', { name: /a proposal in one of my teams is decided/ }).isChecked(), true);
      await shot(page, 'mail-settings');

      if (js) {
        // Ana signed up first: she is the instance admin. Bob was named
        // decider twice over; the mail went to the server's mail folder.
        await open(ana.page, '/settings');
        await submit(ana.page, region(ana.page, 'This instance').getByRole('link', { name: 'Mail: queued, sent and failing' }));
        assert.equal(await text(heading1(ana.page)), 'Mail');
        const rows = region(ana.page, /^Latest .*mail$/).getByRole('row');
        await rows.filter({ hasText: `bob${tag}@example.com` }).first().waitFor();
        assert.ok((await rows.filter({ hasText: 'decider_named' }).count()) >= 1);
        await shot(ana.page, 'mail-admin');
        await open(ana.page, '/settings');
        await submit(ana.page, region(ana.page, 'This instance').getByRole('link', { name: /^Accounts/ }));
        assert.equal(await text(heading1(ana.page)), 'Accounts');
        const me = ana.page.getByRole('row', { name: /^Ana \(you\) / });
        assert.match(await text(me), /^Ana \(you\) ana@example\.com 1 .* yes Revoke admin from Ana Send reset link to Ana$/);
        await shot(ana.page, 'admin-accounts');
        const refused = await bob.page.goto(`${BASE}/admin/mail`);
        assert.equal(refused.status(), 403, 'only instance admins');
      }
    });
  } finally {
    for (const p of people) await p.ctx.close();
  }
}

/**
 * Journey 5: the decision nobody makes. Ana proposes with Bob as decider;
 * the server is restarted with its clock nine, then sixteen days ahead (no
 * sleeping): the proposal waits for Bob's decision, is overdue, Bob is
 * reminded in his morning, and the admin is told once it has waited a
 * second period. Runs last: it leaves the server's clock ahead.
 *
 * @param {import('node:test').TestContext} t
 * @param {import('playwright-core').Browser} browser
 */
export async function laterJourney(t, browser) {
  const people = [];
  const step = stepper(t, 'later', () => people);
  const make = async (name, timeZone) => {
    const p = await person(browser, { name, email: `${name.toLowerCase()}-later@example.com`, timeZone });
    people.push(p);
    return p;
  };
  const ana = await make('Ana', 'Europe/Berlin');
  const bob = await make('Bob', morningZone());
  const teamName = 'Later';
  const key = 'LATE';
  const id = `${key}-1`;
  const title = 'Move the wiki to the docs repository';
  // Minutes count in the form: a window ending at the next full minute, plus ten.
  const closes = new Date(Math.ceil((Date.now() + 10 * 60_000) / 60_000) * 60_000);
  let slug;

  try {
    await step('5a. Ana proposes, with Bob as decider and a short window', async () => {
      await ana.page.goto(BASE + '/sign-up');
      await fillSignUp(ana, 'Your teams');
      await ana.page.getByLabel('Team name').fill(teamName);
      await ana.page.getByLabel('Key').fill(key);
      await submit(ana.page, ana.page.getByRole('button', { name: 'Create team' }));
      slug = new URL(ana.page.url()).pathname.replace(/^\/t\//, '');
      const link = await createInvitation(ana, 'member');
      await bob.page.goto(BASE + '/sign-up');
      await fillSignUp(bob);
      await join(bob, link, teamName);
      await open(ana.page, `/t/${slug}`);
      await newProposal(ana, {
        title,
        body: 'One place for the docs, reviewed like code.',
        decider: 'Bob',
        closesAt: localInput(closes, ana.timeZone),
      });
      assert.equal(new URL(ana.page.url()).pathname, `/d/${id}`);
      await takeStance(ana, 'agree', 'Reviews keep it current.');
      assert.equal(await text(flash(ana.page)), 'Your stance is recorded.');
      // Nothing is overdue yet.
      await open(bob.page, `/t/${slug}`);
      await region(bob.page, 'Needs your stance').getByRole('link', { name: `${id} ${title}` }).waitFor();
      assert.equal(await region(bob.page, 'Waiting for your decision').count(), 0);
    });

    await step('5b. nine days later: the decision waits for Bob, and is overdue', async () => {
      await restartServer('--clock-ahead', '9d');
      // The server told Bob when the window closed, and reminded him this
      // morning (his time) that the decision is overdue.
      assert.match(await mailHead(bob.email, 'ready'), new RegExp(`^Subject: \\[${teamName}\\] ${id} is ready for your decision: ${title}$`, 'm'));
      assert.match(
        await mailHead(bob.email, 'overdue'),
        new RegExp(`^Subject: \\[${teamName}\\] ${id} is overdue: it waits 8 days for your decision`, 'm'),
      );
      // Bob's dashboard lists it once, as waiting for him, and overdue.
      await open(bob.page, `/t/${slug}`);
      const waiting = region(bob.page, 'Waiting for your decision');
      const item = waiting.getByRole('listitem').filter({ has: bob.page.getByRole('link', { name: `${id} ${title}` }) });
      assert.match(await text(item), /closed 8 days ago · has waited 8 days for Bob's decision/);
      assert.equal(await bob.page.getByRole('link', { name: `${id} ${title}` }).count(), 1, 'listed once');
      await region(bob.page, 'Overdue').getByText('No other proposal is overdue.').waitFor();
      await screenshot(bob.page, 'later-dashboard-decider');
      // Ana sees it under "Overdue".
      await open(ana.page, `/t/${slug}`);
      await region(ana.page, 'Overdue').getByRole('link', { name: `${id} ${title}` }).waitFor();
      // The proposal page: Bob's banner at the top, and the overdue fact.
      await open(bob.page, `/d/${id}`);
      assert.match(
        await text(region(bob.page, 'Ready for your decision')),
        /^Ready for your decision The window closed 8 days ago, so you can record the decision now\. 1 of 2 voting members responded; no response from Bob\./,
      );
      assert.match(
        await mainText(bob.page),
        /Overdue This proposal has waited 8 days for Bob's decision \(the team decides within 7 days after the window\)\./,
      );
      await screenshot(bob.page, 'later-proposal-overdue');
      // The decision log's "overdue" filter lists it.
      await open(ana.page, `/t/${slug}/decisions?status=overdue`);
      assert.deepEqual(await ana.page.getByRole('main').getByRole('list').getByRole('link').allInnerTexts(), [`${id} ${title}`]);
      // Who carries what: Bob has one open proposal, waiting for him and overdue.
      await open(ana.page, `/t/${slug}/deciders`);
      assert.match(await text(ana.page.getByRole('row', { name: /^Bob / })), /^Bob 1 1 1 0 /);
      await screenshot(ana.page, 'later-who-carries-what');
    });

    await step('5c. sixteen days later: the admin is told, Bob decides, and the record says how long it took', async () => {
      await restartServer('--clock-ahead', '16d');
      assert.match(
        await mailHead(ana.email, 'escalated'),
        new RegExp(`^Subject: \\[${teamName}\\] ${id} has waited 15 days for Bob's decision`, 'm'),
      );
      // Every prompt is an entry of the log, by the server's clock.
      await open(ana.page, `/t/${slug}/log`);
      await ana.page.getByText(/^#\d+ decision ready: the server told Bob,/).waitFor();
      // Reminded on each of the two mornings the server saw.
      assert.equal(await ana.page.getByText(/^#\d+ decision overdue: the server told Bob,/).count(), 2);
      await ana.page.getByText(/^#\d+ decision escalated: the server told Bob,/).waitFor();
      // Bob answers late, and records.
      await open(bob.page, `/d/${id}`);
      await takeStance(bob, 'agree', 'Overdue, but right.');
      const [, position, , when] = await stanceOf(bob.page, 'Bob');
      assert.equal(position, 'agree');
      assert.match(when, / late$/);
      const record = region(bob.page, 'Record the decision');
      await record.getByLabel('What was agreed').fill('The wiki moves to the docs repository.');
      await record.getByLabel('Rationale').fill('Reviews keep the docs current.');
      await submit(bob.page, record.getByRole('button', { name: 'Record decision' }));
      const recorded = region(bob.page, 'Decision record: accepted');
      assert.match(await text(recorded), /: decided 15 days after its window ended\./);
      assert.match(await text(recorded), /the stances of Bob \(marked late below\)/);
      await screenshot(bob.page, 'later-recorded');
      await open(bob.page, `/t/${slug}`);
      assert.equal(await region(bob.page, 'Waiting for your decision').count(), 0);
    });
  } finally {
    for (const p of people) await p.ctx.close();
  }
}

/**
 * The first link under `${BASE}${prefix}` in the latest `kind` mail to
 * `address` (the text part, quoted-printable undone).
 */
async function linkInMail(address, kind, prefix) {
  await mailHead(address, kind);
  const dir = process.env.E2E_MAIL_DIR;
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(`-${kind}.eml`))
    .sort()
    .reverse();
  for (const f of files) {
    const raw = readFileSync(joinPath(dir, f), 'utf8');
    if (!raw.split(/\r?\n\r?\n/)[0].includes(address)) continue;
    const body = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
    const found = body.match(new RegExp(`${BASE.replace(/[.]/g, '\\.')}${prefix}[A-Za-z0-9_-]+`));
    if (found) return found[0];
  }
  assert.fail(`no link under ${prefix} in the ${kind} mail to ${address}`);
}

/**
 * Journey 6: Dana forgets her password. From a phone with JavaScript off,
 * she asks for a link, reads it from the mail the server wrote, sets a new
 * password, and is signed in there; the desktop session she left open is
 * signed out, and her settings list where she is signed in.
 *
 * @param {import('node:test').TestContext} t
 * @param {import('playwright-core').Browser} browser
 */
export async function accountJourney(t, browser) {
  const people = [];
  const step = stepper(t, 'account', () => people);
  const desk = await person(browser, { name: 'Dana', email: 'dana@example.com', timeZone: 'Europe/Lisbon' });
  const phone = await person(browser, { name: 'Dana', email: 'dana@example.com', timeZone: 'Europe/Lisbon', js: false, mobile: true });
  people.push(desk, phone);
  const newPassword = 'a much better passphrase';
  try {
    await step('6a. Dana asks for a link to set a new password', async () => {
      await desk.page.goto(BASE + '/sign-up');
      await fillSignUp(desk);
      await open(phone.page, '/sign-in');
      await submit(phone.page, phone.page.getByRole('link', { name: 'Forgot your password?' }));
      assert.equal(await text(heading1(phone.page)), 'Forgot your password?');
      await phone.page.getByLabel('Email').fill('dana@example.com');
      await submit(phone.page, phone.page.getByRole('button', { name: 'Send me a link' }));
      assert.match(
        await text(phone.page.getByRole('main').getByRole('status')),
        /^If an account uses dana@example\.com, a link to set a new password was written to this server's mail folder/,
      );
      assert.equal(await horizontalOverflow(phone.page), 0, 'no sideways scrolling');
      await screenshot(phone.page, 'password-forgot-sent');
    });

    await step('6b. the link from the mail sets the new password and signs the other sessions out', async () => {
      const link = await linkInMail('dana@example.com', 'password_reset', '/password/reset/');
      await open(phone.page, link);
      assert.equal(await text(heading1(phone.page)), 'Set a new password');
      // Too short: told, next to the field.
      await phone.page.getByLabel(/^New password/).fill('short');
      let response = await submit(phone.page, phone.page.getByRole('button', { name: 'Set new password' }));
      assert.equal(response.status(), 422);
      await phone.page.getByText(/^New password must be at least 10 characters/).waitFor();
      await phone.page.getByLabel(/^New password/).fill(newPassword);
      await submit(phone.page, phone.page.getByRole('button', { name: 'Set new password' }));
      assert.equal(
        await text(flash(phone.page)),
        'Your new password is set, and you are signed in. Every other session of your account was signed out.',
      );
      assert.equal(await horizontalOverflow(phone.page), 0, 'no sideways scrolling');
      await screenshot(phone.page, 'password-reset-done');
      // The desktop session ended.
      await desk.page.goto(BASE + '/settings');
      assert.equal(new URL(desk.page.url()).pathname, '/sign-in');
      // The link worked once.
      response = await phone.page.goto(link);
      assert.equal(response.status(), 410);
      await phone.page.getByText(/^This link to set a new password is no longer valid/).waitFor();
    });

    await step('6c. settings list where Dana is signed in, and sign one out', async () => {
      await desk.page.getByLabel('Email').fill('dana@example.com');
      await desk.page.getByLabel('Password').fill(newPassword);
      await submit(desk.page, desk.page.getByRole('button', { name: 'Sign in' }));
      assert.equal(new URL(desk.page.url()).pathname, '/settings');
      const sessions = region(desk.page, 'Where you are signed in');
      const rows = sessions.getByRole('row');
      assert.equal(await rows.count(), 3, 'a header and two sessions');
      assert.match(await text(rows.nth(1)), /^Chrome on Linux 127\.0\.0\.1 .* This browser$/);
      await screenshot(desk.page, 'settings-sessions');
      await submit(desk.page, sessions.getByRole('button', { name: /^Sign out Chrome on Linux/ }));
      assert.equal(await text(flash(desk.page)), 'Chrome on Linux is signed out.');
      assert.equal(await region(desk.page, 'Where you are signed in').getByRole('row').count(), 2);
      await phone.page.goto(BASE + '/settings');
      assert.equal(new URL(phone.page.url()).pathname, '/sign-in');
    });

    await step('6d. Dana makes a read-only API token, sees it once, and revokes it', async () => {
      const tokens = () => region(desk.page, 'API tokens');
      await tokens().getByLabel(/^Token name/).fill('wall dashboard');
      await tokens().getByRole('radio', { name: 'Read only' }).check();
      await tokens().getByLabel('Expires').selectOption('30');
      await submit(desk.page, tokens().getByRole('button', { name: 'Create API token' }));
      assert.equal(await text(flash(desk.page)), 'API token created. Copy it now: it is shown once.');
      const token = await tokens().getByLabel('Your new API token').inputValue();
      assert.match(token, /^stl_/);
      const row = tokens().getByRole('row', { name: /^wall dashboard / });
      assert.match(await text(row), /^wall dashboard read only .* never .* Revoke/);
      await screenshot(desk.page, 'settings-tokens');
      // It reads, and may not write.
      // A team Dana is not in: found or not, the token is accepted (404, not 401).
      let res = await desk.page.request.get(`${BASE}/api/v1/teams/NONE/members`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status(), 404);
      res = await desk.page.request.post(`${BASE}/api/v1/teams`, {
        headers: { authorization: `Bearer ${token}` },
        data: { name: 'Nope', key: 'NOPE' },
      });
      assert.equal(res.status(), 403);
      assert.equal((await res.json()).error.code, 'read_only_token');
      // Shown once.
      await open(desk.page, '/settings');
      assert.equal(await tokens().getByLabel('Your new API token').count(), 0);
      await submit(desk.page, tokens().getByRole('button', { name: 'Revoke wall dashboard' }));
      assert.equal(await text(flash(desk.page)), 'API token revoked: it no longer works, on any instance.');
      res = await desk.page.request.get(`${BASE}/api/v1/teams/NONE/members`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status(), 401);
    });
  } finally {
    for (const p of people) await p.ctx.close();
  }
}
