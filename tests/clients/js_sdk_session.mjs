// A matrix-js-sdk session against a running server, the way Element drives
// it: register through InteractiveAuth (the first request has `auth: null`,
// the SDK answers the dummy stage itself, and asks for a refresh token),
// log in (the legacy `user` field, and an identifier), whoami (with the
// header and with the `access_token` query parameter), change the password
// through InteractiveAuth (`auth: null` first, then `m.login.password`), log
// in with the new one, refresh (by hand, and by the SDK itself once an access
// token expired), log out.
//
// Usage: node js_sdk_session.mjs BASE_URL     (exit status 0 only if every step passed)

import { randomBytes } from "node:crypto";

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

logger.setLevel("warn");

const OLD_PASSWORD = "correct horse battery staple";
const NEW_PASSWORD = "tr0ub4dor & 3";

function check(condition, what) {
    if (!condition) throw new Error(what);
    console.log(`ok   ${what}`);
}

/** The MatrixError a promise rejects with. */
async function failure(promise) {
    try {
        const value = await promise;
        return { unexpected: value };
    } catch (error) {
        return error;
    }
}

/** Runs a UIA request the way Element does: InteractiveAuth, answering
 * `m.login.password` with `password` and doing the dummy stage itself. */
function interactive(client, doRequest, user, password) {
    const stages = [];
    const auth = new sdk.InteractiveAuth({
        matrixClient: client,
        doRequest,
        stateUpdated: (stage, state) => {
            stages.push(stage);
            if (stage !== "m.login.password" || state.errcode) {
                throw new Error(`unexpected UIA state ${stage} ${JSON.stringify(state)}`);
            }
            auth.submitAuthDict({
                type: "m.login.password",
                identifier: { type: "m.id.user", user },
                password,
            });
        },
        requestEmailToken: () => Promise.reject(new Error("no e-mail stage expected")),
    });
    return { result: auth.attemptAuth(), stages };
}

