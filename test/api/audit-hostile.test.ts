import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** The audit log's query string is outside input: every odd value is a 4xx or an empty page, never a 500. */
let s: TestServer;
before(async () => {
  s = await startTestServer();
  await s.api('POST', '/zones', { name: 'hostile-audit.test', account: { id: s.accountId } });
});
after(() => s?.close());

test('hostile audit log queries: out-of-range ids and times, huge pages, long or repeated filters', async () => {
  const base = `/accounts/${s.accountId}/audit_logs`;
  const cases: Array<[string, number[]]> = [
    ['?id=ffffffffffffffffffffffffffffffff', [200]],
    ['?id=00000000000000000000000000000001', [200]],
    ['?id=-1', [200]],
    ['?id=1e400', [200]],
    ['?since=0000-00-00', [400]],
    ['?since=9999-12-31T23:59:59Z', [200]],
    ['?before=2026-02-30', [200, 400]],
    ['?since=2026-01-01T25:99:99Z', [400]],
    ['?per_page=100000000', [200]],
    ['?page=99999999', [200, 400]],
    [`?actor.email=${'a'.repeat(5000)}`, [400]],
    ['?action.type=add&action.type=delete', [200, 400]],
    ['?direction=sideways', [400]],
    ['?zone.name=%00%ff', [200, 400]],
  ];
  for (const [q, ok] of cases) {
    const r = await s.api('GET', base + q);
    assert.ok(ok.includes(r.status), `${q.slice(0, 60)}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    assert.equal(r.body.success, r.status === 200, q.slice(0, 60));
  }
  const big = await s.api('GET', `${base}?id=ffffffffffffffffffffffffffffffff`);
  assert.deepEqual(big.body.result, []);
});
