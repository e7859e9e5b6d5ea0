// Shared harness for the Tessera Node SDK conformance suite.
//
// Starts one `tessera serve` per test file (see tests/HARNESS.md), in a fresh
// temporary data dir, and hands out official `stripe` SDK clients pointed at it.
//
//   import { useGateway } from './harness.js';
//   const gw = useGateway();              // registers before/after hooks
//   test('x', async () => { await gw.stripe.customers.create(); });

import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';

export { Stripe };

const here = path.dirname(fileURLToPath(import.meta.url));
// tests/sdk-node/test -> repo root
export const REPO_ROOT = path.resolve(here, '..', '..', '..');
export // The suite drives one key from one address far faster than a merchant would: raise
// the rate limits, which tests/transport checks at their real values.
const SUITE_LIMITS = {
  ...Object.fromEntries(
    ['KEY', 'IP', 'PUBLISHABLE'].flatMap((who) => [
      [`TESSERA_RATE_LIMIT_${who}_PER_SECOND`, '100000'],
      [`TESSERA_RATE_LIMIT_${who}_BURST`, '100000'],
    ]),
  ),
  // Every decline card in a row from one address is what the card-testing defence stops.
  TESSERA_CARD_TESTING_IP_DECLINES: '100000',
  TESSERA_CARD_TESTING_ACCOUNT_DECLINES: '100000',
};

const TESSERA_BIN =
  process.env.TESSERA_BIN || path.join(REPO_ROOT, 'target', 'debug', 'tessera');

const READY_TIMEOUT_MS = 30_000;

/** Build an official SDK client pointed at a running gateway. */
export function makeClient(key, port, extra = {}) {
  return new Stripe(key, {
    host: '127.0.0.1',
    port,
    protocol: 'http',
    maxNetworkRetries: 0,
    telemetry: false,
    ...extra,
  });
}

function parseAccountBlock(text) {
  const account = /Tessera created test-mode account (acct_[A-Za-z0-9]+)/.exec(text);
  const sk = /secret key:\s+(sk_test_[A-Za-z0-9]+)/.exec(text);
  const pk = /publishable key:\s+(pk_test_[A-Za-z0-9]+)/.exec(text);
  if (!account || !sk || !pk) return null;
  return { accountId: account[1], secretKey: sk[1], publishableKey: pk[1] };
}

function readReadyFile(file) {
  if (!existsSync(file)) return null;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8'));
    if (parsed && typeof parsed.api === 'string') return parsed;
  } catch {
    // partially written; try again
  }
  return null;
}

/**
 * Start a gateway in a fresh data dir. Resolves with
 * { api, port, dataDir, accountId, secretKey, publishableKey, stripe, client(key), stop() }.
 */
export async function startGateway() {
  if (!existsSync(TESSERA_BIN)) {
    throw new Error(
      `tessera binary not found at ${TESSERA_BIN} (build it, or set TESSERA_BIN)`,
    );
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-sdk-node-'));
  const readyFile = path.join(dataDir, 'ready.json');
  const child = spawn(
    TESSERA_BIN,
    ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--ready-file', readyFile],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...SUITE_LIMITS } },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 64 * 1024) stderr = stderr.slice(-64 * 1024);
  });
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });

  const cleanup = () => {
    if (!process.env.TESSERA_KEEP_DATA) rmSync(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  let ready = null;
  let keys = null;
  while (Date.now() < deadline) {
    if (exited) break;
    ready = ready || readReadyFile(readyFile);
    keys = keys || parseAccountBlock(stdout);
    if (ready && keys) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  if (!ready || !keys) {
    if (!exited) child.kill('SIGKILL');
    cleanup();
    throw new Error(
      (exited
        ? `tessera exited before becoming ready `
        : `tessera did not become ready within ${READY_TIMEOUT_MS / 1000}s `) +
        `(ready.json: ${ready ? 'yes' : 'no'}, keys on stdout: ${keys ? 'yes' : 'no'}, ` +
        `exited: ${exited ? JSON.stringify(exited) : 'no'})\n--- stdout ---\n${stdout}\n--- stderr (tail) ---\n${stderr.slice(-4000)}`,
    );
  }
  assert.ok(!/sk_test_/.test(JSON.stringify(ready)), 'ready.json must not contain secrets');
  const url = new URL(ready.api);
  const port = Number(url.port);

  const gw = {
    api: ready.api.replace(/\/$/, ''),
    vault: ready.vault.replace(/\/$/, ''),
    port,
    pid: ready.pid,
    dataDir,
    ...keys,
    stripe: makeClient(keys.secretKey, port),
    client: (key, extra) => makeClient(key, port, extra),
    stderr: () => stderr,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          if (!exited) child.kill('SIGKILL');
        }, 10_000);
        await exitPromise;
        clearTimeout(timer);
      }
      cleanup();
      return exited;
    },
  };
  return gw;
}

