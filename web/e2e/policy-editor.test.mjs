// Browser test of the policy editor, in headless Chromium (Debian's chromium
// package) driven by playwright-core, against the real gateway in demo mode.
//
// A security officer withdraws the case officer's access to addresses: dry
// run, proposal, approval by a second officer; the case officer's GraphQL
// request then gets FORBIDDEN for addresses, and restoring the previous
// version (proposed and approved the same way) gives access back.
//
// Run: cd web/e2e && npm ci && npm test
//   (KOMMUNGRAF_BIN, CHROMIUM and E2E_ARTIFACTS: see harness.mjs)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as harness from './harness.mjs';
import { skip, scratch, startGateway, launchBrowser, eventually } from './harness.mjs';

const { tmp, artifacts } = scratch('policy');

const Q = '{ errands(first: 1, caseType: "BYGGLOV") { edges { node { stakeholders { person { givenName address { city } } } } } } }';
const WITHDRAW = 'Withdraw the case officer\'s access to addresses';

let gw; // the gateway process (startGateway)
let base; // its URL
let browser;
let officer; // page of security-officer
let officer2; // page of security-officer-2
const pageErrors = [];

// addressErrors are the FORBIDDEN errors of Q at an address; the rest of
// the answer is still served.
function addressErrors(res) {
  return (res.errors || []).filter((e) => e.extensions?.code === 'FORBIDDEN' && (e.path || []).includes('address'));
}

function firstPerson(res) {
  const edges = res.data?.errands?.edges || [];
  for (const e of edges) for (const s of e.node.stakeholders || []) if (s.person) return s.person;
  return null;
}

async function signIn(persona) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  ctx.setDefaultTimeout(10_000);
  const page = await ctx.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${persona}: ${err.message}`));
  await page.goto(`${base}/admin`);
  await page.getByRole('button', { name: persona, exact: true }).click();
  await page.locator('#policy-text').waitFor({ state: 'attached' });
  assert.equal(await page.locator('#subject').textContent(), `demo-${persona}`);
  return page;
}

async function view(page, name) {
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name }).click();
}

// open loads the editor afresh and shows one of its views.
async function open(page, name) {
  await page.goto(`${base}/admin`);
  await view(page, name);
}

// approve approves, as the second officer, the proposal with comment.
async function approve(page, comment) {
  await open(page, 'Pending proposals');
  const card = page.locator('article.proposal', { hasText: comment });
  await card.waitFor();
  const id = await card.getAttribute('data-id');
  await card.getByRole('button', { name: `Approve #${id}` }).click();
  await page.getByRole('status').filter({ hasText: `Approved #${id}` }).first().waitFor();
  const text = await page.locator('#status').textContent();
  return Number(/version (\d+)/.exec(text)[1]);
}

const token = (persona) => harness.token(base, persona);
const graphql = (persona, query) => harness.graphql(base, persona, query);

before(async () => {
  if (skip) return;
  // The demo applies a change at once; this scenario needs a second officer.
  gw = await startGateway(tmp, { KOMMUNGRAF_REQUIRE_APPROVAL: 'true' });
  base = gw.base;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gw?.stop();
});

