// Browser test of the policy editor's access log tab, its in-place line
// editing and its times, in headless Chromium driven by playwright-core,
// against the real gateway in demo mode (approval off, as the demo ships).
// The browser runs in New York: every time the page shows must still be
// Swedish time with its zone.
//
// Run: cd web/e2e && npm ci && npm test (the variables are in harness.mjs)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as harness from './harness.mjs';
import { skip, scratch, startGateway, launchBrowser, eventually } from './harness.mjs';

const { tmp, artifacts } = scratch('tabs');

// Swedish time as the page must show it: 2026-12-06 15:20:29 CET.
// Every part spelled out, two-digit hours included (01:15:21, not 1:15:21).
const stockholm = (iso) => new Date(iso).toLocaleString('sv-SE', {
  timeZone: 'Europe/Stockholm', timeZoneName: 'short', hourCycle: 'h23',
  year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
});
const SHOWN_TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T$/;

let gw; // the gateway process (startGateway)
let base;
let browser;
let officer; // the security officer's page, in New York
let pnr; // the personnummer the case officer looked up
const requestURLs = []; // every URL the officer's page asked for
const pageErrors = [];

async function view(page, name) {
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name, exact: true }).click();
}

const token = (persona) => harness.token(base, persona);
const graphql = (persona, query) => harness.graphql(base, persona, query);

before(async () => {
  if (skip) return;
  // The demo's default: changes apply at once.
  gw = await startGateway(tmp, { KOMMUNGRAF_REQUIRE_APPROVAL: undefined });
  base = gw.base;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gw?.stop();
});

test('the case officer looks a person up', { skip }, async () => {
  const list = await graphql('case-officer',
    '{ errands(first: 10, caseType: "BYGGLOV") { edges { node { stakeholders { person { personalNumber } } } } } }');
  for (const e of list.data?.errands?.edges || []) {
    for (const s of e.node.stakeholders || []) pnr ||= s.person?.personalNumber;
  }
  assert.match(pnr || '', /^\d{12}$/, `no personnummer in ${JSON.stringify(list)}`);
  const res = await graphql('case-officer', `query LookUp { person(personalNumber: "${pnr}") { givenName address { city } } }`);
  assert.ok(res.data?.person?.givenName, JSON.stringify(res));
});

test('a security officer in New York signs in', { skip }, async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'America/New_York', acceptDownloads: true });
  ctx.setDefaultTimeout(10_000);
  officer = await ctx.newPage();
  officer.on('pageerror', (err) => pageErrors.push(err.message));
  officer.on('request', (r) => requestURLs.push(r.url()));
  await officer.goto(`${base}/admin`);
  await officer.getByRole('button', { name: 'security-officer', exact: true }).click();
  await officer.locator('#policy-table tbody tr[data-line]').first().waitFor();
  assert.equal(await officer.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone), 'America/New_York');
});

test('the access log tab finds who looked at the person, in Swedish time', { skip }, async () => {
  await view(officer, 'Access log');
  // The dashed form, as on a paper; the page sends it in a POST body.
  await officer.getByLabel('Personnummer').fill(`${pnr.slice(0, 8)}-${pnr.slice(8)}`);
  await officer.getByLabel('Client').fill('bygglov-app');
  const rows = officer.locator('#accesslog-table tbody tr');
  await eventually(async () => { // the access log is written asynchronously
    await officer.getByRole('button', { name: 'Search' }).click();
    await officer.locator('#accesslog-summary', { hasText: /entr(y|ies)|No entry/ }).waitFor();
    assert.ok(await rows.count() >= 1, await officer.locator('#accesslog-summary').textContent());
  }, 'the case officer\'s look-up in the access log');
  const row = rows.filter({ hasText: 'LookUp' }).first();
  await row.waitFor();
  const cells = await row.locator('td').allTextContents();
  assert.match(cells[1], /demo-case-officer/);
  assert.equal(cells[2], 'Bygg- och miljönämnden');
  assert.equal(cells[3], 'bygglov-app');
  assert.equal(cells[4], 'bygglov');
  assert.match(cells[6], /Person\.givenName/);
  // Swedish time with its zone, though the browser is in New York.
  const iso = await row.locator('time').getAttribute('datetime');
  assert.match(iso, /[+-]0[12]:00$/, `the API's time ${iso} carries the Stockholm offset`);
  assert.match(cells[0], SHOWN_TIME);
  assert.equal(cells[0], stockholm(iso));
  await officer.screenshot({ path: path.join(artifacts, 'access-log.png'), fullPage: true });
});