async function session(baseUrl) {
    const name = `jssdk_${randomBytes(4).toString("hex")}`;
    const userId = `@${name}:localhost`;
    const anonymous = sdk.createClient({ baseUrl });

    const versions = await anonymous.getVersions();
    check(versions.versions.includes("v1.3"), `/versions lists v1.3: ${versions.versions}`);
    const flows = await anonymous.loginFlows();
    check(flows.flows.some((flow) => flow.type === "m.login.password"), "GET /login offers passwords");
    check(await anonymous.isUsernameAvailable(name), "the name is available");

    // Register: `auth: null` first, then the SDK completes m.login.dummy.
    const requests = [];
    const registration = interactive(
        anonymous,
        (auth) => {
            requests.push(auth);
            return anonymous.register(name, OLD_PASSWORD, null, auth);
        },
        name,
        OLD_PASSWORD,
    );
    const registered = await registration.result;
    check(requests.length === 2 && requests[0] === null, `two register requests, the first without auth`);
    check(requests[1].type === "m.login.dummy" && requests[1].session, "the SDK completed the dummy stage");
    check(registered.user_id === userId, `registered as ${registered.user_id}`);
    check(registered.refresh_token && registered.expires_in_ms > 0, "the SDK asked for, and got, a refresh token");
    check((await anonymous.isUsernameAvailable(name)) === false, "the name is taken now");

    // Log in with the legacy `user` field (deprecated SDK call, still used).
    const legacy = sdk.createClient({ baseUrl });
    const viaUser = await legacy.loginWithPassword(name.toUpperCase(), OLD_PASSWORD);
    check(viaUser.user_id === userId && viaUser.device_id, `legacy login as ${viaUser.user_id}`);

    // Log in with an identifier, with and without a refresh token (the
    // laptop keeps one that does not expire: run.sh makes them short-lived).
    const refreshable = await anonymous.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: name },
        password: OLD_PASSWORD,
        refresh_token: true,
    });
    check(refreshable.user_id === userId && refreshable.refresh_token, "identifier login with a refresh token");
    const login = await anonymous.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: name },
        password: OLD_PASSWORD,
        initial_device_display_name: "js-sdk laptop",
    });
    check(login.user_id === userId && !login.refresh_token && !login.expires_in_ms, "identifier login");
    const laptop = sdk.createClient({ baseUrl, userId, deviceId: login.device_id, accessToken: login.access_token });
    const me = await laptop.whoami();
    const sameDevice = me.user_id === userId && me.device_id === login.device_id;
    check(sameDevice && me.is_guest === false, `whoami: ${JSON.stringify(me)}`);
    const byQuery = sdk.createClient({ baseUrl, accessToken: viaUser.access_token, useAuthorizationHeader: false });
    check((await byQuery.whoami()).device_id === viaUser.device_id, "whoami with the access_token query parameter");

    // Change the password through InteractiveAuth.
    const change = interactive(
        laptop,
        (auth) => {
            requests.push(auth);
            return laptop.setPassword(auth, NEW_PASSWORD);
        },
        name,
        OLD_PASSWORD,
    );
    check(Object.keys(await change.result).length === 0, "password changed");
    check(change.stages.join() === "m.login.password", `stages: ${change.stages}`);
    check(requests[2] === null, "the first password-change request had auth: null");
    check((await laptop.whoami()).user_id === userId, "the changing device stays logged in");
    const stale = await failure(legacy.whoami());
    check(stale.errcode === "M_UNKNOWN_TOKEN" && stale.data.soft_logout === false, `other devices are out: ${stale}`);
    const refused = await failure(sdk.createClient({ baseUrl }).loginWithPassword(name, OLD_PASSWORD));
    check(refused.errcode === "M_FORBIDDEN" && refused.httpStatus === 403, `the old password is refused: ${refused}`);
    const relogin = await sdk.createClient({ baseUrl }).loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: userId },
        password: NEW_PASSWORD,
        refresh_token: true,
    });
    check(relogin.user_id === userId, "login with the new password");

    // Refresh by hand: /v3/refresh, a new pair, the old refresh token spent once it is used.
    const phone = sdk.createClient({ baseUrl, accessToken: relogin.access_token });
    const refreshed = await phone.refreshToken(relogin.refresh_token);
    const rotated =
        refreshed.access_token !== relogin.access_token && refreshed.refresh_token !== relogin.refresh_token;
    check(rotated, "refreshed: a new access token and a new refresh token");
    check(refreshed.expires_in_ms > 0, `expires_in_ms: ${refreshed.expires_in_ms}`);
    phone.setAccessToken(refreshed.access_token);
    check((await phone.whoami()).device_id === relogin.device_id, "the new access token is the same device");
    const spent = await failure(phone.refreshToken(relogin.refresh_token));
    check(spent.errcode === "M_UNKNOWN_TOKEN" && spent.httpStatus === 401, `the old refresh token is spent: ${spent}`);

    // Refresh by the SDK itself, when a short-lived token has expired
    // (run.sh starts the server with a lifetime of a few seconds).
    if (refreshed.expires_in_ms <= 10_000) {
        let current = refreshed.refresh_token;
        let refreshes = 0;
        const tablet = sdk.createClient({
            baseUrl,
            accessToken: refreshed.access_token,
            refreshToken: refreshed.refresh_token,
            tokenRefreshFunction: async (refreshToken) => {
                check(refreshToken === current, "the SDK refreshes with the latest refresh token");
                const next = await sdk.createClient({ baseUrl }).refreshToken(refreshToken);
                refreshes += 1;
                current = next.refresh_token;
                return { accessToken: next.access_token, refreshToken: next.refresh_token };
            },
        });
        await new Promise((resolve) => setTimeout(resolve, refreshed.expires_in_ms + 300));
        const expired = await failure(sdk.createClient({ baseUrl, accessToken: refreshed.access_token }).whoami());
        check(expired.errcode === "M_UNKNOWN_TOKEN" && expired.data.soft_logout === true, "expired: a soft logout");
        check((await tablet.whoami()).user_id === userId && refreshes === 1, "the SDK refreshed by itself and retried");
    } else {
        console.log(`skip automatic refresh: tokens live ${refreshed.expires_in_ms} ms`);
    }

    // Log out this device, then every device.
    check(Object.keys(await laptop.logout()).length === 0, "logout");
    const loggedOut = await failure(laptop.whoami());
    check(loggedOut.errcode === "M_UNKNOWN_TOKEN" && loggedOut.data.soft_logout === false, "the token is dead");
    const desk = await sdk.createClient({ baseUrl }).loginWithPassword(name, NEW_PASSWORD);
    const couch = await sdk.createClient({ baseUrl }).loginWithPassword(name, NEW_PASSWORD);
    const last = sdk.createClient({ baseUrl, accessToken: couch.access_token });
    // The SDK has no call for it: its own authenticated transport, no body.
    check(Object.keys(await last.http.authedRequest(sdk.Method.Post, "/logout/all")).length === 0, "logout/all");
    for (const token of [desk.access_token, couch.access_token]) {
        const out = await failure(sdk.createClient({ baseUrl, accessToken: token }).whoami());
        check(out.errcode === "M_UNKNOWN_TOKEN" && out.data.soft_logout === false, "every device is logged out");
    }
}

const baseUrl = process.argv[2];
if (!baseUrl) {
    console.error("usage: node js_sdk_session.mjs BASE_URL");
    process.exit(2);
}
try {
    await session(baseUrl.replace(/\/$/, ""));
    console.log("matrix-js-sdk session: every step passed");
    process.exit(0);
} catch (error) {
    console.error(`FAIL ${error?.stack ?? error}`);
    process.exit(1);
}
