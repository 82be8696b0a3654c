// edgecert dashboard: plain JavaScript, no build step. Every read and write is a call to the same
// /client/v4 API the SDK uses, with the token the user signs in with, so the dashboard shows and
// does exactly what that token may. The token lives in sessionStorage only (never in a URL);
// private keys are sent, never shown back; every text from the API is put in the page as text.

const TOKEN_KEY = 'edgecert.token';
const DAY = 86_400_000;
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const status = document.getElementById('status');
let session = null;

// ---------- small helpers ----------

/** An element: h('a', { href: '#/' }, 'text', child…). Strings become text nodes, never HTML. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

class ApiFailure extends Error {
  constructor(errors, httpStatus) {
    super(errors.map((e) => `${e.message} (${e.code})`).join('; '));
    this.errors = errors;
    this.httpStatus = httpStatus;
  }
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

async function api(method, path, body) {
  const res = await fetch(`/client/v4${path}`, {
    method,
    headers: { authorization: `Bearer ${token()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    cache: 'no-store',
  });
  const json = await res.json().catch(() => ({ success: false, errors: [{ code: res.status, message: res.statusText || 'no answer' }] }));
  if (!json.success) {
    if (res.status === 401) signOut();
    throw new ApiFailure(json.errors ?? [], res.status);
  }
  return json;
}

const can = (permission) => session?.permissions.includes(permission);
const qs = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== '')).toString();
const daysLeft = (iso) => Math.floor((Date.parse(iso) - Date.now()) / DAY);
const date = (iso) => (iso ? iso.slice(0, 10) : '—');

/** "in 12 days" / "expired 3 days ago", marked when expired or within 7 days. */
function expiry(iso) {
  if (!iso) return h('span', {}, '—');
  const d = daysLeft(iso);
  const cls = d < 0 ? 'pill expired' : d <= 7 ? 'pill soon' : 'pill';
  return h('span', { class: cls }, d < 0 ? `expired ${-d} day${d === -1 ? '' : 's'} ago` : `${d} day${d === 1 ? '' : 's'} left`);
}

function say(text) {
  status.textContent = text;
}

function errorBox(err) {
  return h('p', { class: 'error', role: 'alert' }, err instanceof Error ? err.message : String(err));
}

function page(title, ...content) {
  // replaceChildren would print a null as the text "null": absent parts are dropped.
  main.replaceChildren(h('h1', { tabindex: '-1' }, title), ...content.flat().filter((c) => c !== null && c !== undefined && c !== false));
  document.title = `${title} · edgecert`;
  main.querySelector('h1').focus();
  say(title);
}

function renderNav() {
  const here = location.hash || '#/';
  const link = (href, text) => h('li', {}, h('a', { href, 'aria-current': here === href || (href !== '#/' && here.startsWith(href)) ? 'page' : undefined }, text));
  nav.replaceChildren(
    session
      ? h('ul', {}, link('#/', 'Zones'), link('#/expiry', 'Expiry'), link('#/mtls', 'mTLS CAs'), h('li', {}, h('button', { class: 'secondary', type: 'button', onclick: signOut }, 'Sign out')))
      : h('ul'),
  );
}

// ---------- sign-in ----------

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  session = null;
  location.hash = '#/';
  route();
}

function signInPage(problem) {
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const form = h(
    'form',
    {
      class: 'inline',
      method: 'post',
      onsubmit: async (e) => {
        e.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        input.value = '';
        await route();
      },
    },
    h('div', {}, h('label', { for: 'token' }, 'API token'), input),
    h('button', { type: 'submit' }, 'Sign in'),
  );
  page(
    'Sign in',
    h('p', {}, 'Sign in with an edgecert API token. It stays in this browser tab only; the dashboard can do exactly what the token can do through the API.'),
    problem ? errorBox(problem) : null,
    form,
  );
}

async function loadSession() {
  const res = await fetch('/dashboard/session', { headers: { authorization: `Bearer ${token()}` }, cache: 'no-store' });
  const json = await res.json().catch(() => ({ success: false, errors: [{ code: res.status, message: 'no answer' }] }));
  if (!json.success) throw new ApiFailure(json.errors ?? [], res.status);
  return json.result;
}

// ---------- zones ----------

async function zonesPage() {
  const zones = await api('GET', '/zones?per_page=50');
  page(
    'Zones',
    zones.result.length === 0
      ? h('p', {}, 'No zones yet. Create one through the API (POST /client/v4/zones).')
      : h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            {},
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Zone'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Id'))),
            h('tbody', {}, zones.result.map((z) => h('tr', {}, h('td', {}, h('a', { href: `#/zones/${z.id}` }, z.name)), h('td', {}, z.status), h('td', { class: 'mono' }, z.id)))),
          ),
        ),
  );
}

