// The admin UI end to end in Debian's Chromium, against the real server and a real SMTP
// server (started by scripts/browser-test.sh, which sets the environment read below).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.BASE_URL;
const MAILDIR = process.env.MAILDIR;
const SHOTS = process.env.SCREENSHOTS;
const ADMIN = [process.env.ADMIN_EMAIL, process.env.ADMIN_PASSWORD];
const MARKETER = [process.env.MARKETER_EMAIL, process.env.MARKETER_PASSWORD];

let browser;
let admin; // the admin's page, signed in once
let mailingUrl;

const mails = () => {
  const dir = path.join(MAILDIR, "new");
  return fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f), "utf8")) : [];
};

async function until(what, check, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(context, [email, password]) {
  const page = await context.newPage();
  page.on("dialog", (d) => d.accept());
  await page.goto(`${BASE}/admin/`);
  assert.match(page.url(), /\/admin\/login\?next=/, "signed out: sent to the sign-in page");
  await page.getByLabel("E-mail address").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${BASE}/admin/`);
  return page;
}

before(async () => {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  admin = await signIn(context, ADMIN);
});

after(async () => {
  await browser?.close();
});

test("signs in and shows the dashboard", async () => {
  assert.equal(await admin.getByRole("heading", { level: 1 }).textContent(), "Dashboard");
});

test("a wrong password is refused", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${BASE}/admin/login`);
  await page.getByLabel("E-mail address").fill(ADMIN[0]);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("The e-mail address or password is not right.").waitFor();
  await context.close();
});

test("creates an opt-in", async () => {
  await admin.goto(`${BASE}/admin/optins/new`);
  await admin.getByLabel("Key").fill("news");
  await admin.locator("#name_en").fill("News");
  await admin.locator("#name_nl").fill("Nieuws");
  await admin.locator("#optin_text_en").fill("Yes, send me the Paradiso news.");
  // A single opt-in: the imported audience agreed at the ticket shop.
  await admin.getByLabel("Double opt-in (a confirmation mail first)").uncheck();
  await admin.getByLabel("Default opt-in of the organisation").check();
  await admin.getByRole("button", { name: "Create" }).click();
  await admin.waitForURL(`${BASE}/admin/optins/news?notice=created`);
  await admin.getByText("Created.").waitFor();
  await shot(admin, "optin");
});