test('the officer\'s own searches are logged, and listed when asked for', { skip }, async () => {
  await view(officer, 'Access log');
  await officer.getByLabel('Client').fill('');
  const rows = officer.locator('#accesslog-table tbody tr');
  await officer.getByLabel('Also list who looked the person up here').check();
  try {
    await eventually(async () => { // the search entries are written asynchronously
      await officer.getByRole('button', { name: 'Search', exact: true }).click();
      await officer.locator('#accesslog-summary', { hasText: /entr(y|ies)|No entry/ }).waitFor();
      assert.ok(await rows.filter({ hasText: 'access-log search' }).count() >= 1, await officer.locator('#accesslog-summary').textContent());
    }, 'the officer\'s earlier search in the list');
    const cells = await rows.filter({ hasText: 'access-log search' }).first().locator('td').allTextContents();
    assert.match(cells[1], /demo-security-officer/);
    assert.match(cells[6], /AccessLog\.search/);
  } finally {
    await officer.getByLabel('Also list who looked the person up here').uncheck();
    await officer.getByLabel('Client').fill('bygglov-app');
  }
});

test('the CSV extract (registerutdrag) downloads with the same entries', { skip }, async () => {
  const [download] = await Promise.all([
    officer.waitForEvent('download'),
    officer.getByRole('button', { name: 'Download CSV (registerutdrag)' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^registerutdrag-\d{8}-\d{6}\.csv$/);
  const file = path.join(artifacts, download.suggestedFilename());
  await download.saveAs(file);
  const lines = fs.readFileSync(file, 'utf8').trim().split(/\r?\n/);
  assert.equal(lines[0], 'when (Europe/Stockholm),subject,unit,client,purposes,operation,fields read,denied,request id');
  const lookUp = lines.find((l) => l.includes(',LookUp,'));
  assert.ok(lookUp, `no LookUp row in\n${lines.join('\n')}`);
  assert.match(lookUp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00,demo-case-officer,Bygg- och miljönämnden,bygglov-app,bygglov,LookUp,/);
  assert.ok(!fs.readFileSync(file, 'utf8').includes(pnr.slice(0, 8)), 'the extract holds the personnummer');
});

test('the personnummer never appeared in a URL the page asked for', { skip }, () => {
  assert.ok(requestURLs.some((u) => u.endsWith('/admin/api/access-log')), 'the page did not search');
  const leaked = requestURLs.filter((u) => u.includes(pnr.slice(0, 8)) || u.includes(pnr.slice(2)));
  assert.deepEqual(leaked, []);
});

test('other times are Swedish time too', { skip }, async () => {
  await view(officer, 'Versions');
  const shown = officer.locator('article.version time').first();
  await shown.waitFor();
  assert.match(await shown.textContent(), SHOWN_TIME);
  assert.equal(await shown.textContent(), stockholm(await shown.getAttribute('datetime')));
});

test('a line is edited in place', { skip }, async () => {
  await view(officer, 'Policy');
  const row = officer.locator('#policy-table tbody tr', { hasText: 'role:case-officer' }).filter({ hasText: 'Address.*' });
  const num = await row.getAttribute('data-line'); // before: the row's text becomes fields
  await row.getByRole('button', { name: /^Edit line \d+ in place$/ }).click();
  const level = officer.getByLabel(`Level, line ${num}`);
  assert.equal(await officer.getByLabel(`Who, line ${num}`).inputValue(), 'role:case-officer');
  // The choices come from the catalog: roles, units, clients, fields.
  const subjects = await officer.locator('#choices-subject option').evaluateAll((os) => os.map((o) => o.value));
  for (const want of ['role:case-officer', 'unit:Informationssäkerhet', 'client:bygglov-app']) assert.ok(subjects.includes(want), `no ${want} in ${subjects}`);
  const objects = await officer.locator('#choices-object option').evaluateAll((os) => os.map((o) => o.value));
  for (const want of ['Person.*', 'Address.city', 'accesslog']) assert.ok(objects.includes(want), `no ${want} in the object choices`);
  await level.selectOption('2');
  await officer.locator(`#policy-table tr[data-line="${num}"]`).getByRole('button', { name: 'Save' }).click();
  const saved = officer.locator('#policy-table tr.line-saved');
  await saved.getByText(`Line ${num} changed in the editor text`).waitFor();
  const edited = officer.locator(`#policy-table tr[data-line="${num}"]`);
  assert.match(await edited.textContent(), /changed in the editor/);
  assert.match(await edited.textContent(), /2 Betydande/);
  assert.match(await officer.locator('#policy-text').inputValue(), /^p, role:case-officer, Address\.\*, read, bygglov, 2, allow$/m);
  await officer.screenshot({ path: path.join(artifacts, 'edited-line.png'), fullPage: false });
});

test('every problem of a bad line is shown beside it', { skip }, async () => {
  const row = officer.locator('#policy-table tbody tr', { hasText: 'role:analyst' }).filter({ hasText: 'Query.errands' });
  const num = await row.getAttribute('data-line');
  await row.getByRole('button', { name: /^Edit line \d+ in place$/ }).click();
  await officer.getByLabel(`Who, line ${num}`).fill('admin');
  await officer.getByLabel(`Which fields, line ${num}`).fill('Persn.*');
  await officer.locator(`#policy-table tr[data-line="${num}"]`).getByRole('button', { name: 'Save' }).click();
  const problems = officer.locator(`#edit-${num}-problems`);
  await problems.getByText(`Line ${num} has 2 problems`).waitFor();
  const items = await problems.locator('li').allTextContents();
  assert.equal(items.length, 2, items.join('\n'));
  assert.match(items[0], /^Who: subject "admin"/);
  assert.match(items[1], /^Which fields: object "Persn\.\*" matches no field/);
  assert.equal(await officer.getByLabel(`Who, line ${num}`).getAttribute('aria-invalid'), 'true');
  assert.equal(await officer.getByLabel(`Which fields, line ${num}`).getAttribute('aria-invalid'), 'true');
  assert.equal(await officer.getByLabel(`Action, line ${num}`).getAttribute('aria-invalid'), null);
  assert.doesNotMatch(await officer.locator('#policy-text').inputValue(), /Persn/, 'a bad line went into the editor text');
  await officer.screenshot({ path: path.join(artifacts, 'edit-in-place.png'), fullPage: false });
  await officer.locator(`#policy-table tr[data-line="${num}"]`).getByRole('button', { name: 'Cancel' }).click();
});

test('a change that goes live without approval is confirmed first, and old messages are cleared', { skip }, async () => {
  await view(officer, 'Edit & dry run');
  const before = await officer.locator('#editor-base').textContent();
  await officer.getByLabel('Comment (why)').fill('The case officer\'s addresses at level 2');
  await officer.getByRole('button', { name: 'Propose' }).click();
  const dialog = officer.getByRole('dialog', { name: 'Apply without approval?' });
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /becomes the live policy at once/);
  await officer.screenshot({ path: path.join(artifacts, 'confirm.png'), fullPage: false });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await officer.locator('#status', { hasText: 'Nothing was proposed.' }).waitFor();
  const policy = await (await fetch(`${base}/admin/api/policy`, { headers: { Authorization: `Bearer ${await token('security-officer')}` } })).json();
  assert.equal(String(policy.version), before, 'a cancelled change went live');

  await officer.getByRole('button', { name: 'Propose' }).click();
  await dialog.getByRole('button', { name: 'Apply now' }).click();
  const result = officer.locator('#propose-result');
  await result.getByText(/^Applied: the live policy is now version \d+\.$/).waitFor();
  // A new action starts with a clean slate: the old result is gone.
  await officer.getByRole('button', { name: 'Dry run' }).click();
  await officer.locator('#status', { hasText: 'Dry run done.' }).waitFor();
  assert.equal(await result.textContent(), '');
});

test('the page ran without script errors', { skip }, () => {
  assert.deepEqual(pageErrors, []);
});
