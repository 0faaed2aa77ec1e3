// matrix-js-sdk with the mail the server sends, read the way a person reads
// it, from the Maildir a real SMTP server (aiosmtpd) writes:
//   - register with an e-mail address: requestRegisterEmailToken, open the
//     link in the mail, then register through InteractiveAuth, whose
//     m.login.email.identity stage polls until the address is validated;
//     the new account lists the address;
//   - forget the password: requestPasswordEmailToken, open the link (a page
//     with a form: nothing happens until it is submitted), submit the form,
//     set a new password with the validated session, log in with it;
//   - the same link opened twice does nothing the second time.
//
// Usage: node js_sdk_email.mjs BASE_URL MAILDIR   (exit status 0 only if every step passed)

import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

import { simpleParser } from "mailparser";
import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

logger.setLevel("warn");

const PASSWORD = "correct horse battery staple";
const NEW_PASSWORD = "a whole new passphrase 9";

function check(condition, what) {
    if (!condition) throw new Error(what);
    console.log(`ok   ${what}`);
}

/** The Maildir files already read. */
const read = new Set();

/** Waits for a mail to `address` in the Maildir that was not read yet,
 * and parses it. */
async function nextMailTo(maildir, address) {
    const deadline = Date.now() + 15000;
    for (;;) {
        for (const folder of ["new", "cur"]) {
            let names = [];
            try {
                names = await readdir(join(maildir, folder));
            } catch {
                // aiosmtpd makes the folders with the first mail
            }
            for (const name of names) {
                if (read.has(name)) continue;
                const mail = await simpleParser(await readFile(join(maildir, folder, name)));
                if (mail.to?.value.some((to) => to.address === address)) {
                    read.add(name);
                    return mail;
                }
            }
        }
        if (Date.now() > deadline) throw new Error(`no new mail to ${address}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
}

/** The first link in a mail's plain text. */
function linkIn(mail) {
    const link = mail.text.match(/https?:\/\/\S+/)?.[0];
    if (!link) throw new Error(`no link in the mail:\n${mail.text}`);
    return link;
}

async function page(url, init) {
    const response = await fetch(url, init);
    return { status: response.status, html: await response.text() };
}

async function registerWithEmail(baseUrl, maildir, user, address) {
    const client = sdk.createClient({ baseUrl });
    let sid;
    let validation;
    let failed;
    const failure = new Promise((_, reject) => (failed = reject));
    const auth = new sdk.InteractiveAuth({
        matrixClient: client,
        // With an address to offer, the SDK picks the flow with the e-mail stage.
        inputs: { emailAddress: address },
        doRequest: (authDict) =>
            client.registerRequest({ username: user, password: PASSWORD, auth: authDict ?? undefined }),
        requestEmailToken: async (email, clientSecret, attempt) => {
            const answer = await client.requestRegisterEmailToken(email, clientSecret, attempt);
            sid = answer.sid;
            return answer;
        },
        stateUpdated: (stage) => {
            if (stage !== "m.login.email.identity") return failed(new Error(`unexpected stage ${stage}`));
            // Each poll that finds the address unvalidated calls this again:
            // the person reads the mail once.
            validation ??= (async () => {
                const mail = await nextMailTo(maildir, address);
                check(mail.html && mail.text, "the mail has a plain-text and an HTML part");
                const validated = await page(linkIn(mail));
                check(validated.status === 200 && /validated/i.test(validated.html), "the link validates the address");
                // What Element does on a timer: ask whether the stage is done.
                await auth.poll();
            })().catch(failed);
        },
    });
    const registered = await Promise.race([auth.attemptAuth(), failure]);
    check(registered.user_id === `@${user}:localhost`, `registered ${registered.user_id} with the e-mail stage`);
    check(typeof sid === "string", "requestRegisterEmailToken answered a sid");
    const owner = sdk.createClient({ baseUrl, accessToken: registered.access_token, userId: registered.user_id });
    const { threepids } = await owner.getThreePids();
    check(
        threepids.some((t) => t.medium === "email" && t.address === address),
        "the new account has the address",
    );
}

async function forgottenPassword(baseUrl, maildir, user, address) {
    const client = sdk.createClient({ baseUrl });
    const secret = client.generateClientSecret();
    const { sid } = await client.requestPasswordEmailToken(address, secret, 1);
    const mail = await nextMailTo(maildir, address);
    const link = linkIn(mail);

    // The link shows a form; opening it (as a mail scanner would) changes nothing.
    const opened = await page(link);
    const action = opened.html.match(/<form method="post" action="([^"]+)"/)?.[1]?.replaceAll("&amp;", "&");
    check(opened.status === 200 && action, "the reset link opens a confirmation form");
    const early = await client
        .setPassword({ type: "m.login.email.identity", threepid_creds: { sid, client_secret: secret } }, NEW_PASSWORD)
        .then(() => null, (error) => error);
    check(early?.httpStatus === 401, `before the form is submitted the session does not reset (${early?.errcode})`);

    const submitted = await page(new URL(action, link), { method: "POST" });
    check(submitted.status === 200 && /validated/i.test(submitted.html), "submitting the form validates");
    await client.setPassword(
        { type: "m.login.email.identity", threepid_creds: { sid, client_secret: secret } },
        NEW_PASSWORD,
        true,
    );
    const login = await client.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user },
        password: NEW_PASSWORD,
    });
    check(login.user_id === `@${user}:localhost`, "the new password logs in");
    const old = await client
        .loginRequest({ type: "m.login.password", identifier: { type: "m.id.user", user }, password: PASSWORD })
        .then(() => null, (error) => error);
    check(old?.errcode === "M_FORBIDDEN", "the old password does not");

    const again = await page(new URL(action, link), { method: "POST" });
    check(again.status === 200 && /does not work/i.test(again.html), "the link works once");
}

const [baseUrl, maildir] = process.argv.slice(2);
if (!baseUrl || !maildir) {
    console.error("usage: node js_sdk_email.mjs BASE_URL MAILDIR");
    process.exit(2);
}
const user = `mail${randomBytes(3).toString("hex")}`;
const address = `${user}@example.org`;
try {
    await registerWithEmail(baseUrl, maildir, user, address);
    await forgottenPassword(baseUrl, maildir, user, address);
    console.log("js-sdk e-mail flows: every step passed");
} catch (error) {
    console.error(`FAIL ${error.stack ?? error}`);
    process.exit(1);
}
