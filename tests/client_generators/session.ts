// register (UIA, m.login.dummy) → login → whoami → refresh → whoami →
// logout → whoami refused, through openapi-fetch typed by the `paths`
// openapi-typescript generated from the published document (schema.d.ts).
// Type-checked with `tsc --strict`, then run with node:
//
//     node session.js BASE_URL
//
// A status the document does not declare for the operation is a failure:
// openapi-fetch does not check statuses itself, so `declared` compares the
// answer with the operation's responses in the document the server serves.

import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Operation = { method: string; path: string };

const base = process.argv[2];
if (!base) throw new Error("usage: node session.js BASE_URL");

const client = createClient<paths>({ baseUrl: base });
const document = await (await fetch(`${base}/openapi.json`)).json();

function declared(op: Operation, status: number): void {
  const responses = document.paths[op.path]?.[op.method]?.responses ?? {};
  const known = Object.keys(responses);
  const range = `${Math.floor(status / 100)}XX`;
  if (!known.includes(String(status)) && !known.includes(range)) {
    // `default` covers errors only: a success must be declared as itself.
    if (status < 400 || !known.includes("default")) {
      throw new Error(`${op.method.toUpperCase()} ${op.path} answered ${status}, which it does not declare (${known.join(", ")})`);
    }
  }
}

function expect(what: string, op: Operation, response: Response, status: number): void {
  declared(op, status === response.status ? status : response.status);
  if (response.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${response.status}`);
  }
  console.log(`ok ${what}: ${status}`);
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const username = `ts${Math.random().toString(16).slice(2, 10)}`;
const password = `pw-${Math.random().toString(36).slice(2)}`;

const registerOp = { method: "post", path: "/_matrix/client/v3/register" };
const first = await client.POST("/_matrix/client/v3/register", { body: { username, password } });
expect("register, first attempt", registerOp, first.response, 401);
// A 401 is an error: its body is typed as the declared UIA challenge.
const challenge = first.error as components["schemas"]["UiaChallenge"];
if (!challenge.flows.some((flow) => flow.stages.join() === "m.login.dummy")) throw new Error("no dummy flow");
const done = await client.POST("/_matrix/client/v3/register", {
  body: { username, password, auth: { type: "m.login.dummy", session: challenge.session } },
});
expect("register, m.login.dummy", registerOp, done.response, 200);
const registered: components["schemas"]["RegisterResponse"] = done.data!;

const loginOp = { method: "post", path: "/_matrix/client/v3/login" };
const loggedIn = await client.POST("/_matrix/client/v3/login", {
  body: { type: "m.login.password", identifier: { type: "m.id.user", user: username }, password, refresh_token: true },
});
expect("login", loginOp, loggedIn.response, 200);
const session: components["schemas"]["LoginResponse"] = loggedIn.data!;
if (session.user_id !== registered.user_id) throw new Error(`login as ${session.user_id}`);
if (!session.refresh_token) throw new Error("no refresh token");

const whoamiOp = { method: "get", path: "/_matrix/client/v3/account/whoami" };
const owner = await client.GET("/_matrix/client/v3/account/whoami", { headers: bearer(session.access_token) });
expect("whoami", whoamiOp, owner.response, 200);
if (owner.data!.user_id !== session.user_id) throw new Error(`whoami says ${owner.data!.user_id}`);

const refreshOp = { method: "post", path: "/_matrix/client/v3/refresh" };
const renewed = await client.POST("/_matrix/client/v3/refresh", { body: { refresh_token: session.refresh_token } });
expect("refresh", refreshOp, renewed.response, 200);
const token = renewed.data!.access_token;
const again = await client.GET("/_matrix/client/v3/account/whoami", { headers: bearer(token) });
expect("whoami with the refreshed token", whoamiOp, again.response, 200);

const logoutOp = { method: "post", path: "/_matrix/client/v3/logout" };
const out = await client.POST("/_matrix/client/v3/logout", { headers: bearer(token), body: {} });
expect("logout", logoutOp, out.response, 200);
const refused = await client.GET("/_matrix/client/v3/account/whoami", { headers: bearer(token) });
expect("whoami after logout", whoamiOp, refused.response, 401);
const invalid: components["schemas"]["InvalidToken"] = refused.error!;
if (invalid.errcode !== "M_UNKNOWN_TOKEN") throw new Error(`errcode ${invalid.errcode}`);
console.log("typescript client: every step passed");
