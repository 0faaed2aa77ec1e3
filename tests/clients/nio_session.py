#!/usr/bin/env python3
"""A matrix-nio session against a running server: register (two-step UIA,
as nio's own `register_with_token` does it, then one-shot dummy), log in,
whoami, change the password and log in with the new one, refresh, log out.

Usage: nio_session.py BASE_URL      (exit status 0 only if every step passed)

nio has no call for password change or refresh: those go through its own
transport (`AsyncClient.send`), with the client's access token.
"""

import asyncio
import json
import secrets
import sys

from nio import (
    AsyncClient,
    AsyncClientConfig,
    LoginError,
    LoginInfoResponse,
    LoginResponse,
    LogoutResponse,

    RegisterResponse,
    WhoamiError,
    WhoamiResponse,
)
from nio.responses import RegisterInteractiveResponse

# Fail fast instead of nio's default of retrying a dead server forever.
CONFIG = AsyncClientConfig(max_timeouts=2, request_timeout=30)
OLD_PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "tr0ub4dor & 3"


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok   {what}")


async def call(client, method, path, body=None, token=None):
    """A raw request through nio's transport: (status, JSON body)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body)
    response = await client.send(method, path, data, headers)
    return response.status, await response.json()


async def session(base_url):
    name = f"nio_{secrets.token_hex(4)}"
    user_id = f"@{name}:localhost"
    v3 = "/_matrix/client/v3"

    client = AsyncClient(base_url, name, config=CONFIG)
    try:
        info = await client.login_info()
        check(isinstance(info, LoginInfoResponse) and "m.login.password" in info.flows, "GET /login offers passwords")

        # Two-step UIA as nio's register_with_token starts it: an `auth`
        # without a type asks for the flows and a session...
        challenge = await client.register_interactive(
            name, OLD_PASSWORD, auth_dict={"initial_device_display_name": "nio"}
        )
        check(isinstance(challenge, RegisterInteractiveResponse), f"a UIA challenge first ({type(challenge).__name__})")
        # nio keeps only the last flow offered: the e-mail one when the
        # server sends mail (Synapse orders them the same way); the dummy
        # flow, first, is what it completes next.
        check(
            challenge.stages in (["m.login.dummy"], ["m.login.email.identity"]),
            f"the last flow is m.login.dummy or m.login.email.identity: {challenge.stages}",
        )
        # ... and the dummy stage with that session completes it.
        registered = await client.register(name, OLD_PASSWORD, device_name="nio", session_token=challenge.session)
        check(isinstance(registered, RegisterResponse), f"register completes with the session: {registered}")
        check(registered.user_id == user_id, f"registered as {registered.user_id}")
        check(client.access_token == registered.access_token, "nio holds the new access token")

        # A second account, one-shot (dummy stage without a session).
        other = AsyncClient(base_url, f"{name}_b", config=CONFIG)
        one_shot = await other.register(f"{name}_b", OLD_PASSWORD)
        check(isinstance(one_shot, RegisterResponse), f"one-shot registration: {one_shot}")
        await other.close()

        # Log in on a new client, then whoami.
        phone = AsyncClient(base_url, name, config=CONFIG)
        logged_in = await phone.login(OLD_PASSWORD, device_name="nio phone")
        check(isinstance(logged_in, LoginResponse), f"login: {logged_in}")
        check(logged_in.user_id == user_id and logged_in.device_id, "login answers user and device")
        me = await phone.whoami()
        check(isinstance(me, WhoamiResponse), f"whoami: {type(me).__name__}")
        check((me.user_id, me.device_id, me.is_guest) == (user_id, logged_in.device_id, False),
              f"whoami says {me.user_id} {me.device_id} {me.is_guest}")

        # Change the password: a UIA challenge first, then the password stage
        # carrying only `auth` (the session remembers the new password).
        status, body = await call(phone, "POST", f"{v3}/account/password", {"new_password": NEW_PASSWORD},
                                  phone.access_token)
        check(status == 401 and body["flows"] == [{"stages": ["m.login.password"]}], f"password challenge: {body}")
        auth = {"type": "m.login.password", "session": body["session"], "password": OLD_PASSWORD,
                "identifier": {"type": "m.id.user", "user": name}}
        status, body = await call(phone, "POST", f"{v3}/account/password", {"auth": auth}, phone.access_token)
        check((status, body) == (200, {}), f"password changed: {status} {body}")
        check(isinstance(await phone.whoami(), WhoamiResponse), "the changing device stays logged in")
        check(isinstance(await client.whoami(), WhoamiError), "the other device was logged out")

        laptop = AsyncClient(base_url, name, config=CONFIG)
        refused = await laptop.login(OLD_PASSWORD)
        check(isinstance(refused, LoginError) and refused.status_code == "M_FORBIDDEN", f"old password: {refused}")
        relogged = await laptop.login(NEW_PASSWORD, device_name="nio laptop")
        check(isinstance(relogged, LoginResponse), f"login with the new password: {relogged}")

        # Refresh tokens: ask for one at login, rotate it, use the new pair.
        body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": name},
                "password": NEW_PASSWORD, "refresh_token": True}
        status, body = await call(laptop, "POST", f"{v3}/login", body)
        check(status == 200 and body.get("refresh_token") and body.get("expires_in_ms"), f"refreshable login: {body}")
        status, refreshed = await call(laptop, "POST", f"{v3}/refresh", {"refresh_token": body["refresh_token"]})
        check(status == 200 and refreshed["refresh_token"] != body["refresh_token"], f"refresh: {refreshed}")
        check(refreshed["access_token"] != body["access_token"], "refresh mints a new access token")
        tablet = AsyncClient(base_url, name, config=CONFIG)
        tablet.restore_login(user_id, body["device_id"], refreshed["access_token"])
        me = await tablet.whoami()
        check(isinstance(me, WhoamiResponse) and me.device_id == body["device_id"], "the refreshed token works")
        status, body = await call(laptop, "POST", f"{v3}/refresh", {"refresh_token": body["refresh_token"]})
        check(status == 401 and body["errcode"] == "M_UNKNOWN_TOKEN" and "soft_logout" in body,
              f"the old refresh token is spent once the new pair is used: {body}")

        # Log out one device, then all of them.
        out = await laptop.logout()
        check(isinstance(out, LogoutResponse), f"logout: {out}")
        check(not laptop.access_token, "nio forgot the token")
        out = await phone.logout(all_devices=True)
        check(isinstance(out, LogoutResponse), f"logout/all: {out}")
        gone = await tablet.whoami()
        check(isinstance(gone, WhoamiError) and gone.status_code == "M_UNKNOWN_TOKEN", f"every device is out: {gone}")
        for other_client in (tablet, laptop, phone):
            await other_client.close()
    finally:
        await client.close()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        asyncio.run(session(sys.argv[1].rstrip("/")))
    except AssertionError as error:
        print(f"FAIL {error}", file=sys.stderr)
        sys.exit(1)
    print("nio session: every step passed")


if __name__ == "__main__":
    main()
