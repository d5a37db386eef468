// gateway.mjs -- starts the real soulgw binary for a node test, the twin of gw_start() and
// gw_stop() in test/helpers/harness.c.
//
//   const gw = await startGateway(toml, { env: { GATEWAY_TOKEN_LOCAL: 'tok' } });
//   ... fetch(gw.url + '/health') ...
//   await gw.stop();   // SIGTERM, waits, and fails the test on a sanitizer report
//
// The binary is $SOULGW_BIN, else $B/soulgw (B=build/asan under make check).  The gateway runs
// in a fresh temporary directory with its configuration, its database and its stderr.

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ok, diag } from './tap.mjs';

export const TOKEN = 'node-test-token';

// The configuration most tests start from: one bearer token for tenant-demo with every scope a
// surface needs.  Tests append their own sections.
export const BASE_TOML = `[server]
address = "127.0.0.1"
port = 0
drain_timeout_s = 5

[storage]
synchronous = "normal"

[auth.tokens.local]
tenant = "tenant-demo"
token_env = "GATEWAY_TOKEN_LOCAL"
scopes = ["tools:execute", "collab:execute", "llm:invoke", "repo:write", "repo:read",
          "graph:read", "observe:emit", "observe:read", "config:manage"]
`;

export function soulgwBin() {
  if (process.env.SOULGW_BIN) return resolve(process.env.SOULGW_BIN);
  return resolve(process.env.B || 'build/asan', 'soulgw');
}

function sanitizerReport(log) {
  return /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer/
    .test(log);
}

// bin: another program taking the same arguments (the test host, build/.../testhost).
export async function startGateway(toml = BASE_TOML, { env = {}, args = [], bin } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'soulgw-node-'));
  const config = join(dir, 'gateway.toml');
  const portFile = join(dir, 'port');
  const errlog = join(dir, 'stderr.log');
  writeFileSync(config, toml);
  const err = openSync(errlog, 'a');
  const child = spawn(bin || soulgwBin(), ['--config', config, '--port-file', portFile,
                                    '--db', join(dir, 'test.db'), ...args], {
    env: { ...process.env, GATEWAY_TOKEN_LOCAL: TOKEN, ...env },
    stdio: ['ignore', 'ignore', err],
  });
  let exited = null;
  const exit = new Promise((res) => child.on('exit', (code, sig) => {
    exited = { code, sig };
    res(exited);
  }));
  let port = 0;
  for (let i = 0; i < 400 && !port && !exited; i++) { // 20 s under sanitizers
    if (existsSync(portFile)) port = parseInt(readFileSync(portFile, 'utf8'), 10) || 0;
    if (!port) await sleep(50);
  }
  const log = () => (existsSync(errlog) ? readFileSync(errlog, 'utf8') : '');
  if (!port) {
    child.kill('SIGKILL');
    throw new Error(`the gateway did not start: ${log().slice(0, 2000)}`);
  }
  const url = `http://127.0.0.1:${port}`;
  return {
    dir, port, url, log, child,
    // SIGTERM, wait up to 20 s, one assertion that stderr holds no sanitizer report.
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const t = await Promise.race([exit, sleep(20000).then(() => null)]);
        if (!t) {
          child.kill('SIGKILL');
          diag('the gateway did not stop within 20 s');
        }
      }
      const text = log();
      if (!ok(!sanitizerReport(text), "no sanitizer report in the gateway's stderr"))
        diag(text.slice(0, 4000));
      rmSync(dir, { recursive: true, force: true });
    },
    // Waits up to ms for text to appear in the gateway's stderr.
    async waitLog(text, ms = 10000) {
      for (let t = 0; t < ms; t += 50) {
        if (log().includes(text)) return true;
        await sleep(50);
      }
      return false;
    },
  };
}

// A raw request: { status, headers (a Headers), text, json (parsed or undefined) }.
export async function request(gw, method, path, { headers = {}, body, token = TOKEN } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined && typeof body !== 'string') {
    body = JSON.stringify(body);
    h['content-type'] = h['content-type'] || 'application/json';
  } else if (body !== undefined) {
    h['content-type'] = h['content-type'] || 'application/json';
  }
  const r = await fetch(gw.url + path, { method, headers: h, body });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, headers: r.headers, text, json };
}
