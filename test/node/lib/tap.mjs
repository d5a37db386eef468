// tap.mjs -- a tiny TAP producer for the node tests, the twin of test/helpers/tap.h.
//
// A test file registers named cases with test(name, async fn) and ends with `await done()`,
// which runs them one after another and prints the plan.  SOULGW_TEST_FILTER (make check T=...)
// keeps only the cases whose name contains it.  A case that throws is one failure naming the
// case and the error; it never stops the cases after it.
//
//   import { test, ok, is, done } from './lib/tap.mjs';
//   test('openai_models_list', async () => { is(1 + 1, 2, 'two'); });
//   await done();

import { inspect } from 'node:util';

const cases = [];
let count = 0;
let failed = 0;

export function test(name, fn) {
  cases.push({ name, fn });
}

export function diag(text) {
  for (const line of String(text).split('\n')) console.log(`# ${line}`);
}

export function ok(cond, msg) {
  count++;
  if (cond) {
    console.log(`ok ${count} - ${msg}`);
  } else {
    failed++;
    console.log(`not ok ${count} - ${msg}`);
    const where = new Error().stack.split('\n').slice(2, 4).map((l) => l.trim()).join(' < ');
    diag(`  at ${where}`);
  }
  return !!cond;
}

function show(v) {
  return typeof v === 'string' ? JSON.stringify(v) : inspect(v, { depth: 4, breakLength: 120 });
}

// got === want (strings, numbers, booleans, null), or deep equality for objects and arrays.
export function is(got, want, msg) {
  const same = typeof want === 'object' && want !== null
    ? JSON.stringify(got) === JSON.stringify(want)
    : got === want;
  if (!ok(same, msg)) diag(`  got ${show(got)}, want ${show(want)}`);
  return same;
}

export function like(got, re, msg) {
  const m = typeof got === 'string' && re.test(got);
  if (!ok(m, msg)) diag(`  got ${show(got)}, want it to match ${re}`);
  return m;
}

// Awaits p, which must reject; returns the error (or undefined when it resolved).
export async function rejects(p, msg) {
  try {
    const v = await p;
    ok(false, msg);
    diag(`  resolved with ${show(v)}`);
    return undefined;
  } catch (e) {
    ok(true, msg);
    return e;
  }
}

export async function done() {
  const filter = process.env.SOULGW_TEST_FILTER || '';
  for (const c of cases) {
    if (filter && !c.name.includes(filter)) continue;
    diag(c.name);
    try {
      await c.fn();
    } catch (e) {
      ok(false, `${c.name} threw`);
      diag(e && e.stack ? e.stack : String(e));
    }
  }
  if (count === 0) console.log('1..0 # SKIP no case matched the filter');
  else console.log(`1..${count}`);
  process.exit(failed ? 1 : 0);
}
