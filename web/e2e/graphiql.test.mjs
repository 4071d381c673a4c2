// Browser test of GraphiQL at / (the bundle in web/graphiql, embedded in the
// binary), in headless Chromium (Debian's chromium package) driven by
// playwright-core, against the real gateway in demo mode.
//
// The page must work with no network beyond loopback: every request to
// another host is aborted and recorded, and the record must stay empty. As
// the analyst and as the case officer, GraphiQL loads the schema (the
// introspection query it sends is exactly graph/testdata/
// introspection-graphiql.graphql), the Docs pane lists Query's fields, and
// Q1 typed into the editor runs.
//
// Run: cd web/e2e && npm ci && npm test
//   (KOMMUNGRAF_BIN, CHROMIUM and E2E_ARTIFACTS: see harness.mjs)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { repo, skip, scratch, startGateway, launchBrowser } from './harness.mjs';

const { tmp, artifacts } = scratch('graphiql');

// Q1 of the README, a bygglov officer's worklist.
const Q1 = `{ errands(first: 50, caseType: "BYGGLOV") { edges { node {
    errandNumber status
    property { designation areaM2 owners { name } }
    stakeholders { role person { givenName surname address { city } } } } } } }`;
const introspectionQuery = fs.readFileSync(path.join(repo, 'graph/testdata/introspection-graphiql.graphql'), 'utf8');

let gw; // the gateway process (startGateway)
let base; // its URL
let browser;

function isGraphQLPost(req, operationName) {
  if (req.method() !== 'POST' || new URL(req.url()).pathname !== '/graphql') return false;
  try {
    const body = JSON.parse(req.postData() || '{}');
    return operationName === undefined || body.operationName === operationName;
  } catch {
    return false;
  }
}

// editorValue reads a CodeMirror 5 editor's text (CodeMirror renders only
// the visible lines, so the DOM text is not enough).
function editorValue(page, selector) {
  return page.evaluate((sel) => document.querySelector(sel)?.CodeMirror?.getValue() ?? null, selector);
}

// openGraphiQL opens / as persona in a fresh browser context where only
// loopback is reachable. It returns the page, the requests it tried to send
// elsewhere, its script errors and CSP violations, and the introspection
// request and response.
async function openGraphiQL(persona) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  ctx.setDefaultTimeout(15_000);
  const page = await ctx.newPage();
  const external = [];
  const problems = [];
  await page.route('**/*', (route) => {
    const { hostname } = new URL(route.request().url());
    if (hostname === '127.0.0.1' || hostname === 'localhost') return route.continue();
    external.push(route.request().url());
    return route.abort('blockedbyclient');
  });
  page.on('pageerror', (err) => problems.push(`script error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  const introspection = page.waitForResponse((res) => isGraphQLPost(res.request(), 'IntrospectionQuery'), { timeout: 30_000 });
  const response = await page.goto(`${base}/?persona=${persona}`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'] || '', /script-src 'self'(;|$)/);
  const res = await introspection;
  return { ctx, page, external, problems, introspection: res };
}

async function checkPage(persona, wantInResult) {
  const { ctx, page, external, problems, introspection } = await openGraphiQL(persona);
  try {
    // The introspection query is the one graph/'s tests pin.
    const sent = JSON.parse(introspection.request().postData());
    assert.equal(sent.query, introspectionQuery, 'GraphiQL sent another introspection query than graph/testdata/introspection-graphiql.graphql');
    assert.equal(introspection.status(), 200);
    const body = await introspection.json();
    assert.ok(body.data?.__schema, `introspection failed: ${JSON.stringify(body.errors)}`);
    // The demo token went along as the default header.
    assert.match(introspection.request().headers().authorization || '', /^Bearer \S+$/);

    // The persona bar names this persona.
    await page.getByRole('navigation', { name: 'Demo persona' }).getByRole('link', { name: persona, exact: true })
      .and(page.locator('[aria-current="page"]')).waitFor();
    await page.getByText('(synthetic data only)').waitFor();

    // The Docs pane lists Query's fields.
    await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
    const docs = page.getByRole('region', { name: 'Documentation Explorer' });
    await docs.getByText('Root Types').waitFor();
    await docs.locator('a', { hasText: /^Query$/ }).first().click();
    await docs.locator('a.graphiql-doc-explorer-field-name', { hasText: /^errands$/ }).waitFor();
    assert.equal(await page.getByText('Error fetching schema').count(), 0);
    await page.screenshot({ path: path.join(artifacts, `graphiql-${persona}-docs.png`) });

    // Q1, pasted into the query editor, runs.
    const editor = '.graphiql-query-editor .CodeMirror';
    await page.locator(editor).click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.insertText(Q1);
    await page.waitForFunction(([sel, q]) => document.querySelector(sel)?.CodeMirror?.getValue() === q, [editor, Q1]);
    const executed = page.waitForResponse((res) => isGraphQLPost(res.request()) && JSON.parse(res.request().postData()).query === Q1);
    await page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).click();
    const answer = await (await executed).json();
    assert.ok(answer.data?.errands, `Q1 as ${persona}: ${JSON.stringify(answer).slice(0, 500)}`);
    const result = '.result-window .CodeMirror';
    await page.waitForFunction(([sel, want]) => (document.querySelector(sel)?.CodeMirror?.getValue() || '').includes(want), [result, wantInResult]);
    const shown = await editorValue(page, result);
    assert.ok(!shown.includes('DEPTH_LIMIT_EXCEEDED'), shown.slice(0, 500));
    assert.ok(!/Failed to fetch|NetworkError/.test(shown), shown.slice(0, 500));
    await page.screenshot({ path: path.join(artifacts, `graphiql-${persona}-q1.png`) });
    // The editors live in the tab's sessionStorage only: queries carry
    // personnummer, which must not outlive the tab on a shared workstation.
    const stored = await page.evaluate(() => ({ local: Object.keys(localStorage), session: Object.keys(sessionStorage) }));
    assert.deepEqual(stored.local, [], 'GraphiQL wrote to localStorage');
    assert.ok(stored.session.some((k) => k.startsWith(`kommungraf-${persona}-`)), `no editor state in sessionStorage: ${stored.session}`);

    assert.deepEqual(external, [], 'requests to hosts other than loopback');
    assert.deepEqual(problems, [], 'script errors or CSP violations');
    return answer;
  } finally {
    await ctx.close();
  }
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

test('GraphiQL as the analyst: schema, docs and Q1 with no network beyond loopback', { skip }, async () => {
  // The analyst acts for statistics, not bygglov: the list may be empty, but
  // the query is answered.
  const answer = await checkPage('analyst', '"errands"');
  assert.ok(!(answer.errors || []).some((e) => e.extensions?.code === 'DEPTH_LIMIT_EXCEEDED'));
  console.log(`screenshots in ${artifacts}`);
});

test('GraphiQL as the case officer: Q1 lists bygglov errands', { skip }, async () => {
  const answer = await checkPage('case-officer', '"BYGG-');
  assert.ok(answer.data.errands.edges.length > 0, 'the case officer sees no bygglov errand');
});

test('an unknown persona opens as the analyst', { skip }, async () => {
  const r = await fetch(`${base}/?persona=${encodeURIComponent('nobody"><script>')}`);
  assert.equal(r.status, 200);
  const html = await r.text();
  assert.match(html, /<a href="\/\?persona=analyst" aria-current="page">analyst<\/a>/);
  assert.ok(!html.includes('nobody'), 'the unknown persona is echoed');
});
