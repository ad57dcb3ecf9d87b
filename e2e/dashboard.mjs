// The browser half of e2e/run: enqueues two batches over the HTTP API, then drives
// chromium through the dashboard. Every step throws on failure (exit 1).
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { randomUUID } from "node:crypto";

const base = process.env.E2E_BASE;
const token = process.env.E2E_TOKEN;
const readToken = process.env.E2E_READ_TOKEN;
const batch = process.env.E2E_BATCH;
const other = `${batch}-b`;
const out = new URL("./out/", import.meta.url).pathname;
// The README's screenshots are rewritten only when asked (FLUXQ_E2E_README_IMAGES=1), so
// a test run leaves the working tree as it found it.
const img = process.env.FLUXQ_E2E_README_IMAGES === "1"
  ? new URL("../docs/img/", import.meta.url).pathname
  : out;
mkdirSync(out, { recursive: true });
mkdirSync(img, { recursive: true });

function check(ok, what) {
  if (!ok) throw new Error(what);
}

async function step(name, fn) {
  const t = Date.now();
  process.stdout.write(`e2e: ${name} ... `);
  const r = await fn();
  console.log(`ok (${Date.now() - t} ms)`);
  return r;
}

async function api(path, init = {}) {
  const r = await fetch(base + path, {
    ...init,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...init.headers },
  });
  const body = await r.json().catch(() => null);
  return { status: r.status, body };
}

async function enqueue(name, prompts) {
  const jobs = prompts.map((prompt, i) => ({
    id: randomUUID(), model: "flux-2-pro", prompt, width: 512, height: 512, seed: i + 1,
  }));
  const r = await api(`/v1/jobs?batch=${encodeURIComponent(name)}`, { method: "POST", body: JSON.stringify({ jobs }) });
  check(r.status === 202, `enqueue ${name}: ${r.status} ${JSON.stringify(r.body)}`);
}

async function login(context, t) {
  const page = await context.newPage();
  await page.goto(base + "/");
  check(page.url().includes("/login"), `no session goes to /login, not ${page.url()}`);
  await page.fill("#token", t);
  await Promise.all([page.waitForURL(base + "/"), page.click("button[type=submit]")]);
  return page;
}

const subjects = ["a lighthouse at dusk", "a red bicycle", "tulips in rain", "a quiet harbour",
  "a fox in snow", "neon street", "an old library", "desert dunes"];
await step("enqueue two batches over the HTTP API", async () => {
  await enqueue(batch, Array.from({ length: 16 }, (_, i) => `${subjects[i % subjects.length]}, study ${i + 1}`));
  await enqueue(other, ["a paper boat", "a forbidden picture", "a cup of tea"]);
});

