import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestServer, removeDir, type TestServer } from '../helpers/server.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

/**
 * The dashboard in a real browser (Debian's Chromium, driven by playwright-core): sign in, find a
 * hostname, read its certificates, replace the ECDSA one, be refused deleting the last one, set
 * an mTLS association, and see no write action with a read-only token. Screenshots of the main
 * pages go to docs/ with UPDATE_SCREENSHOTS=1.
 */
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const skip = (!CHROMIUM && 'Chromium is not installed (.ci/run installs it)') || (process.env.EDGECERT_TEST_DIALECT === 'postgres' && 'SQLite pass only');
let s: TestServer;
let pki: TestPki;
let browser: Browser;
let zoneId: string;
let shop: any;
let single: any;
let caId: string;
const shots = process.env.UPDATE_SCREENSHOTS === '1' ? path.resolve('docs') : mkdtempSync(path.join(tmpdir(), 'edgecert-shots-'));

async function pack(hostname: string, types: Array<'rsa' | 'ecdsa'>, days = 365) {
  const leaves = await Promise.all(types.map((keyType) => pki.leaf({ hosts: [hostname], keyType, notAfter: new Date(Date.now() + days * 86_400_000) })));
  const r = await s.api('POST', `/zones/${zoneId}/custom_hostnames`, { hostname, custom_origin_server: 'origin.shop.test', ssl: { custom_cert_bundle: leaves.map((l) => ({ custom_certificate: l.chainPem, custom_key: l.keyPem })) } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.result;
}

async function signIn(page: Page, token: string) {
  await page.goto(`${s.url}/dashboard`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Zones' }).waitFor();
}

before(async () => {
  if (skip) return;
  pki = await makeTestPki();
  s = await startTestServer({ trustPem: pki.trustPem });
  zoneId = (await s.api('POST', '/zones', { name: 'shop-platform.test', account: { id: s.accountId } })).body.result.id;
  shop = await pack('app.shop.test', ['rsa', 'ecdsa']);
  single = await pack('legacy.shop.test', ['rsa'], 5);
  for (let i = 0; i < 6; i++) await pack(`tenant${i}.shop.test`, ['ecdsa'], 20 + i * 15);
  const caLeaf = await pki.leaf({ hosts: ['devices.shop.test'], keyType: 'ecdsa', ca: true });
  caId = (await s.api('POST', `/accounts/${s.accountId}/mtls_certificates`, { name: 'devices', ca: true, certificates: caLeaf.certPem })).body.result.id;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // playwright-core gives the browser a fresh profile of its own; the rest keeps Chromium off the (closed) network.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  mkdirSync(shots, { recursive: true });
});
after(async () => {
  await browser?.close();
  await s?.close();
});

test('sign in, find a hostname, read its pack, replace the ECDSA certificate, be refused the last delete, set an association', { skip }, async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('response', (r) => r.status() >= 400 && problems.push(`${r.request().method()} ${r.url().replace(s.url, '')} ${r.status()}`));
  await signIn(page, s.token);
  // The token is in no URL.
  assert.ok(!page.url().includes(s.token));
  await page.screenshot({ path: path.join(shots, 'dashboard-zones.png') });

  await page.getByRole('link', { name: 'shop-platform.test' }).click();
  await page.getByLabel('Hostname contains').fill('app.');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByRole('link', { name: 'app.shop.test' }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'tenant0.shop.test' }).count(), 0, 'the search filters');
  await page.getByLabel('Hostname contains').fill('');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByRole('link', { name: 'tenant0.shop.test' }).waitFor();
  await page.screenshot({ path: path.join(shots, 'dashboard-hostnames.png') });
  await page.getByLabel('Hostname contains').fill('app.');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByRole('link', { name: 'app.shop.test' }).click();

  // Its pack: both certificates with their facts.
  const ecdsa = shop.ssl.certificates.find((c: any) => c.key_type === 'ecdsa');
  await page.getByRole('heading', { name: 'ECDSA certificate' }).waitFor();
  const body = await page.locator('main').innerText();
  assert.doesNotMatch(body, /\b(null|undefined)\b/, 'no absent value printed');
  for (const fact of [ecdsa.fingerprint_sha256, ecdsa.serial_number, 'edgecert Test CA', 'app.shop.test']) assert.ok(body.includes(fact), fact);

  // Replace the ECDSA certificate by pasting a new chain and key.
  const next = await pki.leaf({ hosts: ['app.shop.test'], keyType: 'ecdsa' });
  await page.getByText('Replace this ECDSA certificate').click();
  await page.getByLabel('Certificate chain (PEM)').first().waitFor();
  const ecdsaCard = page.getByRole('region', { name: 'ECDSA certificate' });
  await ecdsaCard.getByLabel('Certificate chain (PEM)').fill(next.chainPem);
  await ecdsaCard.getByLabel('Private key (PEM)').fill(next.keyPem);
  // First an RSA key for the ECDSA slot: the API's refusal appears next to the form, nothing changes.
  const rsaLeaf = await pki.leaf({ hosts: ['app.shop.test'], keyType: 'rsa' });
  await ecdsaCard.getByLabel('Certificate chain (PEM)').fill(rsaLeaf.chainPem);
  await ecdsaCard.getByLabel('Private key (PEM)').fill(rsaLeaf.keyPem);
  await ecdsaCard.getByRole('button', { name: 'Replace ECDSA certificate' }).click();
  await ecdsaCard.getByRole('alert').waitFor();
  assert.match(await ecdsaCard.getByRole('alert').innerText(), /RSA|ECDSA/);
  assert.equal((await s.api('GET', `/zones/${zoneId}/custom_hostnames/${shop.id}`)).body.result.ssl.certificates.find((c: any) => c.key_type === 'ecdsa').fingerprint_sha256, ecdsa.fingerprint_sha256);
  await ecdsaCard.getByLabel('Certificate chain (PEM)').fill(next.chainPem);
  await ecdsaCard.getByLabel('Private key (PEM)').fill(next.keyPem);
  await ecdsaCard.getByRole('button', { name: 'Replace ECDSA certificate' }).click();
  await page.locator('main .notice').getByText('The ECDSA certificate was replaced.').waitFor();
  const after = (await s.api('GET', `/zones/${zoneId}/custom_hostnames/${shop.id}`)).body.result.ssl.certificates.find((c: any) => c.key_type === 'ecdsa');
  assert.notEqual(after.fingerprint_sha256, ecdsa.fingerprint_sha256);
  assert.equal(after.id, ecdsa.id, 'the certificate keeps its id');
  assert.ok((await page.locator('main').innerText()).includes(after.fingerprint_sha256), 'the new certificate is shown');
  assert.ok(!(await page.content()).includes('PRIVATE KEY'), 'no private key is rendered back');

  // mTLS: require the devices CA's client certificates.
  await page.getByLabel('devices').check();
  await page.getByRole('button', { name: 'Save client certificate requirements' }).click();
  await page.locator('main .notice').getByText('The client certificate requirements were saved.').waitFor();
  const assoc = await s.api('GET', `/zones/${zoneId}/certificate_authorities/hostname_associations?mtls_certificate_id=${caId}`);
  assert.deepEqual(assoc.body.result.hostnames, ['app.shop.test']);
  await page.screenshot({ path: path.join(shots, 'dashboard-hostname.png'), fullPage: true });

  // The last certificate of a pack: the button says why, and the API's refusal shows.
  await page.goto(`${s.url}/dashboard#/zones/${zoneId}/hostnames/${single.id}`);
  await page.getByRole('heading', { name: 'legacy.shop.test' }).waitFor();
  assert.match(await page.locator('main').innerText(), /last certificate of the pack/);
  await page.getByRole('button', { name: 'Delete RSA certificate' }).click();
  await page.getByRole('alert').waitFor();
  assert.match(await page.getByRole('alert').innerText(), /\(1814\)|last/i);
  assert.equal((await s.api('GET', `/zones/${zoneId}/custom_hostnames/${single.id}`)).body.result.ssl.certificates.length, 1);

  // Expiry and mTLS pages.
  await page.getByRole('link', { name: 'Expiry' }).click();
  await page.getByRole('heading', { name: /expiring in the next 90 days/ }).waitFor();
  const timeline = await page.locator('main').innerText();
  assert.match(timeline, /legacy\.shop\.test \(RSA\)/);
  assert.match(timeline, /within 7 days/);
  assert.equal(await page.locator('.timeline .bar.soon').count(), 1, 'the certificate expiring in 5 days stands out');
  await page.screenshot({ path: path.join(shots, 'dashboard-expiry.png'), fullPage: true });
  await page.getByRole('link', { name: 'mTLS CAs' }).click();
  await page.getByRole('heading', { name: 'mTLS certificate authorities' }).waitFor();
  assert.match(await page.locator('main').innerText(), /app\.shop\.test \(shop-platform\.test\)/);
  // The only refused requests were the two made on purpose.
  assert.deepEqual(problems.map((p) => p.replace(/\/[0-9a-f-]{32,36}/g, '/…')), ['PUT /client/v4/zones/…/custom_hostnames/…/certificate_pack/…/certificates/… 400', 'DELETE /client/v4/zones/…/custom_hostnames/…/certificate_pack/…/certificates/… 400']);
  await page.close();
});

