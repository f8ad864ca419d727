// Browser tests of the Pulse dashboard in headless Chromium, against a running
// `pulse api` with fixture data (scripts/browser-test sets everything up).
//
// Every page is loaded with HTTP Basic credentials, its key numbers are compared with
// the JSON API's, there must be no console errors (CSP violations included), and a
// full-page screenshot is saved under test-output/.
//
// Environment: PULSE_API_URL (e.g. http://127.0.0.1:18080), PULSE_API_USER,
// PULSE_API_TOKEN, PULSE_SCREENSHOTS (default ../../test-output/browser),
// CHROMIUM (default /usr/bin/chromium), PULSE_CH_URL and PULSE_CH_DATABASE (the API's
// ClickHouse: the stalled-source test writes into it, so it runs last).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.PULSE_API_URL ?? "http://127.0.0.1:8080";
const CH = process.env.PULSE_CH_URL ?? "http://127.0.0.1:8123";
const CH_DB = process.env.PULSE_CH_DATABASE ?? "";
const USER = process.env.PULSE_API_USER ?? "browser";
const TOKEN = process.env.PULSE_API_TOKEN ?? "";
const SHOTS = path.resolve(process.env.PULSE_SCREENSHOTS ?? new URL("../../test-output/browser", import.meta.url).pathname);
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

let context;
let userDataDir;

before(async () => {
  assert.ok(TOKEN, "PULSE_API_TOKEN must be set");
  fs.mkdirSync(SHOTS, { recursive: true });
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pulse-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ARGS,
    httpCredentials: { username: USER, password: TOKEN },
    viewport: { width: 1360, height: 900 },
    deviceScaleFactor: 1,
  });
});

after(async () => {
  await context?.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
});

async function api(p) {
  const r = await fetch(BASE + p, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200, `GET ${p}`);
  return r.json();
}

/** `$1.25M`, `$430k`, `$900`: the dashboard's money format. */
function money(v) {
  if (v === null || v === undefined) return "—";
  if (Math.abs(v) >= 1e6) return `$${(v / 1e6).toFixed(2)}M`;
  if (Math.abs(v) >= 1e3) return `$${(v / 1e3).toFixed(0)}k`;
  return `$${v.toFixed(0)}`;
}

/** Opens a page, fails on console errors, returns it with a `shot(name)` helper. */
async function open(p) {
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  const resp = await page.goto(BASE + p, { waitUntil: "load" });
  assert.equal(resp.status(), 200, `${p}: status`);
  page.errors = errors;
  page.shot = async (name) => {
    assert.deepEqual(errors, [], `${p}: console errors`);
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };
  return page;
}

const text = (page, testid) => page.locator(`[data-testid="${testid}"]`).first().innerText();

test("portfolio shows the colors, ARR at risk, trend and movers", async () => {
  const s = await api("/api/v1/portfolio");
  const m7 = await api("/api/v1/portfolio/movers?window=7&page_size=5");
  const trend = await api("/api/v1/portfolio/trend?weeks=12");
  const page = await open("/");
  assert.equal(await text(page, "as-of"), s.as_of);
  assert.equal(await text(page, "accounts"), String(s.accounts));
  for (const c of ["green", "yellow", "red"]) assert.equal(await text(page, c), String(s.colors[c]), c);
  assert.equal(await text(page, "arr-at-risk"), money(s.arr_at_risk));
  assert.equal(await text(page, "arr-total"), money(s.arr_total));
  const bars = await page.locator("svg.chart rect.bar").count();
  const nonEmpty = trend.points.reduce((n, p) => n + ["green", "yellow", "red"].filter((c) => p[c] > 0).length, 0);
  assert.equal(bars, nonEmpty, "one bar segment per non-zero color and week");
  const rows = page.locator('[data-testid="movers-7"] tbody tr');
  assert.equal(await rows.count(), Math.max(1, m7.items.length));
  if (m7.items.length) assert.match(await rows.first().innerText(), new RegExp(m7.items[0].name));
  assert.equal(await page.locator('[data-testid="by-segment"] tbody tr').count(), (await api("/api/v1/portfolio/breakdown?by=segment")).total);
  await page.shot("portfolio");
  await page.close();
});

