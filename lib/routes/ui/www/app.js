// soulgw console (SPEC-console): plain JavaScript over the gateway's JSON APIs.
//
// Rules this file keeps: the credential lives in sessionStorage only and goes out as a bearer
// header; every string from the server reaches the page through textContent, never as markup;
// no inline script or style (the CSP forbids them); a call the credential's scopes cannot make
// is not made (the page says what is missing instead).
'use strict';

const TOKEN_KEY = 'soulgw.console.token';
const REFRESH_MS = 5000;
const VIEWS = ['overview', 'routes', 'tools', 'usage', 'errors'];

const $ = (id) => document.getElementById(id);
const state = { overview: null, routes: [], tenant: null, timer: null, charts: {}, busy: false };

// ----------------------------------------------------------------------------------------------
// Small helpers

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function fmtNum(n, digits = 0) {
  if (n == null || Number.isNaN(n)) return '–';
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function fmtPct(r) { return r == null ? '–' : `${(r * 100).toFixed(r > 0 && r < 0.01 ? 2 : 1)} %`; }

function fmtUptime(s) {
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

function utcTime(ms, seconds = true) {
  const iso = new Date(ms).toISOString();
  return iso.slice(11, seconds ? 19 : 16);
}

function utcDay(d) { return d.toISOString().slice(0, 10); }

// Names each cell after its column, so a narrow screen can show a row as a stack of fields.
function labelCells(table) {
  const names = [...table.tHead.rows[0].cells].map((th) => th.textContent);
  for (const tr of table.tBodies[0].rows)
    if (tr.cells.length === names.length) [...tr.cells].forEach((td, i) => td.setAttribute('data-label', names[i]));
}

function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

let toastTimer = null;
function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), 2500);
}

function can(what) { return !!(state.overview && state.overview.principal && state.overview.principal.can[what]); }

function hasScope(scope) {
  const p = state.overview && state.overview.principal;
  return !!p && (p.scopes.includes(scope) || (p.scopes.includes('*') && scope !== 'tenant:*'));
}

// ----------------------------------------------------------------------------------------------
// Calls

