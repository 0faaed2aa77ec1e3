// register (UIA, m.login.dummy) → login → whoami → refresh → whoami →
// logout → whoami refused, through the fetch client @hey-api/openapi-ts
// generated from the published document (heyapi/, by openapi-ts.config.js).
// Type-checked with `tsc --strict` (tsconfig.heyapi.json), then run with node:
//
//     node heyapi_session.js BASE_URL
//
// Every call is a generated SDK function. A status the document does not
// declare for the operation is a failure: the client does not check
// statuses itself, so `declared` compares the answer with the operation's
// responses in the document the server serves (fetched with the generated
// `getOpenApiDocument`).

import {
  getOpenApiDocument,
  getTokenOwner,
  login,
  logout,
  refresh,
  register,
  type InvalidToken,
  type LoginResponse,
  type RegisterResponse,
  type UiaChallenge,
} from "./heyapi/index.js";
import { createClient, createConfig } from "./heyapi/client/index.js";
import type { Auth } from "./heyapi/core/auth.gen.js";

const base = process.argv[2];
if (!base) throw new Error("usage: node heyapi_session.js BASE_URL");

const anonymous = createClient(createConfig({ baseUrl: base }));

// The document declares two ways to send a token: the bearer scheme and the
// deprecated `access_token` query parameter. The client applies every scheme
// `auth` gives a token for, so it is given one for the bearer scheme only.
const withToken = (token: string) =>
  createClient(createConfig({ baseUrl: base, auth: (auth: Auth) => (auth.scheme === "bearer" ? token : undefined) }));

const served = await getOpenApiDocument({ client: anonymous });
if (served.response.status !== 200 || !served.data) throw new Error(`GET /openapi.json: ${served.response.status}`);
const statuses = new Map<string, string[]>();
for (const item of Object.values(served.data.paths)) {
  for (const operation of Object.values(item as Record<string, { operationId?: string; responses?: object }>)) {
    if (operation?.operationId && operation.responses) statuses.set(operation.operationId, Object.keys(operation.responses));
  }
}

function expect(what: string, operationId: string, response: Response, status: number): void {
  const known = statuses.get(operationId);
  if (!known) throw new Error(`no operation ${operationId} in the served document`);
  const got = response.status;
  if (!known.includes(String(got)) && !known.includes(`${Math.floor(got / 100)}XX`)) {
    // `default` covers errors only: a success must be declared as itself.
    if (got < 400 || !known.includes("default")) {
      throw new Error(`${operationId} answered ${got}, which it does not declare (${known.join(", ")})`);
    }
  }
  if (got !== status) throw new Error(`${what}: expected ${status}, got ${got}`);
  console.log(`ok ${what}: ${status}`);
}

const username = `ha${Math.random().toString(16).slice(2, 10)}`;
const password = `pw-${Math.random().toString(36).slice(2)}`;

const first = await register({ client: anonymous, body: { username, password } });
expect("register, first attempt", "register", first.response, 401);
// A 401 is an error: its body is one of register's error types, here
// the declared UIA challenge.
const challenge = first.error as UiaChallenge;
if (!challenge.flows.some((flow) => flow.stages.join() === "m.login.dummy")) throw new Error("no dummy flow");
const done = await register({
  client: anonymous,
  body: { username, password, auth: { type: "m.login.dummy", session: challenge.session } },
});
expect("register, m.login.dummy", "register", done.response, 200);
const registered: RegisterResponse = done.data!;

const loggedIn = await login({
  client: anonymous,
  body: { type: "m.login.password", identifier: { type: "m.id.user", user: username }, password, refresh_token: true },
});
expect("login", "login", loggedIn.response, 200);
const session: LoginResponse = loggedIn.data!;
if (session.user_id !== registered.user_id) throw new Error(`login as ${session.user_id}`);
if (!session.refresh_token) throw new Error("no refresh token");

const owner = await getTokenOwner({ client: withToken(session.access_token) });
expect("whoami", "getTokenOwner", owner.response, 200);
if (owner.data!.user_id !== session.user_id) throw new Error(`whoami says ${owner.data!.user_id}`);

const renewed = await refresh({ client: anonymous, body: { refresh_token: session.refresh_token } });
expect("refresh", "refresh", renewed.response, 200);
const me = withToken(renewed.data!.access_token);
const again = await getTokenOwner({ client: me });
expect("whoami with the refreshed token", "getTokenOwner", again.response, 200);
if (again.data!.user_id !== session.user_id) throw new Error(`whoami says ${again.data!.user_id}`);

const out = await logout({ client: me, body: {} });
expect("logout", "logout", out.response, 200);
const refused = await getTokenOwner({ client: me });
expect("whoami after logout", "getTokenOwner", refused.response, 401);
const invalid: InvalidToken = refused.error!;
if (invalid.errcode !== "M_UNKNOWN_TOKEN") throw new Error(`errcode ${invalid.errcode}`);
console.log("@hey-api/openapi-ts client: every step passed");
