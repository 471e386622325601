// Browser scenarios of the web UI, driven by playwright-core on Debian's Chromium.
// test_ui_browser.py runs one scenario per call against a real controller with
// real agents on harness hosts, and checks through the API what the UI did.
//
//   node ui.mjs SCENARIO
//
// Environment: FLYT_UI_URL (the controller), FLYT_TOKEN_FILE, FLYT_ARTIFACTS (where
// screenshots go), FLYT_WEB_DIR (web/, for its node_modules), FLYT_CHROMIUM
// (default /usr/bin/chromium), and per scenario the names it works on
// (FLYT_WORKLOAD, FLYT_TARGET, FLYT_SOURCE, FLYT_OFFLINE_HOST).
//
// Every scenario fails on any console error, page error or CSP violation the page
// produces (except those a step announces it expects), writes a screenshot of the
// page when it fails, and prints its findings as one "RESULT {json}" line.
import { mkdirSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createHash, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const env = (k, d) => {
  const v = process.env[k];
  if (v === undefined || v === '') {
    if (d !== undefined) return d;
    throw new Error(`environment variable ${k} is not set`);
  }
  return v;
};

const BASE = env('FLYT_UI_URL');
const TOKEN = readFileSync(env('FLYT_TOKEN_FILE'), 'utf8').split('\n')[0].trim();
const ARTIFACTS = env('FLYT_ARTIFACTS');
const WEB_DIR = env('FLYT_WEB_DIR');
const CHROMIUM = env('FLYT_CHROMIUM', '/usr/bin/chromium');
const { chromium } = await import(pathToFileURL(join(WEB_DIR, 'node_modules', 'playwright-core', 'index.mjs')).href);

mkdirSync(ARTIFACTS, { recursive: true });

// Generous deadlines: other tests load this 2-core machine at the same time.
const T = 60000;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

class Problems {
  constructor() {
    this.list = [];
    this.expecting = 0;
  }
  add(what) {
    if (this.expecting > 0) return;
    this.list.push(what);
  }
  // Runs fn while console errors are expected (a refused sign-in logs its 401).
  async expect(fn) {
    this.expecting++;
    try {
      return await fn();
    } finally {
      this.expecting--;
    }
  }
}

// Over TLS, Chromium trusts exactly the controller's key (the SHA-256 of its
// public key, base64): the cluster CA is not in the browser's store.
function spkiPin(certFile) {
  const spki = new X509Certificate(readFileSync(certFile)).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

async function launch() {
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run', '--disable-dev-shm-usage'];
  if (BASE.startsWith('https:')) args.push(`--ignore-certificate-errors-spki-list=${spkiPin(env('FLYT_UI_CERT'))}`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

async function newPage(browser, problems, viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, reducedMotion: 'reduce' });
  const page = await context.newPage();
  page.setDefaultTimeout(T);
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') {
      const text = m.text();
      if (m.type() === 'error' || /Content Security Policy|Refused/.test(text)) problems.add(`console ${m.type()}: ${text}`);
    }
  });
  page.on('pageerror', (e) => problems.add(`page error: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.add(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
  });
  page.on('dialog', (d) => d.accept());
  return { context, page };
}

// Toasts cover part of the page: screenshots for the docs are taken without them.
async function clearToasts(page) {
  await page.evaluate(() => document.querySelectorAll('.toast button').forEach((b) => b.click()));
  await page.waitForFunction(() => !document.querySelector('.toast'));
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function signIn(page) {
  await page.goto(BASE + '/');
  await page.getByLabel('Cluster token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  await page.locator('.live-live').waitFor();
}

async function go(page, hash, heading) {
  await page.goto(`${BASE}/${hash}`);
  if (heading) await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function api(method, path, body) {
  const res = await fetch(BASE + path, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

// Every form control on the page has an accessible name (a label or aria-label).
async function checkLabels(page, where) {
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button')]
      .filter((el) => el.type !== 'hidden')
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby') && !el.textContent.trim())
      .map((el) => el.outerHTML.slice(0, 120)),
  );
  check(unlabelled.length === 0, `${where}: controls without a label: ${unlabelled.join(' | ')}`);
}

async function checkNoOverflow(page, where) {
  const { scroll, inner } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
  check(scroll <= inner + 1, `${where}: the page is ${scroll}px wide in a ${inner}px window (scrolls sideways)`);
}

// ---- scenarios -----------------------------------------------------------------

const scenarios = {};

// Sign-in: a wrong token is refused at the field; the right one opens a session
// whose cookie the page cannot read, and no token stays in the page.
scenarios.signin = async (browser, problems) => {
  const { page, context } = await newPage(browser, problems);
  await page.goto(BASE + '/');
  await page.getByRole('heading', { name: 'Sign in to flyt' }).waitFor();
  await shot(page, 'signin');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Enter the cluster token.').waitFor();
  await problems.expect(async () => {
    await page.getByLabel('Cluster token').fill('0'.repeat(64));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That is not the cluster token.').waitFor();
  });
  check((await page.getByLabel('Cluster token').getAttribute('aria-invalid')) === 'true', 'the token field is not marked invalid');
  await page.getByLabel('Cluster token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Hosts' }).waitFor();
  await page.locator('.live-live').waitFor();
  const cookies = await context.cookies();
  const sess = cookies.find((c) => c.name === 'flyt_session');
  check(sess && sess.httpOnly && sess.sameSite === 'Strict', `session cookie not HttpOnly+Strict: ${JSON.stringify(sess)}`);
  const visible = await page.evaluate(() => ({
    cookie: document.cookie,
    local: JSON.stringify(localStorage),
    session: JSON.stringify(sessionStorage),
    html: document.documentElement.outerHTML,
  }));
  check(!visible.cookie.includes('flyt_session'), 'the page can read the session cookie');
  for (const [k, v] of Object.entries(visible)) check(!v.includes(TOKEN), `the cluster token is in the page's ${k}`);
  // a reload keeps the session (the CSRF token comes back from the controller)
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Hosts' }).waitFor();
  // sign out ends it: the next load shows the sign-in form
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to flyt' }).waitFor();
  await page.reload();
  await page.getByRole('heading', { name: 'Sign in to flyt' }).waitFor();
  await context.close();
  return { cookie: { httpOnly: sess.httpOnly, sameSite: sess.sameSite, path: sess.path } };
};

// Add a workload through the form: validation at the fields first, then created.
scenarios['add-form'] = async (browser, problems) => {
  const name = env('FLYT_WORKLOAD');
  const host = env('FLYT_SOURCE');
  const payload = env('FLYT_PAYLOAD');
  const { page, context } = await newPage(browser, problems);
  await signIn(page);
  await page.getByRole('link', { name: 'Add workload' }).first().click();
  await page.getByRole('heading', { level: 1, name: 'Add a workload' }).waitFor();
  await checkLabels(page, 'add form');
  // nothing filled in: the name is missing, and the process kind needs a command
  await page.getByRole('button', { name: 'Create workload' }).click();
  await page.locator('#f-name-error').getByText('Give the workload a name.').waitFor();
  await page.locator('#f-cmd-error').waitFor();
  check((await page.evaluate(() => document.activeElement.id)) === 'f-name', 'focus did not move to the first invalid field');
  await page.getByLabel('Name', { exact: true }).fill('Bad Name!');
  await page.getByRole('button', { name: 'Create workload' }).click();
  await page.locator('#f-name-error').getByText('Use a-z').waitFor();
  await shot(page, 'add-form-errors');
  await page.getByLabel('Host', { exact: true }).selectOption(host);
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Kind', { exact: true }).selectOption('fake');
  await page.getByLabel('Payload (the state it carries)').fill(payload);
  await page.getByLabel('Dump delay in ms (to watch progress or cancel)').fill('abc');
  await page.getByRole('button', { name: 'Create workload' }).click();
  await page.locator('#f-delay-error').waitFor();
  await page.getByLabel('Dump delay in ms (to watch progress or cancel)').fill('1500');
  await shot(page, 'add-form');
  await page.getByRole('button', { name: 'Create workload' }).click();
  await page.getByRole('heading', { level: 1, name }).waitFor();
  check(page.url().endsWith(`#/workloads/${name}`), `after creating, the page is ${page.url()}`);
  // the payload (HTML on purpose) shows as text and runs nothing
  await page.getByText('Spec').click();
  const spec = await page.locator('pre.spec').textContent();
  check(spec.includes(JSON.stringify(payload)), `the spec shown lacks the payload: ${spec}`);
  check(!(await page.evaluate(() => window.__flytXss)), 'the payload ran as HTML');
  check((await page.locator('pre.spec img').count()) === 0, 'the payload became an element');
  await shot(page, 'workload-new');
  await context.close();
  return { name };
};

// Paste JSON: errors at the field (bad JSON, the controller's refusal of an
// incomplete old-system spec, unknown fields), then a good one creates the
// workload.
scenarios['paste-json'] = async (browser, problems) => {
  const name = env('FLYT_WORKLOAD');
  const host = env('FLYT_SOURCE');
  const { page, context } = await newPage(browser, problems);
  await signIn(page);
  await go(page, '#/add?mode=json', 'Add a workload');
  await page.getByRole('tab', { name: 'Paste JSON' }).waitFor();
  const box = page.getByLabel('Workload as JSON');
  await box.fill('{"name": "x",\n "kind": fake}');
  await page.getByRole('button', { name: 'Create workload' }).click();
  await page.locator('#f-json-error').getByText(/line 2/).waitFor();
  await box.fill('{"Identifier": "busybox", "Type": "Container", "AccessIP": "10.0.0.1"}');
  await problems.expect(async () => {
    await page.getByRole('button', { name: 'Create workload' }).click();
    await page.locator('#f-json-error').getByText('a "Container" needs "Containerproperties"').waitFor();
  });
  await box.fill(JSON.stringify({ name, kind: 'fake', spec: { payload: 'pasted' }, colour: 'red' }));
  await page.getByRole('button', { name: 'Create workload' }).click();
  await page.locator('#f-json-error').getByText('Unknown field: colour').waitFor();
  await shot(page, 'add-json-errors');
  await page.getByLabel('Host', { exact: true }).selectOption(host);
  await box.fill(JSON.stringify({ name, kind: 'fake', spec: { payload: 'pasted' } }, null, 2));
  await page.getByRole('button', { name: 'Create workload' }).click();
  await page.getByRole('heading', { level: 1, name }).waitFor();
  await context.close();
  return { name };
};

// Migrate through the picker and watch it reach committed: the progress bar
// while it runs, then the history row.
scenarios.migrate = async (browser, problems) => {
  const name = env('FLYT_WORKLOAD');
  const target = env('FLYT_TARGET');
  const offline = env('FLYT_OFFLINE_HOST');
  const { page, context } = await newPage(browser, problems);
  await signIn(page);
  await go(page, `#/workloads/${name}`, name);
  const picker = page.getByRole('group', { name: 'Target host' });
  await picker.waitFor();
  // the offline host is listed, not choosable, with its reason
  const off = page.getByRole('radio', { name: new RegExp(`^${offline}`) });
  check(await off.isDisabled(), `the offline host ${offline} can be chosen`);
  await page.locator(`#target-${offline}-why`).getByText('not compatible: offline').waitFor();
  await page.getByRole('radio', { name: new RegExp(`^${target}`) }).check();
  await page.locator(`#target-${target}-why`).getByText('compatible').waitFor();
  await page.getByLabel('Mode', { exact: true }).selectOption('stop-copy');
  await checkLabels(page, 'workload page');
  await shot(page, 'workload-migrate-picker');
  await page.getByRole('button', { name: `Migrate to ${target}` }).click();
  // while it runs: a progress bar for it (the dump takes the spec's delay_ms)
  const bar = page.getByRole('progressbar', { name: new RegExp(`Migration of ${name}`) }).first();
  await bar.waitFor();
  const during = await bar.getAttribute('aria-valuetext');
  await shot(page, 'workload-migrating');
  // then committed: the page shows the new host and the history row
  await page.locator('.card', { hasText: 'Properties' }).locator('dd', { hasText: new RegExp(`^${target}$`) }).waitFor();
  const row = page.locator('table.list tbody tr').first();
  await row.locator('.badge', { hasText: 'committed' }).waitFor();
  const cells = await row.locator('td').allTextContents();
  await shot(page, 'workload-migrated');
  await context.close();
  return { during, row: cells };
};

// Cancel a running migration from the migrations view: it rolls back and the
// view says so.
scenarios.cancel = async (browser, problems) => {
  const name = env('FLYT_WORKLOAD');
  const target = env('FLYT_TARGET');
  const { page, context } = await newPage(browser, problems);
  await signIn(page);
  await go(page, `#/workloads/${name}`, name);
  await page.getByRole('radio', { name: new RegExp(`^${target}`) }).check();
  await page.getByRole('button', { name: `Migrate to ${target}` }).click();
  await page.getByRole('progressbar').first().waitFor();
  await page.getByRole('link', { name: 'Migrations' }).click();
  await page.getByRole('heading', { level: 1, name: 'Migrations' }).waitFor();
  const card = page.locator('article.running', { hasText: name });
  await card.waitFor();
  await shot(page, 'migrations-running');
  await card.getByRole('button', { name: `Cancel the migration of ${name}` }).click();
  await card.waitFor({ state: 'detached' });
  const row = page.locator('table.list tbody tr', { hasText: name }).first();
  await row.locator('.badge', { hasText: 'rolled back' }).waitFor();
  const reason = await row.locator('.error-text').textContent();
  check(/cancel/i.test(reason), `the rolled-back row does not say it was cancelled: ${reason}`);
  await shot(page, 'migrations-cancelled');
  await context.close();
  return { reason };
};

// A migration that fails (restore refused on the target): the failure, its
// reason and that the workload is back on its source are shown.
scenarios.failure = async (browser, problems) => {
  const name = env('FLYT_WORKLOAD');
  const target = env('FLYT_TARGET');
  const source = env('FLYT_SOURCE');
  const { page, context } = await newPage(browser, problems);
  await signIn(page);
  await go(page, `#/workloads/${name}`, name);
  await page.getByRole('radio', { name: new RegExp(`^${target}`) }).check();
  await page.getByRole('button', { name: `Migrate to ${target}` }).click();
  const toastText = page.locator('.toast-error', { hasText: `Migration of ${name} rolled back` });
  await toastText.waitFor();
  const row = page.locator('table.list tbody tr').first();
  await row.locator('.badge', { hasText: 'rolled back' }).waitFor();
  const reason = await row.locator('.error-text').textContent();
  check(/restore/.test(reason), `the failure reason does not name the restore: ${reason}`);
  await page.locator('.card', { hasText: 'Properties' }).locator('dd', { hasText: new RegExp(`^${source}$`) }).waitFor();
  await row.getByRole('link').click();
  const alert = page.getByRole('alert').filter({ hasText: 'Rolled back' });
  await alert.waitFor();
  const text = await alert.textContent();
  check(text.includes(`${name} runs on ${source} again`), `the failure note does not say where it runs: ${text}`);
  await shot(page, 'migration-failed');
  await context.close();
  return { reason, note: text };
};

// Live: what changes through the API appears without a reload.
scenarios.live = async (browser, problems) => {
  const name = env('FLYT_WORKLOAD');
  const source = env('FLYT_SOURCE');
  const { page, context } = await newPage(browser, problems);
  await signIn(page);
  await go(page, '#/workloads', 'Workloads');
  await page.locator('table.list, .empty').first().waitFor();
  await api('POST', '/api/v1/workloads', { name, kind: 'fake', host: source, spec: { payload: 'live' } });
  await page.getByRole('link', { name, exact: true }).waitFor();
  await api('DELETE', `/api/v1/workloads/${name}`);
  await page.getByRole('link', { name, exact: true }).waitFor({ state: 'detached' });
  await context.close();
  return { ok: true };
};

// Reconciliation, live: a second copy of a workload appears on another host
// behind the controller's back (made through that agent's API); the open
// workload page turns failed, names both copies and the reason, without a
// reload; once the stray copy is deleted it is running again.
scenarios.reconcile = async (browser, problems) => {
  const name = env('FLYT_WORKLOAD');
  const source = env('FLYT_SOURCE');
  const other = env('FLYT_TARGET');
  const otherUrl = env('FLYT_TARGET_URL');
  // agents want a client certificate of the cluster (the controller's here)
  const agent = (method, path, body) => new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : '';
    const req = httpsRequest(otherUrl + path, {
      method,
      cert: readFileSync(env('FLYT_CLIENT_CERT')),
      key: readFileSync(env('FLYT_CLIENT_KEY')),
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) },
    }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => (res.statusCode < 300 ? resolve(text)
        : reject(new Error(`agent ${other}: ${method} ${path}: HTTP ${res.statusCode}: ${text}`))));
    });
    req.on('error', reject);
    req.end(data);
  });
  const { page, context } = await newPage(browser, problems);
  await signIn(page);
  await go(page, `#/workloads/${name}`, name);
  const props = page.locator('.card', { hasText: 'Properties' });
  await props.locator('.badge', { hasText: /^running$/ }).waitFor();
  await agent('POST', '/v1/workloads', { name, kind: 'fake', spec: { payload: 'stray copy' } });
  await props.locator('.badge', { hasText: /^failed$/ }).waitFor();
  const copies = props.locator('dt', { hasText: 'Copies on' }).locator('xpath=following-sibling::dd[1]');
  await copies.waitFor();
  const copiesText = await copies.textContent();
  check(copiesText.includes(source) && copiesText.includes(other), `the copies shown are "${copiesText}"`);
  const error = await props.locator('.error-text').textContent();
  await shot(page, 'workload-two-copies');
  await agent('DELETE', `/v1/workloads/${name}`);
  await props.locator('.badge', { hasText: /^running$/ }).waitFor();
  await props.locator('dt', { hasText: 'Copies on' }).waitFor({ state: 'detached' });
  await context.close();
  return { copies: copiesText, error };
};

