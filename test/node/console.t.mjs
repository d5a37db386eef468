#!/usr/bin/env node
// console.t.mjs -- the console (SPEC-console) as a person sees it: Debian's chromium, headless,
// driven by puppeteer-core against the real gateway.  It sends traffic, provokes an error,
// opens /ui/, pastes a token and checks each view: charts drawn from that traffic, the error
// listed with its request id, a registry version activated from the page (and what
// /api/tools/execute then runs), the activate button disabled for a credential without
// config:manage, a hostile tool description shown as text, no console error and no CSP
// violation.  Screenshots of every view (wide and narrow, light and dark) go to build/ui-shots/.
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, ok, is, like, diag, done } from './lib/tap.mjs';
import { startGateway, request, BASE_TOML, TOKEN } from './lib/gateway.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = resolve('build/ui-shots');
const VIEWER = 'node-test-viewer';
const XSS = '<img src=x onerror="window.__xss=1">';

function loadPuppeteer() {
  const root = resolve(process.env.SOULGW_NPM || 'build/npm');
  try {
    return createRequire(`${root}/node_modules/`)('puppeteer-core');
  } catch {
    return null;
  }
}

const TOML = BASE_TOML.replace('"config:manage"]',
  '"config:manage", "admin:read", "tenant:*", "usage:read"]') + `
[auth.tokens.viewer]
tenant = "tenant-demo"
token_env = "GATEWAY_TOKEN_VIEWER"
scopes = ["admin:read", "tools:execute"]

[tenants.tenant-demo]
tool_calls_per_day = 1000
`;

function manifest(version, description) {
  return {
    tenant: 'tenant-demo', id: 'demo.t', version, display_name: `Demo ${version}`, description,
    tags: [], input_schema: { type: 'object' }, output_schema: {}, scopes: [],
    side_effect: 'None', safety_class: 'Low',
    limits: { timeout_ms: 1000, max_bytes_in: 65536, max_bytes_out: 65536, max_concurrency: 0 },
    idempotency: 'None', handler: 'builtin:echo',
  };
}

// Waits until fn (evaluated in the page) returns something truthy; returns it, or null.
async function until(page, fn, arg, ms = 15000) {
  for (let t = 0; t < ms; t += 200) {
    const v = await page.evaluate(fn, arg).catch(() => null);
    if (v) return v;
    await sleep(200);
  }
  return null;
}

// The number of pixels of a canvas that are not fully transparent.
function inked(id) {
  const c = document.getElementById(id);
  if (!c || !c.width || !c.height) return 0;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
  return n;
}

function chartData(id) {
  const c = window.Chart && window.Chart.getChart(id);
  return c ? c.data.datasets[0].data : null;
}

async function signIn(page, url, token) {
  await page.goto(`${url}/ui/`, { waitUntil: 'load' });
  await page.waitForSelector('#token', { visible: true });
  await page.type('#token', token);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#nav:not([hidden])', { timeout: 15000 });
}

async function openView(page, view) {
  await page.evaluate((v) => { location.hash = v; }, view);
  await page.waitForSelector(`#view-${view}:not([hidden])`);
}