/**
 * Register before/after hooks that start one gateway for the calling test
 * file. Returns an object that is filled in once the `before` hook ran.
 */
export function useGateway() {
  const ctx = {};
  let gw = null;
  before(async () => {
    gw = await startGateway();
    Object.assign(ctx, gw);
  });
  after(async () => {
    if (gw) {
      const res = await gw.stop();
      // SIGTERM must stop it cleanly.
      assert.ok(
        res && (res.code === 0 || res.signal === 'SIGTERM'),
        `tessera did not stop cleanly on SIGTERM: ${JSON.stringify(res)}`,
      );
    }
  });
  return ctx;
}

/** Run the tessera CLI (e.g. `accounts create`, `keys create`) and return stdout. */
export function runCli(args) {
  return new Promise((resolve, reject) => {
    execFile(TESSERA_BIN, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tessera ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Create another test-mode account on a running gateway; returns its keys. */
export async function createAccount(gw) {
  const out = await runCli(['accounts', 'create', '--data-dir', gw.dataDir]);
  const keys = parseAccountBlock(out);
  assert.ok(keys, `could not parse keys from: ${out}`);
  return keys;
}

// ---------------------------------------------------------------- helpers

export const EXP_YEAR = new Date().getUTCFullYear() + 3;

/** Raw card params for paymentMethods.create. */
export function card(number, extra = {}) {
  return {
    type: 'card',
    card: {
      number,
      exp_month: 12,
      exp_year: EXP_YEAR,
      cvc: number.startsWith('34') || number.startsWith('37') ? '1234' : '123',
    },
    ...extra,
  };
}

/** Create a PaymentMethod from a raw card number with the given client. */
export function createCardPM(stripe, number, extra = {}) {
  return stripe.paymentMethods.create(card(number, extra));
}

/** A unique string for emails, metadata values, etc. */
export function uniq(prefix = 'x') {
  return `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

/** Object ids: prefix + at least 24 base62 characters. */
export function assertId(id, prefix) {
  assert.equal(typeof id, 'string', `expected an id string with prefix ${prefix}, got ${id}`);
  assert.match(id, new RegExp(`^${prefix}[A-Za-z0-9]{24,}$`), `bad ${prefix} id: ${id}`);
}

/**
 * Await a promise expected to reject with a Stripe error of class `Cls`.
 * Returns the error for further assertions.
 */
export async function expectStripeError(promise, Cls, statusCode) {
  let err;
  try {
    const res = await promise;
    assert.fail(
      `expected ${Cls.name} (HTTP ${statusCode}), got success: ${JSON.stringify(res).slice(0, 500)}`,
    );
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.ok(
    err instanceof Cls,
    `expected ${Cls.name}, got ${err && err.constructor && err.constructor.name}: ` +
      `${err && err.statusCode} ${err && err.message} ${JSON.stringify(err && err.raw)}`,
  );
  if (Cls !== Stripe.errors.StripeError) assert.equal(err.type, Cls.name);
  if (statusCode !== undefined) assert.equal(err.statusCode, statusCode);
  assert.equal(typeof err.message, 'string');
  assert.ok(err.message.length > 0, 'error message must not be empty');
  return err;
}

/** Poll `fn` until it returns a truthy value (events may be written asynchronously). */
export async function eventually(fn, { timeoutMs = 5000, intervalMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const E = Stripe.errors;

// `node --test test/` also runs this file on its own (everything under test/
// is a test file to node's runner). Make that run a real check of the
// harness contract instead of an empty pass.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { test } = await import('node:test');
  test('harness: gateway starts in a fresh data dir, prints keys, stops on SIGTERM', async () => {
    const gw = await startGateway();
    let stopped = false;
    try {
      assert.match(gw.api, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(gw.port > 0);
      assertId(gw.accountId, 'acct_');
      assert.match(gw.secretKey, /^sk_test_[A-Za-z0-9]+$/);
      assert.match(gw.publishableKey, /^pk_test_[A-Za-z0-9]+$/);
      const res = await fetch(`${gw.api}/v1/customers`, {
        headers: { Authorization: `Bearer ${gw.secretKey}` },
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('request-id') || '', /^req_/);
      const res401 = await fetch(`${gw.api}/v1/customers`);
      assert.equal(res401.status, 401);
      const exit = await gw.stop();
      stopped = true;
      assert.ok(exit.code === 0 || exit.signal === 'SIGTERM', JSON.stringify(exit));
    } finally {
      if (!stopped) await gw.stop();
    }
  });
}