const browser = await chromium.launch({
  executablePath: process.env.E2E_CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const problems = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await step("log in with the token", () => login(context, token));
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(String(e)));

  await step("watch the batch reach 100 % without a reload", async () => {
    await page.goto(`${base}/batches/${batch}`);
    const first = Number(await page.getAttribute("#summary .pct", "data-pct"));
    check(first < 100, `the batch was done (${first} %) before its page opened: slow the mock down`);
    await page.evaluate(() => { window.__e2eNoReload = true; });
    await page.waitForFunction(() => document.querySelector("#summary .pct")?.dataset.pct === "100",
      null, { timeout: 90_000 });
    check(await page.evaluate(() => window.__e2eNoReload === true), "the page was reloaded");
    check((await page.textContent("#succeeded")).trim() === "16", "16 succeeded");
  });

  await step("every thumbnail of the gallery loads", async () => {
    // Lazy images load as they come into view.
    for (const el of await page.locator("#gallery img").all()) await el.scrollIntoViewIfNeeded();
    await page.waitForFunction(() => {
      const imgs = [...document.querySelectorAll("#gallery img")];
      return imgs.length === 16 && imgs.every((i) => i.complete && i.naturalWidth > 0);
    }, null, { timeout: 30_000 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: `${img}dashboard-batch.png`, fullPage: true });
  });

  await step("the batches page shows it done", async () => {
    await page.goto(`${base}/`);
    const row = await page.textContent("#batches");
    check(row.includes(batch) && row.includes("16 of 16 done (100 %)"), `batches page: ${row}`);
    await page.screenshot({ path: `${img}dashboard-batches.png` });
  });

  await step("open a job", async () => {
    await page.goto(`${base}/batches/${batch}`);
    await Promise.all([page.waitForURL(/\/jobs\//), page.click("#gallery figure a")]);
    check((await page.textContent("#job .badge")).trim() === "succeeded", "the job succeeded");
    await page.waitForFunction(() => [...document.querySelectorAll(".full img")].every((i) => i.naturalWidth > 0));
    await page.screenshot({ path: `${out}job.png`, fullPage: true });
  });

  await step("replay the second batch's dead letter from its page", async () => {
    const until = Date.now() + 60_000;
    for (;;) {
      const r = await api(`/v1/batches/${other}`);
      if (r.body?.finished) break;
      check(Date.now() < until, `batch ${other} not finished: ${JSON.stringify(r.body)}`);
      await new Promise((f) => setTimeout(f, 250));
    }
    await page.goto(`${base}/batches/${other}`);
    check((await page.textContent("#failed")).trim() === "1", "one failed job");
    check((await page.textContent("#errors")).includes("forbidden"), "its error is listed");
    await page.click("summary:has-text('Replay dead letters')");
    await Promise.all([page.waitForURL(/done=/), page.click("button:has-text('Confirm: Replay dead letters')")]);
    const notice = await page.textContent(".notice");
    check(notice.includes("Replayed 1 dead letter"), `after the replay: ${notice}`);
    await page.screenshot({ path: `${out}batch-controls.png`, fullPage: true });
  });

  await step("cancel a third batch from its page and see its jobs cancelled", async () => {
    const third = `${batch}-c`;
    await enqueue(third, Array.from({ length: 24 }, (_, i) => `${subjects[i % subjects.length]}, take ${i + 1}`));
    await page.goto(`${base}/batches/${third}`);
    await page.click("summary:has-text('Cancel batch')");
    await page.fill("input[name=reason]", "e2e: wrong prompts");
    await Promise.all([page.waitForURL(/done=/), page.click("button:has-text('Confirm: Cancel batch')")]);
    const notice = await page.textContent(".notice");
    check(notice.includes("cancelled now"), `after the cancel: ${notice}`);
    const cancelled = Number((await page.textContent("#cancelled")).trim());
    check(cancelled > 0, `cancelled jobs shown: ${cancelled}`);
    // The jobs already at the provider finish; the bar then reaches 100 % live.
    await page.waitForFunction(() => document.querySelector("#summary .pct")?.dataset.pct === "100",
      null, { timeout: 60_000 });
    await page.screenshot({ path: `${out}batch-cancelled.png`, fullPage: true });
  });

  await step("pause and resume the bulk lane", async () => {
    await page.goto(`${base}/lanes`);
    await Promise.all([page.waitForURL(/done=/), page.click("button:has-text('Pause bulk')")]);
    check((await page.textContent("#lanes")).includes("paused"), "bulk paused");
    await Promise.all([page.waitForURL(/done=/), page.click("button:has-text('Resume bulk')")]);
    check(!(await page.textContent("#lanes")).includes("paused since"), "bulk running again");
  });

  await step("dead letters, accounts and lanes pages", async () => {
    for (const [path, id] of [["/dead", "main"], ["/accounts", "#accounts"], ["/lanes", "#lanes"]]) {
      const r = await page.goto(base + path);
      check(r.status() === 200, `${path}: ${r.status()}`);
      await page.waitForSelector(id);
      await page.screenshot({ path: `${out}${path.slice(1)}.png`, fullPage: true });
    }
    check((await page.textContent("#accounts, #lanes")) !== null, "tables");
  });

  await step("a read token sees no controls", async () => {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const p = await login(ctx, readToken);
    await p.goto(`${base}/batches/${other}`);
    check((await p.locator("details.control").count()) === 0, "no controls for read");
    await p.screenshot({ path: `${out}phone-batch.png`, fullPage: true });
    await ctx.close();
  });
  check(problems.length === 0, `errors in the browser console: ${problems.join(" | ")}`);
} finally {
  await browser.close();
}