// The workloads view pages and filters on the server: search, next pages (one by
// keyboard), the last short page, a host filter, a larger page size, and the
// filters kept in the address across a reload. FLYT_PREFIX names FLYT_COUNT
// workloads PREFIX000.., alternately on FLYT_SOURCE and FLYT_TARGET.
scenarios.paging = async (browser, problems) => {
  const prefix = env('FLYT_PREFIX');
  const count = Number(env('FLYT_COUNT'));
  const hostB = env('FLYT_TARGET');
  const { page, context } = await newPage(browser, problems);
  await signIn(page);
  await go(page, '#/workloads', 'Workloads');
  const pager = page.getByRole('navigation', { name: 'Pages of workloads' }).locator('span');
  const names = () => page.locator('table.list tbody tr td:first-child a').allTextContents();
  const hostsShown = () => page.locator('table.list tbody tr td:nth-child(3)').allTextContents();
  const pagerSays = async (text) => {
    await page.waitForFunction(
      ([t]) => {
        const el = document.querySelector('nav.pager span');
        return el && el.textContent.trim() === t;
      },
      [text],
    );
  };
  const name = (i) => prefix + String(i).padStart(3, '0');
  const out = { pages: [] };
  // search: the box applies after typing stops
  await page.getByLabel('Search by name').fill(prefix);
  await pagerSays(`1–50 of ${count} workloads`);
  let shown = await names();
  check(shown.length === 50 && shown[0] === name(0) && shown[49] === name(49), `first page: ${shown.join(' ')}`);
  check(page.url().includes(`q=${prefix}`), `the search is not in the address: ${page.url()}`);
  out.pages.push(await pager.textContent());
  // the next page, with the keyboard
  await page.getByRole('button', { name: 'Next →' }).focus();
  await page.keyboard.press('Enter');
  await pagerSays(`51–100 of ${count} workloads`);
  shown = await names();
  check(shown[0] === name(50) && shown.length === 50, `second page starts with ${shown[0]}`);
  out.pages.push(await pager.textContent());
  // the last, short page: Next is off
  await page.getByRole('button', { name: 'Next →' }).click();
  await pagerSays(`101–${count} of ${count} workloads`);
  shown = await names();
  check(shown.length === count - 100 && shown[shown.length - 1] === name(count - 1), `last page: ${shown.join(' ')}`);
  check(await page.getByRole('button', { name: 'Next →' }).isDisabled(), 'Next is enabled on the last page');
  out.pages.push(await pager.textContent());
  await shot(page, 'workloads-paged');
  // a host filter starts again at the first page
  await page.getByLabel('Host', { exact: true }).selectOption(hostB);
  await pagerSays(`1–50 of ${count / 2} workloads`);
  const hosts = await hostsShown();
  check(hosts.length === 50 && hosts.every((h) => h === hostB), `host filter shows hosts ${[...new Set(hosts)].join(', ')}`);
  check((await names())[0] === name(1), 'the host filter did not start at the first page');
  // a larger page holds them all
  await page.getByLabel('Per page').selectOption('100');
  await pagerSays(`1–${count / 2} of ${count / 2} workloads`);
  check((await names()).length === count / 2, 'page size 100 does not show them all');
  // the filters live in the address: a reload shows the same
  await page.reload();
  await pagerSays(`1–${count / 2} of ${count / 2} workloads`);
  check((await page.getByLabel('Search by name').inputValue()) === prefix, 'the search box lost its text on reload');
  check((await page.getByLabel('Host', { exact: true }).inputValue()) === hostB, 'the host filter was lost on reload');
  // nothing matches: said so
  await page.getByLabel('Search by name').fill(prefix + 'zzz');
  await page.getByText('No workload matches these filters.').waitFor();
  out.url = page.url();
  await context.close();
  return out;
};