test('a read-only token sees the pages and no write action; on a phone, by keyboard; a bad token is refused', { skip }, async () => {
  const { TokensService } = await import('../../src/resources/tokens/service.js');
  const tokens = new TokensService(s.running.ctx);
  const reader = await tokens.create({ name: 'reader', permissions: ['zone:read', 'ssl:read', 'account:read'], accountId: s.accountId });
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } }); // a phone
  await signIn(page, reader.value);
  await page.goto(`${s.url}/dashboard#/zones/${zoneId}/hostnames/${shop.id}`);
  await page.getByRole('heading', { name: 'ECDSA certificate' }).waitFor();
  assert.equal(await page.getByText(/Replace this/).count(), 0);
  assert.equal(await page.getByRole('button', { name: /Delete/ }).count(), 0);
  assert.equal(await page.getByRole('button', { name: /Save client certificate/ }).count(), 0);
  assert.ok(await page.getByLabel('devices').isDisabled());
  // Keyboard: the skip link is the first thing to focus and leads to the content; links work with Enter.
  assert.equal(await page.evaluate(() => document.querySelector('a[href], button, input, select, textarea')?.textContent), 'Skip to content');
  await page.focus('a.skip');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
  await page.getByRole('link', { name: 'Zones' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Zones' }).waitFor();
  await page.goto(`${s.url}/dashboard#/zones/${zoneId}/hostnames/${shop.id}`);
  await page.getByRole('heading', { name: 'ECDSA certificate' }).waitFor();
  await page.screenshot({ path: path.join(shots, 'dashboard-phone.png') });
  // A bad token: refused with the API's message, kept nowhere.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API token').fill('x'.repeat(43));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('edgecert.token')), null);
  await page.close();
});

test('the dashboard is served by edgecert itself, with a strict content security policy', { skip }, async () => {
  for (const file of ['/dashboard', '/dashboard/app.js', '/dashboard/style.css']) {
    const res = await fetch(`${s.url}${file}`);
    assert.equal(res.status, 200, file);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  }
  const html = await (await fetch(`${s.url}/dashboard`)).text();
  assert.doesNotMatch(html, /https?:\/\/(?!127)/, 'no outside resources (no CDN)');
  const anonymous = await fetch(`${s.url}/dashboard/session`);
  assert.ok([400, 401].includes(anonymous.status));
  assert.equal(((await anonymous.json()) as any).success, false);
});