// ---------- a zone's custom hostnames ----------

const SSL_STATUSES = ['active', 'pending_validation', 'pending_issuance', 'pending_deployment', 'validation_timed_out', 'issuance_timed_out'];

async function hostnamesPage(zoneId, query) {
  const search = query.get('search') ?? '';
  const sslStatus = query.get('status') ?? '';
  const within = query.get('days') ?? '';
  const pageNo = Math.max(1, Number(query.get('page') ?? 1) || 1);
  const [zone, list] = await Promise.all([
    api('GET', `/zones/${zoneId}`),
    api('GET', `/zones/${zoneId}/custom_hostnames?${qs({ per_page: 50, page: pageNo, 'hostname.contain': search, ssl_status: sslStatus })}`),
  ]);
  const soonest = (h0) => h0.ssl.certificates.map((c) => c.expires_on).sort()[0];
  const rows = list.result.filter((x) => {
    if (within === '') return true;
    const e = soonest(x);
    return e !== undefined && daysLeft(e) <= Number(within);
  });
  const go = (changes) => {
    const next = new URLSearchParams({ search, status: sslStatus, days: within, page: String(pageNo), ...changes });
    for (const [k, v] of [...next]) if (v === '' || (k === 'page' && v === '1')) next.delete(k);
    location.hash = `#/zones/${zoneId}${next.toString() ? `?${next}` : ''}`;
  };
  const searchInput = h('input', { id: 'search', type: 'search', value: search, placeholder: 'app.customer.com' });
  const statusSelect = h('select', { id: 'ssl-status' }, h('option', { value: '' }, 'any'), SSL_STATUSES.map((s) => h('option', { value: s, selected: s === sslStatus }, s)));
  const daysSelect = h(
    'select',
    { id: 'days' },
    [['', 'any'], ['-1', 'expired'], ['7', '7 days or less'], ['30', '30 days or less'], ['90', '90 days or less']].map(([v, t]) => h('option', { value: v, selected: v === within }, t)),
  );
  const info = list.result_info;
  page(
    `Custom hostnames of ${zone.result.name}`,
    h(
      'form',
      {
        class: 'filters',
        role: 'search',
        onsubmit: (e) => {
          e.preventDefault();
          go({ search: searchInput.value.trim(), status: statusSelect.value, days: daysSelect.value, page: '1' });
        },
      },
      h('div', {}, h('label', { for: 'search' }, 'Hostname contains'), searchInput),
      h('div', {}, h('label', { for: 'ssl-status' }, 'SSL status'), statusSelect),
      h('div', {}, h('label', { for: 'days' }, 'Expires within (this page)'), daysSelect),
      h('button', { type: 'submit' }, 'Filter'),
    ),
    rows.length === 0
      ? h('p', {}, 'No custom hostname matches.')
      : h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            {},
            h('thead', {}, h('tr', {}, ['Hostname', 'Status', 'SSL', 'Certificates', 'Expires'].map((t) => h('th', { scope: 'col' }, t)))),
            h(
              'tbody',
              {},
              rows.map((x) =>
                h(
                  'tr',
                  {},
                  h('td', {}, h('a', { href: `#/zones/${zoneId}/hostnames/${x.id}` }, x.hostname)),
                  h('td', {}, x.status),
                  h('td', {}, x.ssl.status),
                  h('td', {}, x.ssl.certificates.map((c) => c.key_type.toUpperCase()).join(' + ') || '—'),
                  h('td', {}, expiry(soonest(x))),
                ),
              ),
            ),
          ),
        ),
    h(
      'div',
      { class: 'pager' },
      h('button', { type: 'button', class: 'secondary', disabled: pageNo <= 1, onclick: () => go({ page: String(pageNo - 1) }) }, 'Previous page'),
      h('span', {}, `Page ${info.page} of ${Math.max(1, info.total_pages)} (${info.total_count} hostnames)`),
      h('button', { type: 'button', class: 'secondary', disabled: pageNo >= info.total_pages, onclick: () => go({ page: String(pageNo + 1) }) }, 'Next page'),
    ),
  );
}

// ---------- one hostname ----------

async function readFileInto(input, textarea) {
  const file = input.files?.[0];
  if (file) textarea.value = await file.text();
}