// The automatic-migration policy end to end through the UI:
// - Settings: the policy form refuses bad values at their fields before sending;
//   a good change is saved and still there after a reload; the controller's own
//   refusal (the policy changed elsewhere meanwhile) shows at its field.
// - Hosts: each host's electricity area is set through its card (a bad name
//   refused at the field), then the card shows its area's signal now (a stale
//   one marked) and the energy it used.
// - The workload's page: auto-migrate on; the policy (greenest) moves it to the
//   greener area and the decision appears there live.
// - Drain FLYT_TARGET from the hosts view: the decisions view shows the drain
//   decision for the workload, with its reason, inputs and alternatives, and its
//   migration, which reaches committed with the workload on FLYT_SOURCE; then
//   undrain.
// FLYT_AREAS: HOST=AREA,... (FLYT_SOURCE's area must be dirtier than
// FLYT_TARGET's; FLYT_OFFLINE_HOST's stale).
scenarios.energy = async (browser, problems) => {
  const name = env('FLYT_WORKLOAD');
  const source = env('FLYT_SOURCE');
  const target = env('FLYT_TARGET');
  const offline = env('FLYT_OFFLINE_HOST');
  const areas = Object.fromEntries(env('FLYT_AREAS').split(',').map((x) => x.split('=')));
  const out = { signals: {}, energy: {} };
  const t0 = Date.now();
  const mark = (what) => console.error(`energy: ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const { page, context } = await newPage(browser, problems);
  await signIn(page);

  // ---- settings
  await go(page, '#/settings', 'Settings');
  await page.locator('#policy-form').waitFor();
  await checkLabels(page, 'settings with the policy form');
  const field = (label) => page.getByLabel(label, { exact: true });
  const save = () => page.getByRole('button', { name: 'Save policy' }).click();
  const valueIs = (id, v) => page.waitForFunction(([i, x]) => document.getElementById(i).value === x, [id, v]);
  await field('Minimum gain (% of the value here)').fill('ten');
  await field('CPU limit (%)').fill('150');
  await field('Minimum time on a host').fill('2 weeks');
  await save();
  await page.locator('#p-min_gain_pct-error').getByText('A number.').waitFor();
  await page.locator('#p-cpu_high_pct-error').getByText('Between 1 and 100.').waitFor();
  await page.locator('#p-min_dwell_ms-error').getByText('A duration').waitFor();
  check((await page.evaluate(() => document.activeElement.id)) === 'p-min_gain_pct', 'focus did not move to the first invalid policy field');
  await shot(page, 'settings-policy-errors');
  await field('Policy').selectOption('greenest');
  await field('Minimum gain (% of the value here)').fill('20');
  await field('CPU limit (%)').fill('100');
  await field('Memory limit (%)').fill('100');
  await field('Minimum time on a host').fill('30m');
  await field('Migrations at once').fill('4');
  await field('Policy migrations per hour').fill('100');
  await save();
  await page.locator('.toast', { hasText: 'Policy saved: greenest.' }).waitFor();
  await page.reload();
  await page.locator('#policy-form').waitFor();
  out.saved = {
    policy: await field('Policy').inputValue(),
    min_gain_pct: await field('Minimum gain (% of the value here)').inputValue(),
    min_dwell: await field('Minimum time on a host').inputValue(),
    max_concurrent: await field('Migrations at once').inputValue(),
  };
  // the form is being edited while someone else changes the policy: the
  // controller refuses what no longer fits, at the field
  await field('Full-load power (W)').fill('200');
  await api('PATCH', '/api/v1/policy', { idle_watts: 300, max_watts: 400 });
  await page.getByText('The policy was changed elsewhere').waitFor();
  await problems.expect(async () => {
    await save();
    await page.locator('#p-max_watts-error').getByText('must not be below idle_watts').waitFor();
  });
  out.serverError = await page.locator('#p-max_watts-error').textContent();
  await shot(page, 'settings-policy-server-error');
  await page.getByRole('button', { name: 'Undo changes' }).click();
  await valueIs('p-idle_watts', '300');
  await valueIs('p-max_watts', '400');
  await field('Idle power (W)').fill('100');
  await field('Full-load power (W)').fill('250');
  await save();
  await page.locator('.toast', { hasText: 'Policy saved' }).first().waitFor();
  await clearToasts(page);
  await shot(page, 'settings-policy');

  mark('settings done');
  // ---- hosts: areas, signals, energy
  await go(page, '#/hosts', 'Hosts');
  const card = (h) => page.locator('article.host', { has: page.getByRole('heading', { level: 2, name: h, exact: true }) });
  const prop = (h, label) => card(h).locator('dt', { hasText: label }).locator('xpath=following-sibling::dd[1]');
  let first = true;
  for (const [h, area] of Object.entries(areas)) {
    await card(h).getByText(`Change the area or the power model of ${h}`).click();
    const areaBox = card(h).getByLabel('Electricity area');
    if (first) {
      await areaBox.fill('DK 1');
      await card(h).getByRole('button', { name: `Save ${h}` }).click();
      await card(h).getByText('1-15 of A-Z a-z 0-9 _ -').waitFor();
      first = false;
    }
    await areaBox.fill(area.toLowerCase());
    if (h === source) {
      await card(h).getByLabel('Idle power (W)').fill('90');
      await card(h).getByLabel('Full-load power (W)').fill('300');
    }
    await card(h).getByRole('button', { name: `Save ${h}` }).click();
    await prop(h, 'Area').getByText(`${area} (set here)`).waitFor();
  }
  await prop(source, 'Power model').getByText('90 W idle, 300 W at full load').waitFor();
  await prop(offline, 'Electricity now').locator('.badge', { hasText: 'stale' }).first().waitFor();
  for (const h of Object.keys(areas)) out.signals[h] = (await prop(h, 'Electricity now').textContent()).trim();
  mark('areas set');
  // energy is accounted at every policy run (a second here): it shows at the next refresh
  for (const h of [source, target]) {
    await prop(h, 'Energy used').getByText(/Wh/).waitFor({ timeout: 3 * T });
    out.energy[h] = (await prop(h, 'Energy used').textContent()).trim();
  }
  await checkLabels(page, 'hosts with their settings open');
  await clearToasts(page);
  await shot(page, 'hosts-energy');

  mark('hosts done');
  // ---- the workload: auto-migrate on, the greenest policy moves it
  await go(page, `#/workloads/${name}`, name);
  await page.getByLabel('Auto-migrate', { exact: true }).check();
  const decisions = page.locator('section.card', { has: page.getByRole('heading', { level: 2, name: 'Policy decisions' }) });
  const greener = decisions.locator('article.decision-move', { hasText: 'greener' }).first();
  await greener.waitFor({ timeout: 3 * T });
  out.greener = (await greener.locator('.reason').textContent()).trim();
  const hostIs = (h) => page.locator('.card', { hasText: 'Properties' }).locator('dd', { hasText: new RegExp(`^${h}$`) }).waitFor({ timeout: 3 * T });
  await hostIs(target);
  await page.locator('.card', { hasText: 'Automatic migration and energy' }).locator('dt', { hasText: 'Energy used' }).waitFor();
  await clearToasts(page);
  await shot(page, 'workload-policy');

  mark('greener move seen');
  // ---- drain the target from the hosts view
  await go(page, '#/hosts', 'Hosts');
  await card(target).getByRole('button', { name: `Drain ${target}`, exact: true }).click();
  await card(target).locator('.badge', { hasText: 'draining' }).waitFor();
  await page.getByRole('link', { name: 'Decisions', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Decisions' }).waitFor();
  await page.locator('#plan-summary').waitFor();
  const drained = page
    .locator('section.card', { has: page.getByRole('heading', { level: 2, name: 'Decisions made' }) })
    .locator('article.decision-move', { has: page.getByRole('link', { name, exact: true }) })
    .filter({ hasText: 'drain' })
    .first();
  await drained.waitFor({ timeout: 3 * T });
  mark('drain decision seen');
  out.drain = (await drained.locator('.reason').textContent()).trim();
  await drained.getByText('Inputs and alternatives').click();
  const alt = drained.locator('.decision-detail table tbody tr', { hasText: source }).first();
  await alt.waitFor();
  out.alternative = await alt.locator('td').allTextContents();
  out.plan = (await page.locator('#plan-summary').textContent()).trim();
  await checkLabels(page, 'decisions');
  await clearToasts(page);
  await shot(page, 'decisions');
  await drained.getByRole('link', { name: 'the migration it started' }).click();
  await page.getByRole('heading', { level: 1, name: new RegExp(`Migration of ${name}`) }).waitFor();
  out.migration = page.url().split('/').pop();
  await page.locator('h1 .badge', { hasText: 'committed' }).waitFor({ timeout: 3 * T });
  out.startedBy = (await page.locator('dt', { hasText: 'Started by' }).locator('xpath=following-sibling::dd[1]').textContent()).trim();
  await go(page, `#/workloads/${name}`, name);
  await hostIs(source);

  mark('migration committed, workload back');
  // ---- undrain
  await go(page, '#/hosts', 'Hosts');
  await card(target).getByRole('button', { name: `Undrain ${target}`, exact: true }).click();
  await card(target).getByRole('button', { name: `Drain ${target}`, exact: true }).waitFor();
  check((await card(target).locator('.badge', { hasText: 'draining' }).count()) === 0, `${target} still shows draining`);
  await context.close();
  return out;
};

// Paste the old system's workload spec: the host it names none of is asked for
// at the host field, the controller's refusals show at their field (a host
// without Docker, a bad Identifier, a container that is not there), then a good
// one adopts the container FLYT_WORKLOAD runs in on FLYT_SOURCE (with Docker).
scenarios['paste-old'] = async (browser, problems) => {
  const name = env('FLYT_WORKLOAD');
  const host = env('FLYT_SOURCE');
  const other = env('FLYT_TARGET'); // no Docker there
  const spec = (changes, props) => JSON.stringify({
    Identifier: name,
    AccessIP: '0',
    AccessPort: '0',
    AutoMigrate: false,
    Available: true,
    SharedDir: '',
    Type: 'Container',
    Containerproperties: { ContainerID: name, Image: 'busybox', Checkpoint: false, ...props },
    ...changes,
  }, null, 2);
  const { page, context } = await newPage(browser, problems);
  await signIn(page);
  await go(page, '#/add?mode=json', 'Add a workload');
  const box = page.getByLabel('Workload as JSON');
  const create = () => page.getByRole('button', { name: 'Create workload' }).click();
  const hostField = page.getByLabel('Host', { exact: true });
  await hostField.selectOption('');
  await box.fill(spec({}));
  await create();
  await page.locator('#f-host-error').getByText("The old system's spec names no host").waitFor();
  await box.fill(spec({ Identifier: 'Old Box' }));
  await hostField.selectOption(host);
  await create();
  await page.locator('#f-json-error').getByText('"Identifier" is not a usable workload name').waitFor();
  const out = {};
  await problems.expect(async () => {
    await hostField.selectOption(other);
    await box.fill(spec({}));
    await create();
    await page.locator('#f-host-error').getByText('docker driver is not available').waitFor();
    out.noDocker = (await page.locator('#f-host-error').textContent()).trim();
    await hostField.selectOption(host);
    await box.fill(spec({}, { ContainerID: `${name}-missing` }));
    await create();
    await page.locator('#f-json-error').waitFor();
    out.missing = (await page.locator('#f-json-error').textContent()).trim();
  });
  await shot(page, 'add-old-spec-errors');
  await box.fill(spec({}));
  await create();
  await page.getByRole('heading', { level: 1, name }).waitFor();
  const props = page.locator('.card', { hasText: 'Properties' });
  await props.locator('dd', { hasText: /^docker$/ }).waitFor();
  await props.locator('.badge', { hasText: /^running$/ }).waitFor();
  await shot(page, 'workload-old-spec');
  await context.close();
  return out;
};

// Every view at desktop and phone width: screenshots, labels, no sideways
// scrolling, keyboard reachability of the navigation.
scenarios.views = async (browser, problems) => {
  const workload = env('FLYT_WORKLOAD');
  const migration = env('FLYT_MIGRATION');
  const views = [
    ['hosts', '#/hosts', 'Hosts'],
    ['workloads', '#/workloads', 'Workloads'],
    ['workload', `#/workloads/${workload}`, workload],
    ['add', '#/add', 'Add a workload'],
    ['migrations', '#/migrations', 'Migrations'],
    ['migration', `#/migrations/${migration}`, new RegExp(`Migration of ${workload}`)],
    ['decisions', '#/decisions', 'Decisions'],
    ['settings', '#/settings', 'Settings'],
  ];
  const out = {};
  for (const [size, viewport] of [['1280x800', DESKTOP], ['phone', PHONE]]) {
    const { page, context } = await newPage(browser, problems, viewport);
    await signIn(page);
    for (const [name, hash, heading] of views) {
      await go(page, hash, heading);
      await page.waitForFunction(() => ![...document.querySelectorAll('.muted')].some((e) => e.textContent.startsWith('Loading')));
      if (name === 'workload') await page.getByRole('group', { name: 'Target host' }).waitFor();
      if (name === 'settings') await page.getByRole('button', { name: 'Save policy' }).waitFor();
      if (name === 'decisions') await page.locator('#plan-summary').waitFor();
      await checkLabels(page, `${name} (${size})`);
      await checkNoOverflow(page, `${name} (${size})`);
      await shot(page, `view-${name}-${size}`);
    }
    if (size === '1280x800') {
      // keyboard: the skip link comes first, then the brand and the navigation
      await go(page, '#/hosts', 'Hosts');
      await page.reload();
      await page.getByRole('heading', { level: 1, name: 'Hosts' }).waitFor();
      await page.keyboard.press('Tab');
      out.first = await page.evaluate(() => document.activeElement.textContent.trim());
      check(out.first === 'Skip to content', `the first Tab stop is "${out.first}"`);
      const seen = [];
      for (let i = 0; i < 9; i++) {
        await page.keyboard.press('Tab');
        seen.push(await page.evaluate(() => document.activeElement.textContent.trim()));
      }
      for (const label of ['Hosts', 'Workloads', 'Add workload', 'Migrations', 'Decisions', 'Settings', 'Sign out'])
        check(seen.includes(label), `"${label}" is not reachable with Tab (saw ${seen.join(', ')})`);
      // Enter on a navigation link opens its view
      while ((await page.evaluate(() => document.activeElement.textContent.trim())) !== 'Settings') await page.keyboard.press('Shift+Tab');
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
      out.tabOrder = seen;
    }
    await context.close();
  }
  return out;
};

// ---- main -------------------------------------------------------------------------

const name = process.argv[2];
if (!scenarios[name]) {
  console.error(`usage: node ui.mjs SCENARIO (one of: ${Object.keys(scenarios).join(', ')})`);
  process.exit(2);
}
const browser = await launch();
const problems = new Problems();
let status = 0;
try {
  const result = await scenarios[name](browser, problems);
  if (problems.list.length) throw new Error(`the page logged errors:\n  ${problems.list.join('\n  ')}`);
  console.log('RESULT ' + JSON.stringify(result));
} catch (e) {
  status = 1;
  console.error(`scenario ${name} failed: ${e.stack || e}`);
  if (problems.list.length) console.error(`console problems:\n  ${problems.list.join('\n  ')}`);
  for (const ctx of browser.contexts())
    for (const p of ctx.pages()) await p.screenshot({ path: join(ARTIFACTS, `FAILED-${name}.png`), fullPage: true }).catch(() => {});
} finally {
  await browser.close();
}
process.exit(status);
