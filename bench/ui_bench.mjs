// The browser half of bench_ui.py: times the workloads view of the web UI with
// many workloads (server-side paging) against the alternative without paging
// (fetch every workload and draw every row), in Debian's Chromium.
//
//   node ui_bench.mjs   (env: FLYT_UI_URL, FLYT_UI_CERT, FLYT_TOKEN_FILE, FLYT_WEB_DIR, FLYT_CHROMIUM,
//                        FLYT_RUNS, FLYT_QUERY: a search term that matches a few)
// Prints one "RESULT {json}" line: milliseconds per run for each measurement.
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const BASE = process.env.FLYT_UI_URL;
const TOKEN = readFileSync(process.env.FLYT_TOKEN_FILE, 'utf8').split('\n')[0].trim();
const RUNS = Number(process.env.FLYT_RUNS || 5);
const QUERY = process.env.FLYT_QUERY;
const { chromium } = await import(pathToFileURL(join(process.env.FLYT_WEB_DIR, 'node_modules', 'playwright-core', 'index.mjs')).href);

const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-dev-shm-usage'];
if (BASE.startsWith('https:')) {
  // trust exactly the controller's key (FLYT_UI_CERT: its certificate)
  const spki = new X509Certificate(readFileSync(process.env.FLYT_UI_CERT)).publicKey.export({ type: 'spki', format: 'der' });
  args.push(`--ignore-certificate-errors-spki-list=${createHash('sha256').update(spki).digest('base64')}`);
}
const browser = await chromium.launch({
  executablePath: process.env.FLYT_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args,
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
page.setDefaultTimeout(120000);
await page.goto(BASE + '/');
await page.getByLabel('Cluster token').fill(TOKEN);
await page.getByRole('button', { name: 'Sign in' }).click();
await page.getByRole('heading', { level: 1, name: 'Hosts' }).waitFor();

const out = { open: [], next_page: [], search: [], unpaged: [], unpaged_bytes: 0, heap_paged: 0, heap_unpaged: 0 };
const rows = () => page.locator('table.list tbody tr');
for (let i = 0; i < RUNS; i++) {
  // open the view from another one: until its first page of rows is drawn
  await page.goto(`${BASE}/#/hosts`);
  await page.getByRole('heading', { level: 1, name: 'Hosts' }).waitFor();
  let t = Date.now();
  await page.getByRole('link', { name: 'Workloads', exact: true }).click();
  await rows().nth(49).waitFor();
  out.open.push(Date.now() - t);
  // the next page
  const first = await rows().first().locator('a').first().textContent();
  t = Date.now();
  await page.getByRole('button', { name: 'Next →' }).click();
  await page.waitForFunction((f) => {
    const a = document.querySelector('table.list tbody tr a');
    return a && a.textContent !== f;
  }, first);
  out.next_page.push(Date.now() - t);
  // a search (after the box's 250 ms pause, which is part of what a person waits)
  t = Date.now();
  await page.getByLabel('Search by name').fill(QUERY);
  await page.waitForFunction((q) => {
    const r = [...document.querySelectorAll('table.list tbody tr td:first-child a')];
    return r.length > 0 && r.every((a) => a.textContent.includes(q));
  }, QUERY);
  out.search.push(Date.now() - t);
  await page.getByLabel('Search by name').fill('');
}
out.heap_paged = await page.evaluate(() => (performance.memory ? performance.memory.usedJSHeapSize : 0));

// the alternative: no paging, every workload fetched and drawn as a row
for (let i = 0; i < RUNS; i++) {
  // a fresh load each time: the previous run replaced the view's DOM behind the UI's back
  await page.goto('about:blank');
  await page.goto(`${BASE}/#/hosts`);
  await page.getByRole('heading', { level: 1, name: 'Hosts' }).waitFor();
  const r = await page.evaluate(async () => {
    const t0 = performance.now();
    const res = await fetch('/api/v1/workloads?limit=10000', { credentials: 'same-origin' });
    const text = await res.text();
    const data = JSON.parse(text);
    const table = document.createElement('table');
    table.className = 'list';
    const body = table.createTBody();
    for (const w of data.workloads) {
      const tr = body.insertRow();
      for (const v of [w.name, w.kind, w.host, w.state, w.rss_bytes, w.auto_migrate, w.updated]) tr.insertCell().textContent = String(v);
    }
    document.querySelector('main').replaceChildren(table);
    await new Promise((ok) => requestAnimationFrame(() => setTimeout(ok, 0))); // laid out and painted
    return { ms: performance.now() - t0, bytes: text.length, rows: data.workloads.length };
  });
  out.unpaged.push(Math.round(r.ms));
  out.unpaged_bytes = r.bytes;
  out.unpaged_rows = r.rows;
}
out.heap_unpaged = await page.evaluate(() => (performance.memory ? performance.memory.usedJSHeapSize : 0));
await browser.close();
console.log('RESULT ' + JSON.stringify(out));
