import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGateway, uniq, expectStripeError, E } from './harness.js';

const gw = useGateway();
const N = 125;

test(`auto-pagination with for await over ${N} customers`, async () => {
  const tag = uniq('page');
  const created = [];
  // create in small parallel batches to keep the runtime down
  for (let i = 0; i < N; i += 10) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 10); j++) {
      batch.push(gw.stripe.customers.create({ email: `${tag}@example.com`, metadata: { n: String(j) } }));
    }
    created.push(...(await Promise.all(batch)));
  }
  assert.equal(new Set(created.map((c) => c.id)).size, N);

  const paths = [];
  const onRequest = (e) => {
    if (e.method === 'GET' && e.path.startsWith('/v1/customers')) paths.push(e.path);
  };
  gw.stripe.on('request', onRequest);
  const seen = [];
  try {
    for await (const c of gw.stripe.customers.list({ email: `${tag}@example.com`, limit: 50 })) {
      assert.equal(c.object, 'customer');
      seen.push(c);
    }
  } finally {
    gw.stripe.off('request', onRequest);
  }
  assert.equal(seen.length, N);
  const ids = seen.map((c) => c.id);
  assert.equal(new Set(ids).size, N, 'no duplicates across pages');
  assert.deepEqual([...ids].sort(), created.map((c) => c.id).sort());
  for (let i = 1; i < seen.length; i++) {
    assert.ok(seen[i - 1].created >= seen[i].created, 'newest first across pages');
  }
  // 125 items at 50 per page: 3 requests, pages 2 and 3 resend starting_after=<last id>
  assert.equal(paths.length, 3, paths.join('\n'));
  assert.ok(!/starting_after/.test(paths[0]));
  const sa1 = new URLSearchParams(paths[1].split('?')[1]).get('starting_after');
  const sa2 = new URLSearchParams(paths[2].split('?')[1]).get('starting_after');
  assert.equal(sa1, ids[49]);
  assert.equal(sa2, ids[99]);

  // without a filter, default page size (10): everything in this fresh gateway
  const all = [];
  for await (const c of gw.stripe.customers.list()) all.push(c.id);
  assert.equal(all.length, N);
  assert.equal(new Set(all).size, N);

  // autoPagingToArray stops at its limit
  const first30 = await gw.stripe.customers.list({ limit: 7 }).autoPagingToArray({ limit: 30 });
  assert.equal(first30.length, 30);
  assert.deepEqual(first30.map((c) => c.id), all.slice(0, 30));

  // autoPagingEach can stop early
  let count = 0;
  await gw.stripe.customers.list({ limit: 20 }).autoPagingEach((c) => {
    count += 1;
    if (count === 45) return false;
    return undefined;
  });
  assert.equal(count, 45);

  // ending_before walks backwards
  const page = await gw.stripe.customers.list({ limit: 5, starting_after: all[50] });
  assert.deepEqual(page.data.map((c) => c.id), all.slice(51, 56));
  assert.equal(page.has_more, true);
  const back = await gw.stripe.customers.list({ limit: 5, ending_before: all[50] });
  assert.deepEqual(back.data.map((c) => c.id), all.slice(45, 50));
  assert.equal(back.has_more, true);

  const last = await gw.stripe.customers.list({ limit: 100, starting_after: all[100] });
  assert.equal(last.data.length, N - 101);
  assert.equal(last.has_more, false);

  await expectStripeError(
    gw.stripe.customers.list({ limit: 5, starting_after: all[1], ending_before: all[3] }),
    E.StripeInvalidRequestError,
    400,
  );
  await expectStripeError(gw.stripe.customers.list({ limit: 0 }), E.StripeInvalidRequestError, 400);
});