function replaceForm(zoneId, host, cert, reload) {
  const id = `replace-${cert.id}`;
  const chain = h('textarea', { id: `${id}-cert`, name: 'custom_certificate', required: true, spellcheck: 'false' });
  const key = h('textarea', { id: `${id}-key`, name: 'custom_key', required: true, spellcheck: 'false', autocomplete: 'off' });
  const chainFile = h('input', { id: `${id}-cert-file`, type: 'file', accept: '.pem,.crt,.cer,text/plain', onchange: () => readFileInto(chainFile, chain) });
  const keyFile = h('input', { id: `${id}-key-file`, type: 'file', accept: '.pem,.key,text/plain', onchange: () => readFileInto(keyFile, key) });
  const result = h('div', { 'aria-live': 'polite' });
  const type = cert.key_type.toUpperCase();
  return h(
    'details',
    {},
    h('summary', {}, `Replace this ${type} certificate`),
    h(
      'form',
      {
        onsubmit: async (e) => {
          e.preventDefault();
          result.replaceChildren();
          try {
            await api('PUT', `/zones/${zoneId}/custom_hostnames/${host.id}/certificate_pack/${host.ssl.id}/certificates/${cert.id}`, {
              custom_certificate: chain.value,
              custom_key: key.value,
            });
            key.value = '';
            await reload(`The ${type} certificate was replaced.`);
          } catch (err) {
            result.replaceChildren(errorBox(err)); // the API's own words; nothing was changed
          }
        },
      },
      h('p', { class: 'note' }, `An ${type} certificate only replaces the ${type} one. Paste the PEM chain (leaf first) and its private key, or choose the files.`),
      h('label', { for: chain.id }, 'Certificate chain (PEM)'),
      chain,
      h('label', { for: chainFile.id }, 'or the chain file'),
      chainFile,
      h('label', { for: key.id }, 'Private key (PEM)'),
      key,
      h('label', { for: keyFile.id }, 'or the key file'),
      keyFile,
      h('p', {}, h('button', { type: 'submit' }, `Replace ${type} certificate`)),
      result,
    ),
  );
}

function deleteButton(zoneId, host, cert, isLast, reload) {
  const result = h('div', { 'aria-live': 'polite' });
  const noteId = `last-${cert.id}`;
  return h(
    'div',
    {},
    h(
      'button',
      {
        type: 'button',
        class: 'danger',
        'aria-describedby': isLast ? noteId : undefined,
        onclick: async () => {
          result.replaceChildren();
          try {
            await api('DELETE', `/zones/${zoneId}/custom_hostnames/${host.id}/certificate_pack/${host.ssl.id}/certificates/${cert.id}`);
            await reload(`The ${cert.key_type.toUpperCase()} certificate was deleted.`);
          } catch (err) {
            result.replaceChildren(errorBox(err));
          }
        },
      },
      `Delete ${cert.key_type.toUpperCase()} certificate`,
    ),
    isLast ? h('p', { id: noteId, class: 'note' }, 'This is the last certificate of the pack: the API refuses to delete it, so the hostname always has one to serve.') : null,
    result,
  );
}

function certificateCard(zoneId, host, cert, editable, reload) {
  return h(
    'section',
    { class: 'card', 'aria-label': `${cert.key_type.toUpperCase()} certificate` },
    h('h3', {}, `${cert.key_type.toUpperCase()} certificate`),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Issuer'),
      h('dd', {}, cert.issuer),
      h('dt', {}, 'Names (SANs)'),
      h('dd', {}, cert.hosts.join(', ')),
      h('dt', {}, 'Serial'),
      h('dd', { class: 'mono' }, cert.serial_number),
      h('dt', {}, 'SHA-256'),
      h('dd', { class: 'mono', 'data-fingerprint': cert.key_type }, cert.fingerprint_sha256),
      h('dt', {}, 'Not before'),
      h('dd', {}, date(cert.issued_on)),
      h('dt', {}, 'Not after'),
      h('dd', {}, date(cert.expires_on), ' ', expiry(cert.expires_on)),
      h('dt', {}, 'Uploaded'),
      h('dd', {}, date(cert.uploaded_on)),
    ),
    editable ? [replaceForm(zoneId, host, cert, reload), deleteButton(zoneId, host, cert, host.ssl.certificates.length === 1, reload)] : null,
  );
}

/** The CAs whose client certificates this hostname requires: the zone's managed CA and the account's uploaded CAs. */
async function associations(zoneId, hostname) {
  const cas = [{ id: null, name: "The zone's managed CA" }];
  try {
    const uploaded = await api('GET', `/accounts/${session.account_id}/mtls_certificates?per_page=50`);
    for (const c of uploaded.result.filter((m) => m.ca)) cas.push({ id: c.id, name: c.name || c.id });
  } catch {
    /* a zone-scoped token does not see the account's CAs */
  }
  return Promise.all(
    cas.map(async (ca) => {
      const list = await api('GET', `/zones/${zoneId}/certificate_authorities/hostname_associations${ca.id ? `?mtls_certificate_id=${ca.id}` : ''}`);
      return { ...ca, hostnames: list.result.hostnames ?? [], applies: (list.result.hostnames ?? []).includes(hostname) };
    }),
  );
}

