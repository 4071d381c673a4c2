// What the browser tests share: the repository, the browser, a gateway
// process in demo mode on a free loopback port, and small helpers.
//
//   KOMMUNGRAF_BIN  a built gateway (default: go build into a temp dir)
//   CHROMIUM        the browser (default /usr/bin/chromium); without one the
//                   tests are skipped, and fail under CI=true
//   E2E_ARTIFACTS   where the screenshots go (default: a temp dir, printed)
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';
const haveBrowser = fs.existsSync(browserPath);
if (!haveBrowser && process.env.CI === 'true') {
  throw new Error(`${browserPath} is missing: install Debian's chromium package (CI=true does not skip the browser test)`);
}
// skip is the reason to skip every browser test, or false.
export const skip = haveBrowser ? false : `no browser at ${browserPath} (apt-get install chromium, or set CHROMIUM)`;

// scratch makes a temp dir for one test file; screenshots go to
// E2E_ARTIFACTS when it is set, else there too.
export function scratch(prefix) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `kommungraf-e2e-${prefix}-`));
  return { tmp, artifacts: process.env.E2E_ARTIFACTS || tmp };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// startGateway starts the demo gateway (2000 people) with env added to this
// process's environment (a value of undefined removes a variable) and
// waits until it is ready. stop() ends it; logFile is its output.
export async function startGateway(tmp, env = {}) {
  let bin = process.env.KOMMUNGRAF_BIN;
  if (!bin) {
    bin = path.join(tmp, 'kg');
    execFileSync('go', ['build', '-o', bin, './cmd/kommungraf'], { cwd: repo, stdio: 'inherit' });
  }
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logFile = path.join(tmp, 'gateway.log');
  const log = fs.openSync(logFile, 'w');
  const childEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  const gw = spawn(bin, ['--addr', `127.0.0.1:${port}`, '--people', '2000'], { stdio: ['ignore', log, log], env: childEnv });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (gw.exitCode !== null) throw new Error(`the gateway exited with ${gw.exitCode}:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
    try {
      if ((await fetch(base + '/readyz')).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error('the gateway was not ready within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  const stop = async () => {
    if (gw.exitCode === null) {
      const exited = new Promise((r) => gw.once('exit', r));
      gw.kill('SIGTERM');
      await exited;
    }
    if (process.exitCode) console.error(`gateway log: ${logFile}`);
  };
  return { base, logFile, stop };
}

// launchBrowser starts headless Chromium with no background networking:
// this machine's network is closed, and a page must not need it anyway.
export function launchBrowser() {
  return chromium.launch({
    executablePath: browserPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// token is a demo persona's credential.
export async function token(base, persona) {
  const r = await fetch(`${base}/demo/token?persona=${persona}`);
  assert.equal(r.status, 200, `demo token for ${persona}`);
  return (await r.json()).token;
}

// graphql sends query as persona and returns the parsed answer.
export async function graphql(base, persona, query) {
  const r = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${await token(base, persona)}` },
    body: JSON.stringify({ query }),
  });
  assert.equal(r.status, 200);
  return r.json();
}

// eventually retries fn until it stops throwing or ms have passed.
export async function eventually(fn, what, ms = 5000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: ${last?.message}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