test("account list filters, sorts and pages", async () => {
  const all = await api("/api/v1/accounts?page_size=50");
  const page = await open("/accounts");
  assert.equal(await text(page, "total"), String(all.total));
  const rows = page.locator('[data-testid="accounts"] tbody tr');
  assert.equal(await rows.count(), all.items.length);
  assert.equal(await rows.first().getAttribute("data-account"), all.items[0].account_id);
  await page.shot("accounts");
  // Filter through the form.
  await page.selectOption('select[name="color"]', "red");
  await Promise.all([page.waitForNavigation(), page.click('form.filters button[type="submit"]')]);
  const red = await api("/api/v1/accounts?color=red");
  assert.match(page.url(), /color=red/);
  assert.equal(await text(page, "total"), String(red.total));
  for (const b of await page.locator('[data-testid="accounts"] tbody tr .badge').allInnerTexts()) assert.equal(b, "red");
  // Sort by ARR (descending first) with a click on the header.
  await Promise.all([page.waitForNavigation(), page.click('[data-testid="accounts"] thead a:has-text("ARR")')]);
  const byArr = await api("/api/v1/accounts?color=red&sort=-arr");
  assert.match(page.url(), /sort=-arr/);
  assert.equal(await rows.first().getAttribute("data-account"), byArr.items[0].account_id);
  await page.shot("accounts-red-by-arr");
  await page.close();
});

test("account detail tells the story: score, charts with thresholds, readiness, alerts", async () => {
  const list = await api("/api/v1/accounts?red_flag=usage_declining&sort=score&page_size=1");
  const id = list.items[0].account_id;
  const d = await api(`/api/v1/accounts/${encodeURIComponent(id)}`);
  const page = await open(`/accounts/${encodeURIComponent(id)}`);
  assert.equal(await text(page, "name"), d.attributes.name);
  assert.equal(await text(page, "score"), d.health.score.toFixed(1));
  assert.equal(await text(page, "arr"), money(d.attributes.arr));
  assert.equal(await page.locator("svg.chart").count(), 2);
  const labels = await page.locator("svg.chart text.tlabel").allTextContents();
  assert.ok(labels.includes("green ≥ 70") && labels.includes("yellow ≥ 40"), labels.join(", "));
  assert.ok(labels.some((l) => l.startsWith("low engagement")), labels.join(", "));
  assert.equal(await page.locator("svg.chart g.s-score polyline").count(), 1);
  // Measures with data, then those without (SPEC v3 section 10: `missing`).
  assert.equal(await page.locator('[data-testid="measures"] tbody tr').count(),
    d.health.measures.length + d.health.missing_measures.length);
  assert.equal(await page.locator('[data-testid="reasons"] li').count(), d.health.reasons.length);
  assert.equal(await text(page, "readiness-total"), d.readiness.total.toFixed(2));
  assert.equal(await page.locator('[data-testid="blockers"] li').count(), Math.max(1, d.readiness.blockers.length));
  assert.equal(await page.locator('[data-testid="dimensions"] tbody tr').count(), 5);
  assert.equal(await page.locator('[data-testid="open-alerts"] tbody tr').count(), Math.max(1, d.open_alerts.length));
  await page.shot("account-detail");
  await page.close();
});

test("graduation pipeline counts verdicts and lists the nearest to ready", async () => {
  const g = await api("/api/v1/graduation");
  const page = await open("/graduation");
  assert.equal(await text(page, "onboarding"), String(g.onboarding));
  assert.equal(await text(page, "ready"), String(g.ready));
  assert.equal(await text(page, "close"), String(g.close));
  assert.equal(await text(page, "not-ready"), String(g.not_ready));
  assert.equal(await text(page, "overdue"), String(g.overdue));
  assert.equal(await text(page, "recovery"), String(g.recovery_plan_needed));
  const nearest = page.locator('[data-testid="nearest"] li');
  assert.equal(await nearest.count(), g.nearest_to_ready.length);
  assert.match(await nearest.first().innerText(), new RegExp(g.nearest_to_ready[0].name));
  assert.equal(await text(page, "total"), String(g.onboarding));
  await page.shot("graduation");
  await page.close();
});