test('non-security principals are refused on the page and the API', { skip }, async () => {
  const auth = { Authorization: `Bearer ${await token('case-officer')}` };
  let r = await fetch(`${base}/admin`, { headers: auth });
  assert.equal(r.status, 403);
  assert.equal((await r.json()).code, 'FORBIDDEN');
  r = await fetch(`${base}/admin/api/policy`, { headers: auth });
  assert.equal(r.status, 403, '/admin/api/policy as the case officer');
  r = await fetch(`${base}/admin/session`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Kommungraf-CSRF': '1' },
    body: JSON.stringify({ token: await token('case-officer') }),
  });
  assert.equal(r.status, 403);
  assert.equal(r.headers.get('set-cookie'), null);

  // In the browser: the persona button is refused, no session is kept.
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${base}/admin`);
  await page.getByRole('button', { name: 'case-officer', exact: true }).click();
  await page.getByRole('alert').filter({ hasText: 'FORBIDDEN' }).waitFor();
  assert.deepEqual(await ctx.cookies(), []);
  await ctx.close();
});

test('before the change the case officer sees addresses', { skip }, async () => {
  const res = await graphql('case-officer', Q);
  assert.deepEqual(addressErrors(res), [], JSON.stringify(res.errors));
  assert.ok(firstPerson(res)?.address?.city, `no city in ${JSON.stringify(res.data)}`);
});

test('a security officer reads the policy and the field catalog', { skip }, async () => {
  officer = await signIn('security-officer');
  const row = officer.locator('#policy-table tr', { hasText: 'role:case-officer' }).filter({ hasText: 'Address.*' });
  await row.waitFor();

  await view(officer, 'Field catalog');
  const city = officer.locator('#catalog-table tbody tr[data-key="Address.city"]');
  await city.waitFor();
  assert.match(await city.textContent(), /case-officer/);
  const total = await officer.locator('#catalog-table tbody tr').count();
  assert.ok(total > 40, `only ${total} fields in the catalog`);
  await officer.screenshot({ path: path.join(artifacts, 'catalog.png'), fullPage: false });

  // Search and filters narrow the list.
  await officer.getByLabel('Search').fill('city');
  assert.ok(await officer.locator('#catalog-table tbody tr').count() < total);
  await officer.getByLabel('Search').fill('');
  await officer.getByLabel('Personal data').selectOption('health');
  const health = await officer.locator('#catalog-table tbody tr').allTextContents();
  assert.ok(health.length > 0 && health.every((t) => t.includes('health data')), 'health filter');
  await officer.getByLabel('Personal data').selectOption('');
  await officer.locator('#catalog-filters').getByLabel('Level').selectOption('3');
  assert.ok((await officer.locator('#catalog-table tbody tr').allTextContents()).every((t) => t.includes('3 Allvarlig')), 'level filter');
  await officer.locator('#catalog-filters').getByLabel('Level').selectOption('');
  await officer.screenshot({ path: path.join(artifacts, 'catalog-full.png'), fullPage: true });
  console.log(`screenshots in ${artifacts}`);
});

test('an invalid line is refused line by line', { skip }, async () => {
  await view(officer, 'Edit & dry run');
  const text = officer.getByLabel('Policy text');
  const live = await text.inputValue();
  await text.fill(live + '\np, role:case-officer, Address.*, read\n');
  await officer.getByRole('button', { name: 'Dry run' }).click();
  const problems = officer.locator('#editor-problems');
  await problems.getByText(/^Line \d+:/).first().waitFor();
  await officer.getByRole('button', { name: 'Reset to the live policy' }).click();
  await officer.waitForFunction((v) => document.getElementById('policy-text').value === v, live);
});

test('the officer withdraws addresses: dry run, then a proposal that waits for approval', { skip }, async () => {
  await view(officer, 'Policy');
  const row = officer.locator('#policy-table tr', { hasText: 'role:case-officer' }).filter({ hasText: 'Address.*' });
  await row.getByRole('button', { name: /Remove/ }).click(); // row helper: the line leaves the editor text
  const text = officer.getByLabel('Policy text');
  await text.waitFor();
  let edited = await text.inputValue();
  assert.ok(!/role:case-officer, Address\.\*/.test(edited), 'the Remove helper left the Address.* line');
  const person = /^p, role:case-officer, "Person\.\{[^}]*\}".*$/m;
  assert.match(edited, person);
  edited = edited.replace(person, (line) => line.replace(/,address(?=[,}])/, '').replace(/\{address,/, '{'));
  assert.doesNotMatch(edited.match(person)[0], /address/);
  await text.fill(edited);

  await officer.getByRole('button', { name: 'Dry run' }).click();
  const result = officer.locator('#dry-run-result');
  await result.waitFor();
  const change = result.locator('tbody tr', { hasText: 'Address.city' }).filter({ hasText: 'case-officer' }).first();
  await change.waitFor();
  const cells = await change.locator('td').allTextContents();
  assert.match(cells[4], /allow/i, `before: ${cells}`);
  assert.match(cells[5], /den/i, `after: ${cells}`);
  // The case officer's request of the test before would be answered differently.
  const summary = await officer.locator('#dry-run-summary').textContent();
  const m = /Of the (\d+) recent requests.*, (\d+) would have been answered differently/.exec(summary);
  assert.ok(m && Number(m[2]) >= 1 && Number(m[2]) <= Number(m[1]), summary);
  await officer.screenshot({ path: path.join(artifacts, 'dry-run.png'), fullPage: true });

  await officer.getByLabel('Comment (why)').fill(WITHDRAW);
  await officer.getByRole('button', { name: 'Propose' }).click();
  await officer.locator('#propose-result').getByText(/waiting for a second security officer/).waitFor();

  // Nothing has changed yet.
  const res = await graphql('case-officer', Q);
  assert.deepEqual(addressErrors(res), [], 'a proposal took effect before its approval');
});

test('the author cannot approve their own proposal', { skip }, async () => {
  await open(officer, 'Pending proposals');
  const card = officer.locator('article.proposal', { hasText: WITHDRAW });
  const id = await card.getAttribute('data-id');
  await card.getByRole('button', { name: `Approve #${id}` }).click();
  await card.getByRole('alert').filter({ hasText: /refused/ }).waitFor();
});