test("imports a CSV with a column mapping", async () => {
  await admin.goto(`${BASE}/admin/imports`);
  const csv = "E-mail;Voornaam;Stad;Nieuwsbrief\nzoe@example.nl;Zoë;Utrecht;ja\nbram@example.nl;Bram;Delft;ja\nfenna@example.nl;Fenna;Amsterdam;ja\nnot-an-address;Nope;Delft;ja\n";
  await admin.getByLabel(/CSV file/).setInputFiles({ name: "fans.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await admin.getByRole("button", { name: "Upload and map columns" }).click();
  await admin.waitForURL(/\/admin\/imports\/new\//);
  // The first rows are shown; E-mail and Voornaam are recognised.
  await admin.getByRole("cell", { name: "Zoë" }).waitFor();
  assert.equal(await admin.locator("#col_0").inputValue(), "email");
  assert.equal(await admin.locator("#col_1").inputValue(), "first_name");
  await admin.locator("#col_3").selectOption("optin:news");
  await shot(admin, "import-mapping");
  await admin.getByLabel("They agreed elsewhere (say where and how):").check();
  await admin.locator("#note").fill("Ticket shop checkbox, 2026");
  await admin.getByRole("button", { name: "Start the import" }).click();
  await admin.waitForURL(/\/admin\/imports\/\d+/);
  // The page refreshes itself until the import is done.
  await admin.locator(".badge.done").waitFor({ timeout: 30000 });
  await admin.getByRole("cell", { name: /not-an-address|email/ }).first().waitFor();
  await shot(admin, "import");
});

test("finds a contact and shows its consent ledger", async () => {
  await admin.goto(`${BASE}/admin/contacts`);
  await admin.getByLabel("Search by e-mail address or name").fill("zoe");
  await admin.getByRole("button", { name: "Search" }).click();
  await admin.getByRole("link", { name: "zoe@example.nl" }).click();
  await admin.getByRole("heading", { name: "Consent ledger" }).waitFor();
  await admin.getByText("Ticket shop checkbox, 2026").first().waitFor();
  await shot(admin, "contact");
});

test("builds a segment and sees its count", async () => {
  await admin.goto(`${BASE}/admin/segments`);
  await admin.getByLabel("news").check();
  await admin.locator("#field_0").fill("city");
  await admin.locator("#op_0").selectOption("eq");
  await admin.locator("#value_0").fill("Utrecht");
  // The live count follows the form (JavaScript) …
  await until("the live count", async () => (await admin.locator("#live-count").textContent()).trim() === "1 contacts");
  // … and the Count button works without it.
  await admin.getByRole("button", { name: "Count" }).click();
  assert.equal((await admin.locator("#count").textContent()).trim(), "1 contacts");
  await shot(admin, "segments");
});

test("the mailing editor previews the content while it is typed", async () => {
  await admin.goto(`${BASE}/admin/mailings/new`);
  await admin.getByLabel(/^Content \(HTML\)/).fill("<h1>Hi {{ contact.first_name }}, live</h1>");
  // The example contact is Alex; the frame follows the typing (JavaScript) …
  await admin.frameLocator("iframe[name=live-preview]").getByText("Hi Alex, live").waitFor();
  // … and a template error is shown with its place.
  await admin.getByLabel(/^Content \(HTML\)/).fill("<h1>Hi {{ contact.first_name </h1>");
  await admin.frameLocator("iframe[name=live-preview]").getByText(/line 1/).waitFor();
  await admin.getByLabel(/^Content \(HTML\)/).fill("<h1>Hi {{ contact.first_name }}, live</h1>");
  await admin.frameLocator("iframe[name=live-preview]").getByText("Hi Alex, live").waitFor();
  await shot(admin, "mailing-editor");
});

test("creates, test-sends and sends a mailing to the SMTP server", async () => {
  await admin.goto(`${BASE}/admin/mailings/new`);
  await admin.getByLabel(/^Name/).fill("December agenda");
  await admin.getByLabel("Subject").fill("Our December nights, {{ contact.first_name }}");
  await admin.getByLabel("news").check();
  await until("the audience count", async () => (await admin.locator("#live-count").textContent()).trim() === "3 contacts");
  await admin.getByRole("button", { name: "Save as draft" }).click();
  await admin.waitForURL(/\/admin\/mailings\/\d+\?notice=created/);
  mailingUrl = admin.url().split("?")[0];
  await admin.frameLocator("iframe.preview").getByText("Hello").waitFor();
  await shot(admin, "mailing");

  const before = mails().length;
  await admin.getByLabel(/Send a test to/).fill("test@paradiso.test");
  await admin.getByRole("button", { name: "Send test" }).click();
  await admin.getByText("The test mail is on its way.").waitFor();
  await until("the test mail", () => mails().length === before + 1);
  assert.match(mails().find((m) => m.includes("test@paradiso.test")), /Subject: .*December/);

  await admin.getByRole("link", { name: "Send now…" }).click();
  assert.match(await admin.locator("#audience").textContent(), /goes to 3 contacts/);
  await admin.getByRole("button", { name: "Yes, send it" }).click();
  await admin.getByText("Sending has started.").waitFor();
  await until("three mails", () => mails().filter((m) => /^To: .*@example\.nl/m.test(m)).length === 3);
  const zoe = mails().find((m) => m.includes("zoe@example.nl"));
  assert.match(zoe, /List-Unsubscribe:/);
  await until("the mailing to be sent", async () => {
    await admin.goto(mailingUrl);
    return (await admin.locator("h1 .badge").textContent()) === "sent";
  });
});

test("opens the statistics page and finds the chart", async () => {
  await admin.goto(`${mailingUrl}/stats`);
  await admin.locator("figure.chart svg[role=img]").waitFor();
  await admin.getByRole("heading", { name: "Clicks per link" }).waitFor();
  await shot(admin, "statistics");
});

test("creates and publishes an automation", async () => {
  await admin.goto(`${BASE}/admin/automations`);
  await admin.getByLabel("Name").fill("Welcome series");
  await admin.getByLabel(/^Opt-in \(/).selectOption("news");
  await admin.getByLabel("when someone confirms the opt-in below").check();
  await admin.getByLabel("Opt-in that starts it").selectOption("news");
  await admin.getByRole("button", { name: "Create automation" }).click();
  await admin.waitForURL(/\/admin\/automations\/\d+\?notice=created/);
  await admin.getByLabel("Days").fill("2");
  await admin.locator("form:has(input[name=type][value=wait]) button").click();
  await admin.locator("form:has(input[name=type][value=tag])").getByLabel("Add tags").fill("welcomed");
  await admin.locator("form:has(input[name=type][value=tag]) button").click();
  await admin.getByText("Saved.").waitFor();
  assert.equal(await admin.locator("ol.timeline > li").count(), 3, "wait, tag, end");
  await admin.getByRole("button", { name: "Publish the steps" }).click();
  await admin.getByText("Published.").waitFor();
  assert.equal(await admin.locator("h1 .badge").textContent(), "published");
  assert.match(await admin.locator("#code").textContent(), /^[A-Za-z0-9_-]{24}$/);
  await shot(admin, "automation");
});

test("a point of sale shows the checkout widget of an example order", async () => {
  await admin.goto(`${BASE}/admin/partners`);
  await admin.getByText("Add a partner").click();
  await admin.locator("#p-key").fill("mojo");
  await admin.locator("#p-name").fill("Mojo Concerts");
  await admin.getByLabel("Privacy policy (link)").fill("https://mojo.example/privacy");
  await admin.locator("#p-desc-en").fill("Pop and rock concerts all over the country.");
  await admin.getByRole("button", { name: "Add partner" }).click();
  await admin.getByText("Created.").waitFor();
  // The partner's own opt-in.
  await admin.goto(`${BASE}/admin/optins/new`);
  await admin.getByLabel("Key").fill("mojo-news");
  await admin.locator("#name_en").fill("Mojo news");
  await admin.locator("#optin_text_en").fill("Yes, Mojo may mail me about their concerts.");
  await admin.getByLabel(/^Partner/).selectOption("mojo");
  await admin.getByRole("button", { name: "Create" }).click();
  await admin.getByText("Created.").waitFor();
  // A web shop that offers it.
  await admin.goto(`${BASE}/admin/partners`);
  await admin.getByText("Add a point of sale").click();
  await admin.locator("#s-key").fill("web");
  await admin.locator("#s-name").fill("Web shop");
  await admin.getByLabel("Offer partner opt-ins at checkout").check();
  await admin.getByLabel(/Mojo Concerts/).check();
  await admin.locator("#s-theme-accent").fill("#7c2d12");
  await admin.getByRole("button", { name: "Add point of sale" }).click();
  await admin.waitForURL(/\/admin\/points-of-sale\/web/);
  await admin.getByLabel("Language").selectOption("en");
  await admin.getByRole("button", { name: "Show" }).click();
  await admin.getByRole("cell", { name: "Yes, Mojo may mail me about their concerts." }).waitFor();
  const widget = admin.frameLocator("iframe.preview");
  await widget.getByText("Yes, Mojo may mail me about their concerts.").waitFor();
  await shot(admin, "checkout-example");
});

test("a webhook receiver shows what a test payload would write", async () => {
  await admin.goto(`${BASE}/admin/hooks`);
  await admin.getByText("Add a webhook").click();
  await admin.getByLabel("Name").fill("Ticket shop orders");
  await admin.getByRole("button", { name: "Add webhook" }).click();
  assert.match((await admin.locator("#secret").textContent()).trim(), /^hb_hook_/);
  await admin.getByRole("button", { name: "Test", exact: true }).click();
  await admin.locator("#test-result").getByText("someone@example.org").waitFor();
  await shot(admin, "webhook");
});

test("creates and rotates a token", async () => {
  await admin.goto(`${BASE}/admin/tokens`);
  await admin.getByLabel(/^Name/).fill("website sign-up form");
  await admin.getByLabel("lists:read").check();
  await admin.getByRole("button", { name: "Create token" }).click();
  const first = (await admin.locator("#secret").textContent()).trim();
  const api = (secret) => fetch(`${BASE}/api/v1/lists`, { headers: { authorization: `Bearer ${secret}` } }).then((r) => r.status);
  assert.equal(await api(first), 200);
  await shot(admin, "tokens");
  await admin.getByRole("button", { name: "Rotate" }).first().click();
  const second = (await admin.locator("#secret").textContent()).trim();
  assert.notEqual(second, first);
  assert.equal(await api(first), 401, "the old secret fails at once");
  assert.equal(await api(second), 200);
});

test("tests the SMTP relay from the settings", async () => {
  await admin.goto(`${BASE}/admin/settings`);
  await admin.getByRole("button", { name: "Test the connection" }).click();
  await admin.locator("#mail-checks .badge.active").waitFor();
  await shot(admin, "settings");
});

test("the dashboard shows the audience and the mailing", async () => {
  await admin.goto(`${BASE}/admin/`);
  await admin.getByRole("link", { name: "December agenda" }).waitFor();
  await admin.locator("figure.chart svg[role=img]").waitFor();
  await shot(admin, "dashboard");
});

test("a marketer is refused the tokens page", async () => {
  const context = await browser.newContext();
  const page = await signIn(context, MARKETER);
  assert.equal(await page.getByRole("link", { name: "API tokens" }).count(), 0, "no link to it");
  const res = await page.goto(`${BASE}/admin/tokens`);
  assert.equal(res.status(), 403);
  await page.getByText("Only an administrator may open this page.", { exact: false }).waitFor();
  await context.close();
});

test("a form without its CSRF token is refused", async () => {
  await admin.goto(`${BASE}/admin/optins/new`);
  await admin.evaluate(() => document.querySelector("form[action='/admin/optins'] input[name=csrf]").remove());
  await admin.getByLabel("Key").fill("forged");
  await admin.locator("#name_en").fill("Forged");
  const [res] = await Promise.all([
    admin.waitForResponse((r) => r.url().endsWith("/admin/optins")),
    admin.getByRole("button", { name: "Create" }).click(),
  ]);
  assert.equal(res.status(), 403);
  await admin.getByRole("heading", { name: "Form expired" }).waitFor();
  await admin.goto(`${BASE}/admin/optins`);
  assert.equal(await admin.getByRole("link", { name: "forged" }).count(), 0, "nothing was created");
});