test("alerts feed: counts by rule, and acknowledging in place", async () => {
  const s = await api("/api/v1/alerts/summary");
  const page = await open("/alerts?acknowledged=false");
  assert.equal(await text(page, "open"), String(s.open));
  assert.equal(await page.locator('[data-testid="by-rule"] tbody tr').count(), s.by_rule.length);
  await page.shot("alerts");
  const form = page.locator("form.ack").first();
  const alertId = await form.getAttribute("data-alert");
  await form.locator('input[name="by"]').fill("Browser Test");
  await form.locator('input[name="note"]').fill("checked in the dashboard");
  await form.locator("button").click();
  const row = page.locator(`tr[data-alert="${alertId}"] .acked`);
  await row.waitFor({ timeout: 10_000 });
  assert.match(await row.innerText(), /acknowledged by Browser Test/);
  const acked = await api(`/api/v1/alerts?acknowledged=true&page_size=100`);
  const a = acked.items.find((x) => x.alert_id === alertId);
  assert.ok(a, "the API shows the acknowledgement");
  assert.equal(a.acknowledged.by, "Browser Test");
  assert.equal(a.acknowledged.note, "checked in the dashboard");
  await page.shot("alerts-acknowledged");
  await page.close();
});

/** `$1,234,567`: the renewals pages' whole-dollar format. */
function dollars(v) {
  return `$${Math.round(v).toLocaleString("en-US")}`;
}

test("renewal forecast: the windows, the accounts behind them, the calibration and the back-cast", async () => {
  const r = await api("/api/v1/renewals");
  assert.ok(r.calibration.outcomes > 0, "the fixtures carry a year of renewal outcomes");
  const page = await open("/");
  await Promise.all([page.waitForNavigation(), page.click('header nav a[href="/renewals"]')]);
  assert.equal(await text(page, "as-of"), r.as_of);
  for (const w of r.windows) {
    assert.equal(await text(page, `renewals-${w.days}`), String(w.renewals), `window ${w.days}`);
    assert.equal(await text(page, `arr-due-${w.days}`), dollars(w.arr_due));
    assert.equal(await text(page, `retained-${w.days}`), dollars(w.expected_retained_arr));
  }
  const w180 = r.windows.find((w) => w.days === 180);
  assert.ok(w180.accounts.length > 0, "renewals due in the next 180 days");
  const rows = page.locator('[data-testid="renewal-accounts"] tbody tr');
  assert.equal(await rows.count(), w180.accounts.length);
  assert.equal(await rows.first().getAttribute("data-account"), w180.accounts[0].account_id);
  assert.equal(await page.locator('[data-testid="renewal-accounts"] tbody tr[data-window="90"]').count(),
    r.windows.find((w) => w.days === 90).renewals);
  assert.equal(await page.locator('[data-testid="calibration"] tbody tr').count(), 9, "3 horizons x 3 colors");
  const p30green = r.calibration.horizons[0].green.p_lost;
  assert.match(await page.locator('[data-testid="calibration"] tr[data-horizon="30"][data-color="green"]').innerText(),
    new RegExp(`${(p30green * 100).toFixed(1)}%`));
  assert.equal(await page.locator('[data-testid="backcast"] tbody tr').count(), r.backcast.length);
  assert.equal(await page.locator("svg.chart rect.bar").count(), 3 * r.backcast.length, "due, forecast, actual per quarter");
  assert.ok(r.backcast.some((q) => q.renewals > 0), "past quarters with renewals");
  await page.shot("renewals");
  // The accounts behind the number link to their pages.
  const first = w180.accounts[0];
  await Promise.all([page.waitForNavigation(), rows.first().locator("a").click()]);
  assert.equal(new URL(page.url()).pathname, `/accounts/${encodeURIComponent(first.account_id)}`);
  assert.equal(await text(page, "name"), first.name || first.account_id);
  await page.close();
});

