// Browser test of the policy editor's integration catalog tab, in headless
// Chromium driven by playwright-core, against the real gateway in demo
// mode. A known sequence of requests goes out first, as three client
// applications; the page must then show, per system and client, the reads
// this test expects from that sequence, and the same figures as the API.
//
// Run: cd web/e2e && npm ci && npm test (the variables are in harness.mjs)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as harness from './harness.mjs';
import { skip, scratch, startGateway, launchBrowser } from './harness.mjs';

const { tmp, artifacts } = scratch('integrations');

let gw;
let base;
let browser;
let page;
const pageErrors = [];

// The sequence: who asks, what, and which systems' data it reads.
const sequence = [
  { persona: 'case-officer', client: 'bygglov-app', query: '{ errands(first: 3, caseType: "BYGGLOV") { totalCount } }', systems: ['etjanst'],
    fields: ['ErrandConnection.totalCount', 'Query.errands'] },
  { persona: 'case-officer', client: 'bygglov-app', query: '{ errands(first: 3, caseType: "BYGGLOV") { totalCount } }', systems: ['etjanst'],
    fields: ['ErrandConnection.totalCount', 'Query.errands'] },
  { persona: 'preschool-admin', client: 'preschool-app', query: '{ schoolUnits(first: 2) { edges { node { name } } } }', systems: ['skoldatabas'],
    fields: ['Query.schoolUnits', 'SchoolUnit.name', 'SchoolUnitConnection.edges', 'SchoolUnitEdge.node'] },
  { persona: null, client: 'anonymous', query: '{ schoolUnits(first: 1) { totalCount } }', systems: ['skoldatabas'],
    fields: ['Query.schoolUnits', 'SchoolUnitConnection.totalCount'] },
];

// expected reads: system -> client -> operations; client -> fields.
const reads = {};
const fieldsOf = {};
const requests = {};
for (const s of sequence) {
  for (const sys of s.systems) {
    reads[sys] ||= {};
    reads[sys][s.client] = (reads[sys][s.client] || 0) + 1;
  }
  fieldsOf[s.client] = [...new Set([...(fieldsOf[s.client] || []), ...s.fields])].sort();
  requests[s.client] = (requests[s.client] || 0) + 1;
}

before(async () => {
  if (skip) return;
  gw = await startGateway(tmp);
  base = gw.base;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gw?.stop();
});

test('three client applications send the known requests', { skip }, async () => {
  for (const s of sequence) {
    let res;
    if (s.persona) {
      res = await harness.graphql(base, s.persona, s.query);
    } else {
      const r = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ query: s.query }) });
      res = await r.json();
    }
    assert.equal(res.errors, undefined, JSON.stringify(res));
  }
});

test('a security officer opens the integration catalog', { skip }, async () => {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
  ctx.setDefaultTimeout(10_000);
  page = await ctx.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${base}/admin`);
  await page.getByRole('button', { name: 'security-officer', exact: true }).click();
  await page.locator('#policy-table tbody tr[data-line]').first().waitFor();
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Integrations', exact: true }).click();
  await page.locator('#systems-table tbody tr[data-system]').first().waitFor();
  await page.screenshot({ path: path.join(artifacts, 'integrations.png'), fullPage: true });
});

test('every system shows its reads per client, as the sequence made them', { skip }, async () => {
  const rows = page.locator('#systems-table tbody tr[data-system]');
  const names = await rows.evaluateAll((rs) => rs.map((r) => r.dataset.system));
  assert.deepEqual(names, ['avfall', 'etjanst', 'folkbokforing', 'geodata', 'skoldatabas', 'tomningar']);
  for (const sys of names) {
    const shown = await page.locator(`#systems-table tr[data-system="${sys}"] td.reads li`).allTextContents();
    const want = Object.entries(reads[sys] || {}).sort(([a], [b]) => a.localeCompare(b)).map(([c, n]) => `${c}: ${n}`);
    assert.deepEqual(shown, want, `${sys}'s reads`);
  }
});

test('the page shows the API\'s figures: kind, levels, promise, measured calls, open APIs', { skip }, async () => {
  const r = await fetch(`${base}/admin/api/integrations`, { headers: { Authorization: `Bearer ${await harness.token(base, 'security-officer')}` } });
  assert.equal(r.status, 200);
  const cat = await r.json();
  for (const s of cat.systems) {
    const row = page.locator(`#systems-table tr[data-system="${s.name}"]`);
    const cells = await row.locator('td').allTextContents();
    assert.equal(cells[0], s.kind);
    assert.equal(cells[1], s.owner);
    assert.equal(cells[2], s.levels.min === s.levels.max ? `${s.levels.min}` : `${s.levels.min}–${s.levels.max}`);
    assert.equal(cells[5], s.availability.promised);
    if (s.availability.calls > 0) assert.match(cells[6], new RegExp(`^\\d+\\.\\d\\d % \\(\\d+ of \\d+ calls\\)`));
    assert.equal(cells[7], s.openApis.join(', ') || '–');
  }
  const avfall = await page.locator('#systems-table tr[data-system="avfall"] td').allTextContents();
  assert.equal(avfall[0], 'REST');
  assert.equal(avfall[5], '99.5 %'); // its declaration (schema/avfall.yaml)
  assert.match(avfall[7], /avfallshamtning/);
  // The school database served the anonymous and the preschool reads: calls were made.
  const school = cat.systems.find((s) => s.name === 'skoldatabas');
  assert.ok(school.availability.calls >= 2, `calls ${school.availability.calls}`);
});

test('every client shows its contract, reads and the fields it actually read', { skip }, async () => {
  for (const [client, n] of Object.entries(requests)) {
    const row = page.locator(`#clients-table tr[data-client="${client}"]`);
    assert.equal(await row.locator('td.reads').textContent(), String(n), `${client}'s reads`);
    await row.locator('td.fields summary').click();
    assert.deepEqual((await row.locator('td.fields code').textContent()).split(' '), fieldsOf[client], `${client}'s fields`);
  }
  const bygglov = await page.locator('#clients-table tr[data-client="bygglov-app"] td').allTextContents();
  assert.equal(bygglov[0], 'Bygglovshandläggning');
  assert.equal(bygglov[1], 'Bygg- och miljönämnden');
  assert.equal(bygglov[2], 'bygglov');
  assert.equal(bygglov[3], '2 Betydande');
  assert.equal(bygglov[5], 'etjanst');
  // A client with a contract that read nothing is listed with none.
  assert.equal(await page.locator('#clients-table tr[data-client="case-app"] td.reads').textContent(), '0');
  const totals = await page.locator('#int-totals').textContent();
  assert.match(totals, new RegExp(`; ${sequence.length} reads in the window\\.$`));
  await page.screenshot({ path: path.join(artifacts, 'integrations-clients.png'), fullPage: true });
});

test('the CSV download carries the same reads', { skip }, async () => {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download CSV' }).click()]);
  assert.match(download.suggestedFilename(), /^kommungraf-integrationskatalog-\d{4}-\d\d-\d\d\.csv$/);
  const file = path.join(artifacts, download.suggestedFilename());
  await download.saveAs(file);
  const lines = fs.readFileSync(file, 'utf8').trim().split(/\r?\n/);
  assert.ok(lines.some((l) => l.startsWith('client,bygglov-app,Bygg- och miljönämnden,ceiling 2,,bygglov,etjanst,2,')), lines.join('\n'));
});

test('the page ran without script errors', { skip }, () => {
  assert.deepEqual(pageErrors, []);
});