function associationsSection(zoneId, host, cas, editable, reload) {
  const result = h('div', { 'aria-live': 'polite' });
  const boxes = cas.map((ca, i) => h('input', { type: 'checkbox', id: `ca-${i}`, checked: ca.applies, disabled: !editable }));
  const list = h('ul', { class: 'plain' }, cas.map((ca, i) => h('li', {}, boxes[i], ' ', h('label', { for: `ca-${i}`, style: undefined }, ca.name, ca.applies ? ' (applies)' : ''))));
  const form = h(
    'form',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        result.replaceChildren();
        try {
          for (const [i, ca] of cas.entries()) {
            if (boxes[i].checked === ca.applies) continue;
            const hostnames = boxes[i].checked ? [...ca.hostnames, host.hostname] : ca.hostnames.filter((n) => n !== host.hostname);
            await api('PUT', `/zones/${zoneId}/certificate_authorities/hostname_associations`, { hostnames, ...(ca.id ? { mtls_certificate_id: ca.id } : {}) });
          }
          await reload('The client certificate requirements were saved.');
        } catch (err) {
          result.replaceChildren(errorBox(err));
        }
      },
    },
    h('fieldset', {}, h('legend', {}, 'Require client certificates issued by'), list),
    editable ? h('p', {}, h('button', { type: 'submit' }, 'Save client certificate requirements')) : null,
    result,
  );
  return h('section', { 'aria-labelledby': 'mtls-heading' }, h('h2', { id: 'mtls-heading' }, 'Client certificates (mTLS)'), form);
}

async function hostnamePage(zoneId, id, notice) {
  const host = (await api('GET', `/zones/${zoneId}/custom_hostnames/${id}`)).result;
  const editable = can('ssl:edit');
  const cas = await associations(zoneId, host.hostname).catch(() => []);
  const reload = (message) => hostnamePage(zoneId, id, message);
  page(
    host.hostname,
    notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
    h('p', {}, h('a', { href: `#/zones/${zoneId}` }, '← all hostnames of the zone')),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Status'),
      h('dd', {}, host.status),
      h('dt', {}, 'SSL status'),
      h('dd', {}, host.ssl.status),
      h('dt', {}, 'Validation'),
      h('dd', {}, host.ssl.method ?? '—', host.ssl.validation_errors?.length ? ` — ${host.ssl.validation_errors.map((v) => v.message).join('; ')}` : ''),
      h('dt', {}, 'Origin'),
      h('dd', {}, host.custom_origin_server ?? "the zone's fallback origin"),
      h('dt', {}, 'TLS settings'),
      h('dd', {}, Object.entries(host.ssl.settings ?? {}).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(' ') : v}`).join(', ') || 'defaults'),
      h('dt', {}, 'Created'),
      h('dd', {}, date(host.created_at)),
    ),
    h('h2', {}, 'Certificate pack'),
    host.ssl.certificates.length === 0
      ? h('p', {}, 'No certificate yet: the hostname is not served.')
      : h('div', { class: 'cards' }, host.ssl.certificates.map((c) => certificateCard(zoneId, host, c, editable, reload))),
    associationsSection(zoneId, host, cas, editable, reload),
  );
}

// ---------- expiry across the account ----------

async function everyHostname(zoneId, cap = 2000) {
  const all = [];
  for (let p = 1; all.length < cap; p++) {
    const res = await api('GET', `/zones/${zoneId}/custom_hostnames?per_page=50&page=${p}`);
    all.push(...res.result);
    if (p >= res.result_info.total_pages) break;
  }
  return all;
}

async function expiryPage() {
  const zones = (await api('GET', '/zones?per_page=50')).result;
  const items = [];
  for (const z of zones) {
    for (const host of await everyHostname(z.id)) {
      for (const c of host.ssl.certificates) items.push({ what: `${host.hostname} (${c.key_type.toUpperCase()})`, href: `#/zones/${z.id}/hostnames/${host.id}`, expires: c.expires_on });
    }
  }
  try {
    const cas = await api('GET', `/accounts/${session.account_id}/mtls_certificates?per_page=50`);
    for (const c of cas.result) items.push({ what: `mTLS CA ${c.name || c.id}`, href: '#/mtls', expires: c.expires_on });
  } catch {
    /* not visible to this token */
  }
  const soon = items.filter((i) => daysLeft(i.expires) <= 90).sort((a, b) => a.expires.localeCompare(b.expires));
  const count = (f) => items.filter((i) => f(daysLeft(i.expires))).length;
  page(
    'Certificates expiring in the next 90 days',
    h(
      'p',
      { class: 'summary' },
      h('span', { class: 'pill expired' }, `${count((d) => d < 0)} expired`),
      h('span', { class: 'pill soon' }, `${count((d) => d >= 0 && d <= 7)} within 7 days`),
      h('span', { class: 'pill' }, `${count((d) => d > 7 && d <= 30)} within 30 days`),
      h('span', { class: 'pill' }, `${items.length} certificates in all`),
    ),
    soon.length === 0
      ? h('p', {}, 'Nothing expires in the next 90 days.')
      : h(
          'ol',
          { class: 'timeline', 'aria-label': 'Expiry timeline, soonest first' },
          soon.map((i) => {
            const d = daysLeft(i.expires);
            const cls = d < 0 ? 'expired' : d <= 7 ? 'soon' : '';
            return h(
              'li',
              {},
              h('a', { href: i.href }, i.what),
              h('div', { class: `bar ${cls}`, style: undefined, 'data-days': d, role: 'presentation' }),
              h('span', {}, date(i.expires), ' ', expiry(i.expires)),
            );
          }),
        ),
  );
  // Bar lengths (days left out of 90) are set here: the page's CSP allows no inline styles in markup.
  for (const bar of main.querySelectorAll('.bar')) bar.style.width = `${Math.max(1, Math.min(100, (Math.max(0, Number(bar.dataset.days)) / 90) * 100))}%`;
}