test("scorecard accuracy: backtest by horizon, misses and false alarms linked to accounts", async () => {
  const a = await api("/api/v1/accuracy");
  assert.ok(a.outcomes > 0, "the fixtures carry a year of renewal outcomes");
  const page = await open("/accuracy");
  assert.equal(await text(page, "as-of"), a.as_of);
  assert.equal(await text(page, "outcomes"), String(a.outcomes));
  assert.equal(await text(page, "lost"), String(a.lost));
  assert.equal(await page.locator('[data-testid="backtest"] tbody tr').count(), a.horizons.length);
  for (const h of a.horizons) {
    assert.equal(await text(page, `auc-${h.horizon_days}`), h.auc === null ? "—" : h.auc.toFixed(2), `auc ${h.horizon_days}`);
  }
  assert.equal(await page.locator('[data-testid="graduation"] tbody tr').count(), 3);
  const missed = page.locator('[data-testid="lost-while-green"] tbody tr');
  const alarms = page.locator('[data-testid="red-that-renewed"] tbody tr');
  assert.equal(await missed.count(), Math.max(1, a.lost_while_green.length));
  assert.equal(await alarms.count(), Math.max(1, a.red_that_renewed.length));
  const listed = [...a.lost_while_green, ...a.red_that_renewed];
  assert.ok(listed.length > 0, "the demo has misses or false alarms");
  // The last reconcile run (scripts/browser-test runs one; the fixtures have no raw
  // usage events, so it found differences) is one line, with the API's numbers.
  const { last_run: run } = await api("/api/v1/reconcile");
  assert.ok(run && run.differences > 0, "scripts/browser-test ran pulse reconcile over the fixtures");
  const line = page.locator('[data-testid="reconcile"]');
  assert.equal(await line.count(), 1);
  assert.equal(await line.getAttribute("data-differences"), String(run.differences));
  assert.match(await line.innerText(), /^Stored results differ from the raw events: \d+ differences over \d+ accounts × \d+ days/);
  assert.equal(await text(page, "reconcile-differences"), String(run.differences));
  assert.equal(await text(page, "reconcile-accounts"), String(run.accounts));
  assert.equal(await text(page, "reconcile-days"), String(run.days));
  await page.shot("accuracy");
  const [table, item] = a.lost_while_green.length
    ? ["lost-while-green", a.lost_while_green[0]]
    : ["red-that-renewed", a.red_that_renewed[0]];
  const row = page.locator(`[data-testid="${table}"] tbody tr[data-account="${item.account_id}"]`);
  await Promise.all([page.waitForNavigation(), row.locator("a").first().click()]);
  assert.equal(new URL(page.url()).pathname, `/accounts/${encodeURIComponent(item.account_id)}`);
  assert.equal(await text(page, "name"), item.name || item.account_id);
  await page.close();
});

test("an account with insufficient data shows its status, coverage and each input's date", async () => {
  const list = await api("/api/v1/accounts?data_status=insufficient&page_size=1");
  assert.ok(list.items.length > 0, "the demo has accounts with insufficient data");
  const id = list.items[0].account_id;
  const d = await api(`/api/v1/accounts/${encodeURIComponent(id)}`);
  assert.equal(d.health.data_status, "insufficient");
  assert.notEqual(d.health.color, "green", "an insufficient result is never green (SPEC v3 section 10)");
  const page = await open(`/accounts/${encodeURIComponent(id)}`);
  assert.equal(await page.locator('[data-testid="data-status"]').getAttribute("data-status"), "insufficient");
  assert.ok(await page.locator('[data-testid="data-status"] .dq.insufficient').isVisible(), "insufficient badge");
  assert.equal(await text(page, "coverage"), `coverage ${Math.round(d.health.coverage * 100)}%`);
  const measures = page.locator('[data-testid="measures"] tbody tr');
  assert.equal(await measures.count(), d.health.measures.length + d.health.missing_measures.length);
  for (const m of d.health.measures) {
    const row = page.locator(`[data-testid="measures"] tr[data-measure="${m.name}"]`);
    assert.equal(await row.getAttribute("data-state"), m.state, m.name);
    assert.match(await row.innerText(), m.as_of ? new RegExp(`as of ${m.as_of}`) : /no input/, m.name);
  }
  for (const m of d.health.missing_measures) {
    assert.ok(await page.locator(`[data-testid="measures"] tr[data-measure="${m}"] .dq.missing`).isVisible(), `${m} missing`);
  }
  for (const [dim, r] of Object.entries(d.readiness.dimensions)) {
    const row = page.locator(`[data-testid="dimensions"] tr[data-dimension="${dim}"]`);
    assert.equal(await row.getAttribute("data-state"), r.state, dim);
    if (r.as_of) assert.match(await row.innerText(), new RegExp(`as of ${r.as_of}`), dim);
  }
  await page.shot("account-insufficient");
  await page.close();
});

