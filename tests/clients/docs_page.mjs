// The reference page at /docs, as a person opens it: headless Chromium
// loads it with no network but the server, no console error or failed
// request, every operationId of the published document has its anchor,
// and a screenshot is saved (a CI artefact).
//
// Usage: node docs_page.mjs BASE_URL CHROMIUM SCREENSHOT.png

import { chromium } from "playwright-core";

function check(condition, what) {
    if (!condition) throw new Error(what);
    console.log(`ok   ${what}`);
}

const [base, executablePath, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
    executablePath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = [];
    page.on("console", (message) => { if (message.type() === "error") problems.push(`console: ${message.text()}`); });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("requestfailed", (request) => problems.push(`failed request: ${request.url()}`));
    const requested = [];
    page.on("request", (request) => requested.push(request.url()));

    const response = await page.goto(`${base}/docs`, { waitUntil: "load" });
    check(response.status() === 200, `GET /docs is 200 (got ${response.status()})`);
    check((response.headers()["content-type"] || "").startsWith("text/html"), "served as text/html");
    check(problems.length === 0, `no console errors or failed requests (${problems.join("; ") || "none"})`);
    check(requested.every((url) => url.startsWith(base)), "nothing is fetched from elsewhere");
    check(await page.evaluate(() => document.scripts.length) === 0, "no scripts");

    const published = await (await fetch(`${base}/openapi.json`)).json();
    const ids = new Set();
    for (const item of Object.values(published.paths)) {
        for (const operation of Object.values(item)) {
            if (operation && operation.operationId) ids.add(operation.operationId);
        }
    }
    const anchors = new Set(await page.evaluate(() => [...document.querySelectorAll("[id]")].map((a) => a.id)));
    const missing = [...ids].filter((id) => !anchors.has(id));
    check(missing.length === 0, `every operationId has its anchor (${ids.size} operations; missing: ${missing.join(", ") || "none"})`);

    await page.goto(`${base}/docs#register`);
    await page.screenshot({ path: screenshot });
    check(true, `screenshot at ${screenshot}`);
} finally {
    await browser.close();
}