// Page-side watchers: console errors, uncaught exceptions, CSP violations.
function watch(page, problems) {
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const where = (m.location() && m.location().url) || '';
    problems.push(`console error: ${m.text()} (${where})`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return page.evaluateOnNewDocument(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation',
      (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
}

test('console_browser', async () => {
  if (!existsSync(CHROMIUM)) {
    ok(true, `# SKIP no chromium at ${CHROMIUM} (make deps installs Debian's chromium)`);
    return;
  }
  const puppeteer = loadPuppeteer();
  if (!ok(puppeteer, 'puppeteer-core loads from build/npm (make node-deps)')) return;
  const gw = await startGateway(TOML, { env: { GATEWAY_TOKEN_VIEWER: VIEWER } });
  let browser;
  try {
    // two registry versions of one tool, each with a description that is HTML
    for (const [v, tv] of [['r1', '1.0.0'], ['r2', '2.0.0']]) {
      const r = await request(gw, 'POST', '/api/config/tools',
        { body: { version: v, manifests: [manifest(tv, `${XSS} version ${tv}`)] } });
      is(r.status, 200, `registry version ${v} published`);
    }
    // traffic: 30 answers on tools_list, one provoked error on tools_execute
    for (let i = 0; i < 30; i++) await request(gw, 'POST', '/api/tools/list', { body: {} });
    const bad = await request(gw, 'POST', '/api/tools/execute',
      { body: { tool_id: 'no.such.tool', input: {} } });
    ok(bad.status >= 400, `the provoked error is an error answer (${bad.status})`);
    const badId = bad.headers.get('x-request-id');
    ok(badId, 'with a request id');

    browser = await puppeteer.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    });
    const problems = [];
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    await watch(page, problems);

    // ---- sign-in and overview
    await signIn(page, gw.url, TOKEN);
    is(await page.evaluate(() => document.cookie), '', 'no cookie is set');
    is(await page.evaluate(() => sessionStorage.getItem('soulgw.console.token')), TOKEN,
      'the token is in sessionStorage');
    is(await page.evaluate(() => localStorage.length), 0, 'and nothing in localStorage');
    const version = await until(page, () => document.getElementById('f-version').textContent !== '–'
      && document.getElementById('f-version').textContent);
    ok(version, `the overview shows the version (${version})`);
    is(await page.$eval('#f-status', (e) => e.textContent), 'ok', 'and the status ok');
    const reqs = await page.$eval('#f-requests', (e) => e.textContent);
    ok(parseInt(reqs.replace(/,/g, ''), 10) >= 31, `and the requests of the window (${reqs})`);
    for (const id of ['chart-rps', 'chart-errors', 'chart-p99']) {
      const n = await until(page, inked, id);
      ok(n > 200, `canvas ${id} is drawn (${n} pixels)`);
    }
    const rps = await until(page, chartData, 'chart-rps');
    ok(rps && rps.some((v) => v > 0), 'the requests/s chart shows the traffic sent');
    const errs = await page.evaluate(chartData, 'chart-errors');
    ok(errs && errs.some((v) => v > 0), 'the error ratio chart shows the error provoked');
    // per route: the route that had the traffic, then one that had none
    await page.select('#series-route', 'tools_list');
    const perRoute = await until(page, () => document.getElementById('series-note').textContent
      .includes('tools_list') && Chart.getChart('chart-rps').data.datasets[0].data);
    ok(perRoute && perRoute.some((v) => v > 0), 'route tools_list selected: its traffic');
    await page.select('#series-route', 'collab_resolve');
    const quiet = await until(page, () => document.getElementById('series-note').textContent
      .includes('collab_resolve') && Chart.getChart('chart-rps').data.datasets[0].data);
    ok(quiet && quiet.every((v) => v === 0), 'route collab_resolve selected: no traffic');
    await page.select('#series-route', '');

    // keyboard: Tab from the page's top reaches the views' links
    await page.click('.brand');
    let reached = false;
    for (let i = 0; i < 8 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement.matches('nav a'));
    }
    ok(reached, 'Tab reaches the navigation');

    // ---- routes
    await openView(page, 'routes');
    const row = await until(page, () => [...document.querySelectorAll('#routes-table tbody tr')]
      .map((tr) => [...tr.cells].map((c) => c.textContent))
      .find((c) => c[0] === 'tools_list'));
    ok(row, 'the route table lists tools_list');
    ok(row && parseInt(row[5], 10) >= 30, `with its requests (${row && row[5]})`);

    // ---- recent errors
    await openView(page, 'errors');
    const erow = await until(page, (id) => {
      const tr = document.querySelector(`#errors-table tr[data-request-id="${id}"]`);
      return tr && [...tr.cells].map((c) => c.textContent);
    }, badId);
    ok(erow, `the provoked error is listed with its request id ${badId}`);
    is(erow && erow[1], 'tools_execute', 'on its route');
    is(erow && erow[2], String(bad.status), 'with its status');
    ok(erow && erow[5].includes(badId), 'the request id is shown');
    ok(await page.$(`#errors-table tr[data-request-id="${badId}"] button.copy`),
      'with a button to copy it');
    await page.select('#errors-status', '5xx');
    const none = await until(page, () => document.querySelector('#errors-table tr.empty'));
    ok(none, 'filtered to 5xx, the 4xx error is gone');
    await page.select('#errors-status', '');

    // ---- tools: versions, hostile description, activate r1
    await openView(page, 'tools');
    await page.waitForSelector('article.version[data-version="r1"] button.activate');
    is(await page.$eval('article.version.active', (e) => e.dataset.version), 'r2',
      'r2 (the last published) is marked active');
    const desc = await page.$eval('article.version[data-version="r1"] li', (e) => e.textContent);
    ok(desc.includes(XSS), 'the tool description is shown as text');
    is(await page.$$eval('#versions img', (l) => l.length), 0, 'and makes no element');
    is(await page.evaluate(() => window.__xss), undefined, 'and runs nothing');
    await page.click('article.version[data-version="r1"] button.activate');
    await page.waitForSelector('#confirm[open]');
    like(await page.$eval('#confirm-text', (e) => e.textContent), /“r1”/,
      'the confirmation names the version');
    await page.click('#confirm-ok');
    const activated = await until(page,
      () => document.querySelector('article.version.active')?.dataset.version === 'r1');
    ok(activated, 'after confirming, the page marks r1 active');
    const run = await request(gw, 'POST', '/api/tools/execute',
      { body: { tool_id: 'demo.t', input: { n: 1 } } });
    is(run.json && run.json.tool_version, '1.0.0', '/api/tools/execute now runs r1\'s tool');

    // ---- usage
    await openView(page, 'usage');
    const usage = await request(gw, 'GET', '/api/usage');
    const ustate = await until(page, () => {
      const s = document.getElementById('usage-status').textContent;
      return s && { status: s, bars: document.querySelectorAll('#usage-today .meter').length };
    });
    is(usage.status, 200, 'usage: /api/usage answers');
    is(ustate && ustate.bars, 3, 'usage: tokens, model requests and tool calls against their caps');
    const calls = usage.json && usage.json.budget && usage.json.budget.used_today.tool_calls;
    ok(calls > 0, `usage: the ledger counted the test's tool runs (${calls})`);
    const meterText = await page.evaluate(() => document.querySelectorAll('#usage-today .meter')[2]?.textContent);
    like(meterText, new RegExp(`Tool calls${calls}\\s*of 1,?000`), 'usage: the tool calls meter shows them against the cap');
    ok(await until(page, inked, 'chart-usage') > 200, 'usage: the 30-day bars are drawn');

    // ---- screenshots: each view, wide and narrow, light and dark
    mkdirSync(SHOTS, { recursive: true });
    let shots = 0;
    for (const scheme of ['light', 'dark']) {
      await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: scheme }]);
      for (const [size, vp] of [['wide', { width: 1280, height: 800 }],
        ['narrow', { width: 390, height: 844, isMobile: true, deviceScaleFactor: 2 }]]) {
        await page.setViewport(vp);
        await page.goto(`${gw.url}/ui/#overview`, { waitUntil: 'load' }); // charts in the scheme's colours
        await page.waitForSelector('#nav:not([hidden])');
        for (const view of ['overview', 'routes', 'tools', 'usage', 'errors']) {
          await openView(page, view);
          if (view === 'overview') await until(page, inked, 'chart-p99');
          if (view === 'usage') await until(page, inked, 'chart-usage');
          await sleep(300);
          await page.screenshot({ path: `${SHOTS}/${view}-${size}-${scheme}.png`, fullPage: true });
          shots++;
        }
      }
    }
    is(shots, 20, `20 screenshots in ${SHOTS}`);

    // ---- a credential without config:manage
    const ctx = await browser.createBrowserContext();
    const vpage = await ctx.newPage();
    await vpage.setViewport({ width: 1280, height: 800 });
    await watch(vpage, problems);
    await signIn(vpage, gw.url, VIEWER);
    await openView(vpage, 'tools');
    await vpage.waitForSelector('#tools-activate-off:not([hidden])');
    ok(await vpage.$eval('#activate-disabled', (b) => b.disabled), 'without config:manage the activate button is disabled');
    like(await vpage.$eval('#activate-reason', (e) => e.textContent), /config:manage/,
      'with the reason next to it');
    is(await vpage.$$eval('button.activate', (l) => l.length), 0, 'and no version can be activated');
    await vpage.screenshot({ path: `${SHOTS}/tools-viewer-wide-light.png` });

    const csp = [...await page.evaluate(() => window.__csp), ...await vpage.evaluate(() => window.__csp)];
    is(csp, [], 'no Content-Security-Policy violation');
    is(problems, [], 'no console error and no uncaught exception');
  } finally {
    if (browser) await browser.close();
    await gw.stop();
  }
});

await done();