/** Runs one statement on the API's ClickHouse database. */
async function clickhouse(sql) {
  const r = await fetch(`${CH}/?database=${encodeURIComponent(CH_DB)}`, { method: "POST", body: sql });
  assert.equal(r.status, 200, `${sql}: ${await r.text()}`);
}

// Writes into the database: runs after every test that reads the fixtures as loaded.
test("a stalled source: a banner on every page, stale results counted and badged", async () => {
  assert.ok(CH_DB, "PULSE_CH_DATABASE must be set");
  // The usage feed stopped 6 h 12 min ago; the scorer noticed 4 h ago and, as it does
  // while a source is stalled, published the newest day's results as stale.
  await clickhouse(
    "INSERT INTO system_alerts SELECT 'source_stalled', 'usage', now64(3) - INTERVAL 4 HOUR, 'opened', " +
      "now64(3) - INTERVAL 4 HOUR, now64(3) - INTERVAL 372 MINUTE, 8280, 7200, 'usage feed stalled', now64(3)",
  );
  await clickhouse(
    "INSERT INTO account_health SELECT * REPLACE (CAST('stale', 'LowCardinality(String)') AS data_status, " +
      "replaceRegexpOne(result, '\"data_status\":\"[a-z]+\"', '\"data_status\":\"stale\"') AS result, " +
      "computed_at + 1 AS computed_at) FROM account_health FINAL WHERE as_of = (SELECT max(as_of) FROM account_health)",
  );
  const sources = await api("/api/v1/sources");
  assert.equal(sources.stalled.length, 1);
  assert.match(sources.stalled[0].message, /^usage feed 6 h behind since /);
  const s = await api("/api/v1/portfolio");
  assert.equal(s.data_status.stale, s.accounts, "every result of the day rests on the stalled feed");
  for (const p of ["/", "/accounts", "/graduation", "/alerts", "/renewals", "/accuracy"]) {
    const page = await open(p);
    const banner = page.locator('[data-testid="stalled-source"]');
    assert.equal(await banner.count(), 1, `${p}: one banner`);
    assert.ok(await banner.isVisible(), `${p}: banner visible`);
    assert.match(await banner.innerText(), new RegExp(sources.stalled[0].message), p);
    if (p === "/") {
      assert.equal(await text(page, "stale"), String(s.data_status.stale));
      await page.shot("portfolio-stalled-source");
    }
    if (p === "/accounts") {
      const badge = page.locator('[data-testid="accounts"] tbody tr .dq.stale').first();
      assert.ok(await badge.isVisible(), "a stale badge in the list");
      assert.equal(await text(page, "list-stale"), String(s.data_status.stale));
      await Promise.all([page.waitForNavigation(), page.locator('[data-testid="accounts"] tbody tr a').first().click()]);
      assert.ok(await page.locator('[data-testid="data-status"] .dq.stale').isVisible(), "the account's stale badge");
      assert.equal(await page.locator('[data-testid="stalled-source"]').count(), 1, "the account page's banner");
      await page.shot("account-stale");
    }
    await page.close();
  }
});

test("without credentials the dashboard answers 401", async () => {
  const r = await fetch(BASE + "/");
  assert.equal(r.status, 401);
  assert.match(r.headers.get("www-authenticate") ?? "", /^Basic/);
  const ok = await fetch(BASE + "/healthz");
  assert.equal(ok.status, 200);
});