class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.message || (body.error && body.error.message))) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, { method = 'GET', body, tenant } = {}) {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ''}` };
  if (tenant) headers['x-soul-tenant'] = tenant;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
  });
  let json = null;
  try { json = await r.json(); } catch { json = null; }
  if (!r.ok) throw new ApiError(r.status, json);
  return json;
}

// ----------------------------------------------------------------------------------------------
// Sign-in

function showLogin(message) {
  stopRefresh();
  for (const v of VIEWS) $(`view-${v}`).hidden = true;
  $('nav').hidden = true;
  $('forget').hidden = true;
  $('status-badge').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('token').focus();
}

async function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    await loadOverview();
    const routes = await api('/routes');
    state.routes = Array.isArray(routes) ? routes : [];
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    const why = e.status === 401 ? 'This token is not valid here.'
      : e.status === 403 ? `This token may not read the console: ${e.message}`
        : `The gateway did not answer: ${e.message}`;
    showLogin(why);
    return;
  }
  fillRouteSelects();
  fillTenantSelects();
  $('login').hidden = true;
  $('nav').hidden = false;
  $('forget').hidden = false;
  show(location.hash.slice(1));
}

// ----------------------------------------------------------------------------------------------
// Views

function show(view) {
  if (!VIEWS.includes(view)) view = 'overview';
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  state.view = view;
  refresh();
  stopRefresh();
  if (view === 'overview' || view === 'routes' || view === 'errors')
    state.timer = setInterval(refresh, REFRESH_MS);
}

function stopRefresh() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

// One refresh at a time; one asked for meanwhile (a view or filter changed) runs after it.
async function refresh() {
  if (state.busy) {
    state.again = true;
    return;
  }
  state.busy = true;
  try {
    do {
      state.again = false;
      if (state.view === 'overview') await renderOverview();
      else if (state.view === 'routes') await renderRoutes();
      else if (state.view === 'tools') await renderTools();
      else if (state.view === 'usage') await renderUsage();
      else if (state.view === 'errors') await renderErrors();
    } while (state.again && state.overview);
  } catch (e) {
    if (e.status === 401) showLogin('The gateway no longer accepts this token.');
    else toast(`Could not refresh: ${e.message}`);
  } finally {
    state.busy = false;
  }
}

function fillRouteSelects() {
  for (const id of ['series-route', 'errors-route']) {
    const sel = $(id);
    const keep = sel.value;
    sel.replaceChildren(el('option', { value: '', text: 'All routes' }));
    const names = [...new Set(state.routes.map((r) => r.name))].sort();
    for (const n of names) sel.append(el('option', { value: n, text: n }));
    sel.value = names.includes(keep) ? keep : '';
  }
}

function fillTenantSelects() {
  const o = state.overview;
  const own = o.principal ? o.principal.tenant : null;
  if (!state.tenant) state.tenant = own;
  const any = can('any_tenant');
  const tenants = [...new Set([own, ...(o.tenants || [])].filter(Boolean))].sort();
  for (const bar of document.querySelectorAll('.tenant-bar')) bar.hidden = !any;
  for (const sel of document.querySelectorAll('.tenant-select')) {
    sel.replaceChildren(...tenants.map((t) => el('option', { value: t, text: t })));
    sel.value = state.tenant;
  }
}

// ---- overview

async function loadOverview() {
  const o = await api('/api/admin/overview');
  state.overview = o;
  const badge = $('status-badge');
  const comps = o.components && o.components.length ? ` (${o.components.join(', ')})` : '';
  badge.textContent = o.status + comps;
  badge.className = `badge ${o.status}`;
  badge.hidden = false;
  return o;
}

// A point is drawn only when no line reaches it (a lone step with traffic between gaps).
function isolatedPoint(ctx) {
  const d = ctx.dataset.data, i = ctx.dataIndex;
  if (d[i] == null) return 0;
  return d[i - 1] == null && d[i + 1] == null ? 3 : 0;
}

function lineChart(id, label, colorVar, yFormat) {
  if (state.charts[id]) return state.charts[id];
  const color = cssVar(colorVar);
  const grid = cssVar('--line');
  const text = cssVar('--muted');
  const chart = new Chart($(id), {
    type: 'line',
    data: { labels: [], datasets: [{ label, data: [], borderColor: color, backgroundColor: color,
      borderWidth: 2, pointRadius: isolatedPoint, pointHoverRadius: 4, tension: 0.2, spanGaps: false,
      fill: false }] },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      plugins: { legend: { display: false } },
      scales: {
        x: { ticks: { color: text, maxTicksLimit: 5, maxRotation: 0, autoSkipPadding: 12,
          callback(v) { return String(this.getLabelForValue(v)).slice(0, 5); } }, grid: { color: grid } },
        y: { beginAtZero: true, ticks: { color: text, callback: yFormat }, grid: { color: grid } },
      },
    },
  });
  state.charts[id] = chart;
  return chart;
}

function setSeries(chart, labels, values) {
  chart.data.labels = labels;
  chart.data.datasets[0].data = values;
  chart.update();
}

async function renderOverview() {
  const route = $('series-route').value;
  const q = `/api/admin/series?window=900&step=10${route ? `&route=${encodeURIComponent(route)}` : ''}`;
  const [o, s, e] = await Promise.all([loadOverview(), api(q), api('/api/admin/errors?limit=5')]);
  $('f-status').textContent = o.status + (o.components.length ? ` — failing: ${o.components.join(', ')}` : '');
  $('f-status').className = `st-${o.status}`;
  $('f-version').textContent = o.version;
  $('f-commit').textContent = (o.commit || '').slice(0, 12);
  $('f-commit').title = o.commit || '';
  $('f-uptime').textContent = fmtUptime(o.uptime_s);
  $('f-instance').textContent = o.instance || '–';
  $('f-requests').textContent = `${fmtNum(o.window.requests)} (${fmtNum(o.window.errors)} errors)`;
  const labels = s.points.map((p) => utcTime(p.t * 1000));
  setSeries(lineChart('chart-rps', 'requests/s', '--accent', (v) => fmtNum(v, 1)), labels,
    s.points.map((p) => p.rps));
  setSeries(lineChart('chart-errors', 'error ratio', '--bad', (v) => `${Math.round(v * 100)} %`), labels,
    s.points.map((p) => (p.requests ? p.error_ratio : null)));
  setSeries(lineChart('chart-p99', 'p99 ms', '--warn', (v) => fmtNum(v, 1)), labels,
    s.points.map((p) => p.p99_ms));
  $('series-note').textContent = `${route ? `route ${route}` : 'all routes'} · last 15 minutes, 10 s steps (UTC), refreshed every 5 s`;
  renderTops(s.routes, e.errors);
}

// The five busiest routes of the window (a name selects it in the charts) and the last errors.
function renderTops(routes, errors) {
  const pick = (name) => () => {
    $('series-route').value = name;
    refresh();
  };
  const top = routes.slice().sort((a, b) => b.requests - a.requests).slice(0, 5).map((r) => el('tr', {},
    el('td', {}, el('button', { type: 'button', class: 'link', text: r.route,
      'aria-label': `Show route ${r.route} in the charts`, onclick: pick(r.route) })),
    el('td', { class: 'num', text: fmtNum(r.requests) }),
    el('td', { class: 'num', text: fmtPct(r.error_ratio) }),
    el('td', { class: 'num', text: r.p99_ms == null ? '–' : fmtNum(r.p99_ms, 1) })));
  if (!top.length) top.push(el('tr', { class: 'empty' }, el('td', { colspan: '4', text: 'No request in the window.' })));
  $('top-routes').tBodies[0].replaceChildren(...top);
  const last = errors.map((x) => el('tr', {},
    el('td', { class: 'mono when', text: x.time.slice(11, 19) }),
    el('td', { text: x.route }),
    el('td', { class: 'num', text: String(x.status) }),
    el('td', { class: 'msg', text: x.message || x.code || '–', title: x.message || '' })));
  if (!last.length) last.push(el('tr', { class: 'empty' }, el('td', { colspan: '4', text: 'No error answer kept.' })));
  $('top-errors').tBodies[0].replaceChildren(...last);
}

// ---- routes

async function renderRoutes() {
  const [routes, s] = await Promise.all([api('/routes'), api('/api/admin/series?window=900&step=900')]);
  state.routes = routes;
  const stats = new Map(s.routes.map((r) => [r.route, r]));
  const rows = routes.map((r) => {
    const st = stats.get(r.name);
    return el('tr', {},
      el('td', { text: r.name }),
      el('td', { class: 'mono', text: r.route }),
      el('td', { text: r.methods.join(', ') }),
      el('td', { text: r.kind }),
      el('td', { text: r.allow_anonymous ? 'anonymous' : r.scopes.join(', ') || '–' }),
      el('td', { class: 'num', text: fmtNum(st ? st.requests : 0) }),
      el('td', { class: 'num', text: st ? fmtPct(st.error_ratio) : '–' }),
      el('td', { class: 'num', text: st && st.p99_ms != null ? fmtNum(st.p99_ms, 1) : '–' }));
  });
  $('routes-table').tBodies[0].replaceChildren(...rows);
  labelCells($('routes-table'));
}

// ---- tools

function toolItem(t) {
  const li = el('li', {}, el('code', { text: `${t.id || t.tool_id}@${t.version}` }));
  const name = t.display_name ? ` ${t.display_name}` : '';
  li.append(document.createTextNode(`${name}${t.description ? ` — ${t.description}` : ''}`));
  return li;
}

function versionCard(v, activeName, tenant) {
  const active = v.active || v.version === activeName;
  const when = v.created_at_ms ? `published ${new Date(v.created_at_ms).toISOString().replace('T', ' ').slice(0, 19)} UTC` : '';
  const head = el('header', {},
    el('h2', { text: v.version }),
    active ? el('span', { class: 'tag-active', text: '● active' }) : null,
    el('span', { class: 'muted', text: when }),
    el('span', { class: 'spacer' }));
  if (!active && v.created_at_ms !== undefined) {
    head.append(el('button', {
      type: 'button', class: 'activate', 'data-version': v.version, text: 'Activate',
      'aria-label': `Activate version ${v.version}`,
      onclick: () => confirmActivate(v.version, tenant),
    }));
  }
  const tools = (v.manifests || v.tools || []);
  const card = el('article', { class: `version${active ? ' active' : ''}`, 'data-version': v.version },
    head,
    el('ul', {}, ...tools.map(toolItem)));
  if (!tools.length) card.append(el('p', { class: 'muted', text: 'No tools.' }));
  return card;
}

async function renderTools() {
  const tenant = state.tenant;
  const box = $('versions');
  const note = $('tools-note');
  const off = $('tools-activate-off');
  note.hidden = true;
  off.hidden = true;
  $('tools-status').textContent = `Tenant ${tenant}.`;
  if (can('config_manage')) {
    const r = await api('/api/config/tools', { tenant });
    const versions = (r.versions || []).slice().reverse(); // newest first
    const active = versions.find((v) => v.active);
    $('tools-status').textContent = `Tenant ${tenant}: ${versions.length} registry version${versions.length === 1 ? '' : 's'}, active ${active ? active.version : 'none'}.`;
    box.replaceChildren(...versions.map((v) => versionCard(v, null, tenant)));
    return;
  }
  off.hidden = false;
  const who = state.overview.principal ? state.overview.principal.id : 'this credential';
  $('activate-reason').textContent = `Listing and activating registry versions needs scope config:manage, which ${who} does not hold.`;
  if (!hasScope('tools:execute')) {
    note.hidden = false;
    note.textContent = 'This credential holds neither config:manage nor tools:execute: no tool can be shown.';
    box.replaceChildren();
    return;
  }
  const r = await api('/api/tools/list', { tenant });
  $('tools-status').textContent = `Tenant ${tenant}: the active registry version only.`;
  box.replaceChildren(versionCard({ version: r.registry_version || '(none)', active: true,
    tools: r.tools || [] }, null, tenant));
}

function confirmActivate(version, tenant) {
  const dlg = $('confirm');
  $('confirm-text').textContent = `Make registry version “${version}” the active tools of tenant ${tenant}? Requests to /api/tools/execute run its tools from the moment it is active.`;
  $('confirm-ok').textContent = `Activate ${version}`;
  dlg.returnValue = '';
  dlg.onclose = async () => {
    if (dlg.returnValue !== 'ok') return;
    try {
      await api('/api/config/tools/activate', { method: 'POST', body: { version }, tenant });
      toast(`Version ${version} is active.`);
    } catch (e) {
      toast(`Not activated: ${e.message}`);
    }
    refresh();
  };
  dlg.showModal();
  $('confirm-cancel').focus();
}

// ---- usage

function meter(label, used, cap) {
  const over = cap != null && used >= cap;
  const text = cap == null ? `${fmtNum(used)} (no cap)` : `${fmtNum(used)} of ${fmtNum(cap)}`;
  const id = `m-${label.replace(/\W+/g, '-')}`;
  // without a cap there is nothing to fill: the count alone
  const bar = cap == null ? null
    : el('progress', { id, max: String(Math.max(cap, 1)), value: String(Math.min(used || 0, cap)) });
  return el('div', { class: `meter${over ? ' over' : ''}` },
    el('label', cap == null ? {} : { for: id }, el('span', { text: label }), el('span', { class: 'muted', text })), bar);
}

async function renderUsage() {
  const status = $('usage-status');
  const body = $('usage-body');
  const tenant = state.tenant;
  if (!can('usage_read')) {
    body.hidden = true;
    status.className = 'note';
    status.textContent = 'The usage ledger needs scope usage:read, which this credential does not hold.';
    return;
  }
  const to = new Date();
  const from = new Date(to.getTime() - 29 * 86400000);
  let u;
  try {
    u = await api(`/api/usage?from=${utcDay(from)}&to=${utcDay(to)}`, { tenant });
  } catch (e) {
    body.hidden = true;
    status.className = 'note';
    status.textContent = e.status === 404 ? 'The usage ledger is not available on this gateway.'
      : `The usage ledger did not answer: ${e.message}`;
    return;
  }
  status.className = 'muted';
  status.textContent = `Tenant ${u.tenant}, ${u.from} to ${u.to} (UTC days).`;
  body.hidden = false;
  const days = [];
  for (let t = from.getTime(); utcDay(new Date(t)) <= utcDay(to); t += 86400000) days.push(utcDay(new Date(t)));
  const tokens = new Map(days.map((d) => [d, 0]));
  const calls = new Map(days.map((d) => [d, 0]));
  const llmReq = new Map(days.map((d) => [d, 0]));
  for (const r of u.rows || []) {
    if (!tokens.has(r.day)) continue;
    if (r.kind === 'tool') calls.set(r.day, calls.get(r.day) + (r.requests || 0));
    else {
      tokens.set(r.day, tokens.get(r.day) + (r.input_tokens || 0) + (r.output_tokens || 0));
      llmReq.set(r.day, llmReq.get(r.day) + (r.requests || 0));
    }
  }
  const today = utcDay(to);
  const b = u.budget || {};
  const used = b.used_today || {};
  $('usage-today').replaceChildren(
    meter('Model tokens', used.llm_tokens ?? tokens.get(today), b.llm_tokens_per_day ?? null),
    meter('Model requests', used.llm_requests ?? llmReq.get(today), b.llm_requests_per_day ?? null),
    meter('Tool calls', used.tool_calls ?? calls.get(today), b.tool_calls_per_day ?? null));
  const labels = days.map((d) => d.slice(5));
  let chart = state.charts.usage;
  if (!chart) {
    const grid = cssVar('--line'), text = cssVar('--muted');
    chart = state.charts.usage = new Chart($('chart-usage'), {
      type: 'bar',
      data: { labels, datasets: [
        { label: 'model tokens', data: [], backgroundColor: cssVar('--accent'), yAxisID: 'y' },
        { label: 'tool calls', data: [], backgroundColor: cssVar('--ok'), yAxisID: 'y1' }] },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { legend: { labels: { color: text } } },
        scales: {
          x: { ticks: { color: text, maxRotation: 0, autoSkip: true }, grid: { color: grid } },
          y: { beginAtZero: true, position: 'left', ticks: { color: text }, grid: { color: grid },
            title: { display: true, text: 'tokens', color: text } },
          y1: { beginAtZero: true, position: 'right', ticks: { color: text, precision: 0 },
            grid: { drawOnChartArea: false }, title: { display: true, text: 'tool calls', color: text } },
        },
      },
    });
  }
  chart.data.labels = labels;
  chart.data.datasets[0].data = days.map((d) => tokens.get(d));
  chart.data.datasets[1].data = days.map((d) => calls.get(d));
  chart.update();
}

// ---- errors

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(`Copied ${text}`);
  } catch {
    const sel = window.getSelection();
    const span = document.querySelector(`[data-rid="${CSS.escape(text)}"]`);
    if (span && sel) {
      const range = document.createRange();
      range.selectNodeContents(span);
      sel.removeAllRanges();
      sel.addRange(range);
      toast('Selected: press Ctrl+C to copy');
    }
  }
}

async function renderErrors() {
  const route = $('errors-route').value;
  const status = $('errors-status').value;
  let q = '/api/admin/errors?limit=200';
  if (route) q += `&route=${encodeURIComponent(route)}`;
  if (status) q += `&status=${encodeURIComponent(status)}`;
  const r = await api(q);
  const rows = r.errors.map((e) => el('tr', { 'data-request-id': e.request_id },
    el('td', { class: 'mono when', text: e.time.replace('T', ' ').slice(0, 23) }),
    el('td', { text: e.route }),
    el('td', { class: 'num', text: String(e.status) }),
    el('td', { class: 'mono', text: e.code || '–' }),
    el('td', { class: 'msg', text: e.message || '–' }),
    el('td', { class: 'rid-cell' },
      el('span', { class: 'rid', 'data-rid': e.request_id, text: e.request_id }),
      el('button', { type: 'button', class: 'small quiet copy', text: 'Copy',
        'aria-label': `Copy request id ${e.request_id}`, onclick: () => copyText(e.request_id) })),
    el('td', { text: e.principal || '–' })));
  if (!rows.length)
    rows.push(el('tr', { class: 'empty' }, el('td', { colspan: '7', text: 'No error answers kept for this filter.' })));
  $('errors-table').tBodies[0].replaceChildren(...rows);
  labelCells($('errors-table'));
  $('errors-count').textContent = `${r.errors.length} shown (the gateway keeps the last ${r.capacity}); newest first`;
}

// ----------------------------------------------------------------------------------------------
// Wiring

function onTenantChange(e) {
  state.tenant = e.target.value;
  for (const sel of document.querySelectorAll('.tenant-select')) sel.value = state.tenant;
  refresh();
}

function start() {
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = $('token').value.trim();
    $('token').value = '';
    if (t) signIn(t);
  });
  $('forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.overview = null;
    state.tenant = null;
    showLogin('');
  });
  window.addEventListener('hashchange', () => { if (state.overview) show(location.hash.slice(1)); });
  $('series-route').addEventListener('change', refresh);
  $('errors-route').addEventListener('change', refresh);
  $('errors-status').addEventListener('change', refresh);
  for (const sel of document.querySelectorAll('.tenant-select')) sel.addEventListener('change', onTenantChange);
  if (typeof Chart !== 'undefined') {
    Chart.defaults.font.family = cssVar('--font');
    Chart.defaults.color = cssVar('--muted');
  }
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
  else showLogin('');
}

start();