test('a second officer approves and the case officer gets FORBIDDEN for addresses', { skip }, async () => {
  officer2 = await signIn('security-officer-2');
  await approve(officer2, WITHDRAW);
  await eventually(async () => {
    const res = await graphql('case-officer', Q);
    assert.ok(addressErrors(res).length > 0, `no FORBIDDEN at an address: ${JSON.stringify(res.errors)}`);
    const p = firstPerson(res);
    assert.ok(p?.givenName, 'the rest of the answer is still served');
    assert.equal(p.address, null);
  }, 'after the approval');
});

test('restoring the previous version gives access back', { skip }, async () => {
  await open(officer, 'Versions');
  const cards = officer.locator('article.version');
  await cards.first().waitFor();
  const live = await officer.locator('article.version', { has: officer.locator('.badge', { hasText: 'live' }) }).getAttribute('data-version');
  const previous = Number(live) - 1;
  const card = officer.locator(`article.version[data-version="${previous}"]`);
  const comment = `Restore version ${previous}: addresses back for the case officer`;
  await card.getByLabel('Comment').fill(comment);
  await card.getByRole('button', { name: `Restore version ${previous}` }).click();
  await card.getByText(/waiting for a second security officer/).waitFor();

  await approve(officer2, comment);
  await eventually(async () => {
    const res = await graphql('case-officer', Q);
    assert.deepEqual(addressErrors(res), [], JSON.stringify(res.errors));
    assert.ok(firstPerson(res)?.address?.city, 'no city after the restore');
  }, 'after the restore');
});

test('the audit trail shows who proposed, approved and applied', { skip }, async () => {
  await open(officer, 'Audit trail');
  const rows = officer.locator('#audit-table tbody tr');
  await rows.first().waitFor();
  const all = (await rows.allTextContents()).join('\n');
  for (const want of ['demo-security-officer', 'demo-security-officer-2', 'propose', 'approve']) {
    assert.ok(all.includes(want), `audit lacks ${want}:\n${all}`);
  }
  await officer.screenshot({ path: path.join(artifacts, 'audit.png') });
  await view(officer, 'Versions');
  await officer.locator('article.version').first().waitFor();
  await officer.screenshot({ path: path.join(artifacts, 'versions.png'), fullPage: true });
  await officer.getByRole('button', { name: 'Sign out' }).click();
  await officer.getByRole('heading', { name: 'Sign in' }).waitFor();
});

test('the page ran without script errors', { skip }, () => {
  assert.deepEqual(pageErrors, []);
});
