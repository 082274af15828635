// Journey 4: on a 375x740 phone, a member signs in, opens the dashboard and a
// proposal, and takes a stance; no page scrolls sideways.
import assert from 'node:assert/strict';
import { PASSWORD, flash, horizontalOverflow, localInput, open, person, screenshot, stepper, submit } from '../lib/harness.js';

async function text(locator) {
  return (await locator.innerText()).replace(/\s+/g, ' ').trim();
}

/**
 * @param {import('node:test').TestContext} t
 * @param {import('playwright-core').Browser} browser
 */
export async function mobileJourney(t, browser) {
  const people = [];
  const step = stepper(t, 'mobile', () => people);
  const teamName = 'Mobile Crew';
  const key = 'MOB';
  const title = 'Ship the app with offline support and a very long title that has to wrap on narrow screens';
  let slug;

  // Set up on a desktop: Mia creates the team and a proposal, and invites Max.
  const mia = await person(browser, { name: 'Mia', email: 'mia@example.com', timeZone: 'Europe/Lisbon' });
  const max = await person(browser, { name: 'Max', email: 'max@example.com', timeZone: 'Europe/Lisbon' });
  people.push(mia, max);
  let phone;

  const fits = async (what) => {
    const overflow = await horizontalOverflow(phone.page);
    assert.ok(overflow <= 0, `${what} (${phone.page.url()}) scrolls sideways by ${overflow}px at 375px`);
  };

  try {
    await step('4a. set-up on a desktop: a team, a member and an open proposal', async () => {
      for (const p of [mia, max]) {
        await open(p.page, '/sign-up');
        await p.page.getByLabel('Email').fill(p.email);
        await p.page.getByLabel('Display name').fill(p.name);
        await p.page.getByLabel('Password').fill(PASSWORD);
        await p.page.getByLabel('Time zone').fill(p.timeZone);
        await submit(p.page, p.page.getByRole('button', { name: 'Create account' }));
        assert.equal(await text(flash(p.page)), `Welcome, ${p.name}.`);
      }
      await mia.page.getByLabel('Team name').fill(teamName);
      await mia.page.getByLabel('Key').fill(key);
      await submit(mia.page, mia.page.getByRole('button', { name: 'Create team' }));
      slug = new URL(mia.page.url()).pathname.replace(/^\/t\//, '');
      await open(mia.page, `/t/${slug}/settings`);
      await submit(mia.page, mia.page.getByRole('button', { name: 'Create invitation link' }));
      const link = await mia.page.getByLabel('Invitation link').inputValue();
      await open(max.page, link);
      await submit(max.page, max.page.getByRole('button', { name: `Join ${teamName}` }));
      assert.equal(await text(flash(max.page)), `Welcome to ${teamName}.`);

      await open(mia.page, `/t/${slug}/proposals/new`);
      await mia.page.getByLabel('Title').fill(title);
      await mia.page
        .getByLabel('Proposal')
        .fill('Cache the last 50 decisions on the device.\n\n`https://example.com/a/very/long/url/that/should/not/push/the/page/sideways/on/a/phone`');
      await mia.page.getByLabel('Decider').selectOption({ label: 'Mia' });
      await mia.page.getByLabel('Earliest decision').fill(localInput(new Date(Date.now() + 36 * 3_600_000), mia.timeZone));
      await submit(mia.page, mia.page.getByRole('button', { name: 'Open proposal' }));
      assert.equal(new URL(mia.page.url()).pathname, `/d/${key}-1`);
      await mia.page.getByRole('region', { name: 'Stances' }).getByRole('radio', { name: 'agree', exact: true }).check();
      await submit(mia.page, mia.page.getByRole('button', { name: 'Save my stance' }));
      await mia.page.getByRole('region', { name: /^Comments/ }).getByLabel('Add a comment').fill('Max, what do you think?');
      await submit(mia.page, mia.page.getByRole('button', { name: 'Comment', exact: true }));
    });

    await step('4b. Max signs in on a phone and opens the dashboard', async () => {
      phone = await person(browser, { name: 'Max', email: max.email, mobile: true });
      people.push(phone);
      const { page } = phone;
      await open(page, `/t/${slug}`);
      // Signed out: the sign-in form.
      assert.equal(new URL(page.url()).pathname, '/sign-in');
      await fits('the sign-in page');
      await page.getByLabel('Email').fill(max.email);
      await page.getByLabel('Password').fill('not the password');
      const refused = await submit(page, page.getByRole('button', { name: 'Sign in' }));
      assert.equal(refused.status(), 401);
      assert.equal(await text(page.getByRole('alert')), 'That email and password do not match an account.');
      await page.getByLabel('Password').fill(PASSWORD);
      await submit(page, page.getByRole('button', { name: 'Sign in' }));
      // Back to the dashboard he asked for.
      assert.equal(new URL(page.url()).pathname, `/t/${slug}`);
      assert.equal(await text(page.getByRole('heading', { level: 1 })), `${teamName} ${key}`);
      await open(page, '/');
      assert.equal(await text(page.getByRole('heading', { level: 1 })), 'Your teams');
      await fits('the teams page');
      await submit(page, page.getByRole('link', { name: teamName, exact: true }));
      assert.equal(await text(page.getByRole('heading', { level: 1 })), `${teamName} ${key}`);
      await page.getByRole('region', { name: 'Needs your stance' }).getByRole('link', { name: `${key}-1 ${title}` }).waitFor();
      await fits('the dashboard');
      await screenshot(page, 'mobile-dashboard');
    });

    await step('4c. Max opens the proposal and takes a stance', async () => {
      const { page } = phone;
      const link = page.getByRole('region', { name: 'Needs your stance' }).getByRole('link', { name: `${key}-1 ${title}` });
      await link.tap();
      await page.waitForURL(`**/d/${key}-1`);
      assert.equal(await text(page.getByRole('heading', { level: 1 })), `${key}-1 ${title}`);
      await fits('the proposal page');
      const stances = page.getByRole('region', { name: 'Stances' });
      await stances.getByRole('radio', { name: 'disagree', exact: true }).tap();
      await stances.getByLabel('Reason').fill('Offline sync doubles the testing work.');
      await Promise.all([page.waitForNavigation(), stances.getByRole('button', { name: 'Save my stance' }).tap()]);
      assert.equal(await text(page.getByRole('status')), 'Your stance is recorded.');
      const row = stances.getByRole('row').filter({ has: page.getByRole('cell', { name: 'Max', exact: true }) });
      assert.match(await row.textContent(), /disagree\s*Offline sync doubles the testing work\./);
      await fits('the proposal page after the stance');
      await screenshot(page, 'mobile-proposal');
      // Max's stance left the "needs your stance" list.
      await open(page, `/t/${slug}`);
      await page.getByRole('region', { name: 'Needs your stance' }).getByText('Nothing waits for you.').waitFor();
    });

    await step('4d. the other team pages fit a phone too', async () => {
      const { page } = phone;
      for (const [path, heading] of [
        [`/t/${slug}/decisions`, 'Decision log'],
        [`/t/${slug}/proposals/new`, 'New proposal'],
        [`/t/${slug}/areas`, 'Who decides what'],
        [`/t/${slug}/deciders`, 'Who carries what'],
        [`/t/${slug}/log`, `The log of ${teamName}`],
        [`/t/${slug}/settings`, 'Team settings'],
        ['/settings', 'Your settings'],
      ]) {
        await open(page, path);
        assert.equal(await text(page.getByRole('heading', { level: 1 })), heading);
        await fits(`the page "${heading}"`);
      }
    });
  } finally {
    for (const p of people) await p.ctx.close();
  }
}
