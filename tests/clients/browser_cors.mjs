// A web page on another origin talks to the server from headless Chromium:
// the preflighted requests a web client such as Element makes. The page can
// read a 401 UIA challenge, complete the registration, call whoami with an
// `Authorization` header, and read the Matrix errors (401 M_UNKNOWN_TOKEN,
// 405 M_UNRECOGNIZED, 404 M_UNRECOGNIZED for a path not in api/) — none of which a browser allows without CORS headers.
//
// Usage: node browser_cors.mjs BASE_URL CHROMIUM     (exit status 0 only if every check passed)

import { createServer } from "node:http";

import { chromium } from "playwright-core";

function check(condition, what) {
    if (!condition) throw new Error(what);
    console.log(`ok   ${what}`);
}

/** What the page does, in the page: every answer as {status, body}. */
async function pageScript(base) {
    const call = async (method, path, body, token) => {
        const headers = { "Content-Type": "application/json" };
        if (token) headers.Authorization = `Bearer ${token}`;
        const response = await fetch(base + path, {
            method,
            headers,
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: response.status, body: await response.json() };
    };
    const name = `browser_${Math.random().toString(16).slice(2, 10)}`;
    const results = {};
    results.versions = await call("GET", "/_matrix/client/versions");
    results.challenge = await call("POST", "/_matrix/client/v3/register", { username: name, password: "pw-browser-1" });
    const session = results.challenge.body.session;
    results.registered = await call("POST", "/_matrix/client/v3/register", {
        auth: { type: "m.login.dummy", session },
    });
    const token = results.registered.body.access_token;
    results.whoami = await call("GET", "/_matrix/client/v3/account/whoami", undefined, token);
    results.unknownToken = await call("GET", "/_matrix/client/r0/account/whoami", undefined, "mat_not_a_token");
    results.wrongMethod = await call("PUT", "/_matrix/client/v3/login", {});
    // A path that is not in api/ at all: a client probing an optional
    // endpoint must be able to read its 404 M_UNRECOGNIZED.
    try {
        results.unknownPath = await call("GET", "/_matrix/client/v3/not-in-the-api");
    } catch (error) {
        results.unknownPath = { error: String(error) };
    }
    results.name = name;
    return results;
}

async function main(base, executablePath) {
    // The page's own origin: another port, so every call is cross-origin.
    const page = createServer((_, response) => {
        response.writeHead(200, { "Content-Type": "text/html" });
        response.end("<!doctype html><title>another origin</title><p>client</p>");
    });
    await new Promise((resolve) => page.listen(0, "127.0.0.1", resolve));
    const origin = `http://127.0.0.1:${page.address().port}`;
    // Playwright gives each launch a new empty profile (--user-data-dir).
    const browser = await chromium.launch({
        executablePath,
        headless: true,
        args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    });
    try {
        const tab = await browser.newPage();
        const failures = [];
        tab.on("console", (message) => {
            if (/CORS|Access-Control/i.test(message.text())) failures.push(message.text());
        });
        await tab.goto(origin);
        check(new URL(tab.url()).origin !== new URL(base).origin, `the page (${origin}) is on another origin`);
        const results = await tab.evaluate(pageScript, base);

        const { versions, challenge, registered, whoami, unknownToken, wrongMethod, unknownPath } = results;
        const userId = `@${results.name}:localhost`;
        check(versions.status === 200 && versions.body.versions.includes("v1.1"), "GET /versions is readable");
        check(challenge.status === 401, `the UIA challenge is readable: ${JSON.stringify(challenge)}`);
        // The dummy flow first; the e-mail one follows when the server sends mail.
        const flows = JSON.stringify(challenge.body.flows?.[0]);
        check(flows === '{"stages":["m.login.dummy"]}' && challenge.body.session, "with its flows and session");
        check(registered.status === 200 && registered.body.user_id === userId, "registration completes");
        check(whoami.status === 200 && whoami.body.user_id === userId, "whoami with an Authorization header");
        check(unknownToken.status === 401 && unknownToken.body.errcode === "M_UNKNOWN_TOKEN", "401 M_UNKNOWN_TOKEN");
        check(unknownToken.body.soft_logout === false, "with soft_logout");
        check(wrongMethod.status === 405 && wrongMethod.body.errcode === "M_UNRECOGNIZED", "405 M_UNRECOGNIZED");
        check(unknownPath.status === 404 && unknownPath.body.errcode === "M_UNRECOGNIZED",
            `an unknown path is a readable 404 M_UNRECOGNIZED (${JSON.stringify(unknownPath)})`);
        check(failures.length === 0, `no CORS error at all: ${failures.join(" | ") || "none"}`);
    } finally {
        await browser.close();
        page.close();
    }
}

const [base, executablePath] = process.argv.slice(2);
if (!base || !executablePath) {
    console.error("usage: node browser_cors.mjs BASE_URL CHROMIUM");
    process.exit(2);
}
try {
    await main(base.replace(/\/$/, ""), executablePath);
    console.log("browser CORS: every check passed");
    process.exit(0);
} catch (error) {
    console.error(`FAIL ${error?.stack ?? error}`);
    process.exit(1);
}