// ---------- mTLS CAs ----------

async function mtlsPage() {
  const zones = (await api('GET', '/zones?per_page=50')).result;
  let cas = [];
  let hidden = null;
  try {
    cas = (await api('GET', `/accounts/${session.account_id}/mtls_certificates?per_page=50`)).result.filter((c) => c.ca);
  } catch (err) {
    hidden = err;
  }
  const rows = [];
  for (const ca of [{ id: null, name: "Each zone's managed CA", issuer: 'edgecert', expires_on: null }, ...cas]) {
    const names = [];
    for (const z of zones) {
      const res = await api('GET', `/zones/${z.id}/certificate_authorities/hostname_associations${ca.id ? `?mtls_certificate_id=${ca.id}` : ''}`).catch(() => null);
      for (const n of res?.result.hostnames ?? []) names.push(`${n} (${z.name})`);
    }
    rows.push(h('tr', {}, h('td', {}, ca.name || ca.id), h('td', {}, ca.issuer ?? ''), h('td', {}, ca.expires_on ? expiry(ca.expires_on) : '—'), h('td', {}, names.length ? names.join(', ') : 'none')));
  }
  page(
    'mTLS certificate authorities',
    hidden ? errorBox(hidden) : null,
    h(
      'div',
      { class: 'table-wrap' },
      h('table', {}, h('thead', {}, h('tr', {}, ['CA', 'Issuer', 'Expires', 'Hostnames that require its client certificates'].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows)),
    ),
  );
}

// ---------- routing ----------

const ROUTES = [
  [/^#?\/?$/, () => zonesPage()],
  [/^#\/zones\/([0-9a-f]{32})$/, (m, q) => hostnamesPage(m[1], q)],
  [/^#\/zones\/([0-9a-f]{32})\/hostnames\/([0-9a-f-]{36})$/, (m) => hostnamePage(m[1], m[2])],
  [/^#\/expiry$/, () => expiryPage()],
  [/^#\/mtls$/, () => mtlsPage()],
];

async function route() {
  if (!token()) {
    renderNav();
    return signInPage();
  }
  if (!session) {
    try {
      session = await loadSession();
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      renderNav();
      return signInPage(err);
    }
  }
  renderNav();
  const [path, query] = (location.hash || '#/').split('?');
  const found = ROUTES.map(([re, render]) => [re.exec(path), render]).find(([m]) => m);
  try {
    if (!found) return page('Not found', h('p', {}, h('a', { href: '#/' }, 'Back to the zones')));
    main.setAttribute('aria-busy', 'true');
    await found[1](found[0], new URLSearchParams(query ?? ''));
  } catch (err) {
    page('Something was refused', errorBox(err), h('p', {}, h('a', { href: '#/' }, 'Back to the zones')));
  } finally {
    main.removeAttribute('aria-busy');
  }
}

// The skip link moves the focus to the content without touching the route in the URL.
document.querySelector('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener('hashchange', route);
route();
