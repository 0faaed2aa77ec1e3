"""register (UIA, m.login.dummy) → login → whoami → refresh → whoami →
logout → whoami refused, through the client OpenAPI Generator (`-g python`)
generated from the published document (package
`matrix_accounts_openapi_generator`, installed into the venv by run.sh).

Every call goes through the generated `*_with_http_info` methods. That
client answers a 2xx with `ApiResponse` and raises `ApiException` (with
`.status` and the deserialized `.data`) for anything else, but it accepts
any status, declared or not, so `declared` compares each answer with the
operation's responses in the document the server serves (fetched with the
generated `get_open_api_document`). Each answer must also be the status
and model the flow expects.

    python openapi_generator_session.py BASE_URL
"""

import secrets
import sys

from matrix_accounts_openapi_generator import (
    AccountManagementApi,
    ApiClient,
    ApiException,
    Configuration,
    GetTokenOwnerResponse,
    InvalidToken,
    LoginRequest,
    LoginResponse,
    RefreshRequest,
    RefreshResponse,
    RegisterRequest,
    RegisterResponse,
    ServerAdministrationApi,
    SessionManagementApi,
    UiaAuthData,
    UiaChallenge,
    UserIdentifier,
    UserIdentifierUser,
)


def operations(document):
    """operationId → the status keys its responses declare."""
    found = {}
    for item in document.paths.values():
        for operation in item.values():
            if isinstance(operation, dict) and "operationId" in operation:
                found[operation["operationId"]] = set(operation["responses"])
    return found


def call(declared, operation_id, send):
    """Runs one generated call; gives (status, data), whether it raised or not."""
    try:
        answer = send()
        status, data = int(answer.status_code), answer.data
    except ApiException as error:
        status, data = int(error.status), error.data
    known = declared[operation_id]
    if str(status) not in known and f"{status // 100}XX" not in known:
        # `default` covers errors only: a success must be declared as itself.
        if status < 400 or "default" not in known:
            raise SystemExit(f"{operation_id} answered {status}, which it does not declare ({', '.join(sorted(known))})")
    return status, data


def expect(what, answer, status, model):
    got, data = answer
    if got != status or (model is not None and not isinstance(data, model)):
        raise SystemExit(f"{what}: expected {status} {getattr(model, '__name__', '')}, got {got}: {data!r}")
    print(f"ok {what}: {status} {getattr(model, '__name__', '')}".rstrip())
    return data


def main(base):
    anonymous = ApiClient(Configuration(host=base))
    document = ServerAdministrationApi(anonymous).get_open_api_document()
    declared = operations(document)
    accounts = AccountManagementApi(anonymous)
    sessions = SessionManagementApi(anonymous)

    username = f"og{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)

    first = call(
        declared,
        "register",
        lambda: accounts.register_with_http_info(RegisterRequest(username=username, password=password)),
    )
    challenge = expect("register, first attempt", first, 401, UiaChallenge)
    assert any(flow.stages == ["m.login.dummy"] for flow in challenge.flows), challenge
    auth = UiaAuthData(type="m.login.dummy", session=challenge.session)
    done = call(
        declared,
        "register",
        lambda: accounts.register_with_http_info(RegisterRequest(username=username, password=password, auth=auth)),
    )
    registered = expect("register, m.login.dummy", done, 200, RegisterResponse)

    identifier = UserIdentifier(UserIdentifierUser(type="m.id.user", user=username))
    body = LoginRequest(type="m.login.password", identifier=identifier, password=password, refresh_token=True)
    session = expect("login", call(declared, "login", lambda: sessions.login_with_http_info(body)), 200, LoginResponse)
    assert session.user_id == registered.user_id, (session.user_id, registered.user_id)
    assert isinstance(session.refresh_token, str), "login with refresh_token=True gives a refresh token"

    # Only `access_token` is configured: the client sends the bearer
    # scheme alone, never the deprecated `access_token` query parameter.
    me = SessionManagementApi(ApiClient(Configuration(host=base, access_token=session.access_token)))
    owner = expect(
        "whoami", call(declared, "getTokenOwner", me.get_token_owner_with_http_info), 200, GetTokenOwnerResponse
    )
    assert owner.user_id == session.user_id, owner

    renewed = expect(
        "refresh",
        call(
            declared,
            "refresh",
            lambda: sessions.refresh_with_http_info(RefreshRequest(refresh_token=session.refresh_token)),
        ),
        200,
        RefreshResponse,
    )
    me = SessionManagementApi(ApiClient(Configuration(host=base, access_token=renewed.access_token)))
    owner = expect(
        "whoami with the refreshed token",
        call(declared, "getTokenOwner", me.get_token_owner_with_http_info),
        200,
        GetTokenOwnerResponse,
    )
    assert owner.user_id == session.user_id, owner

    # logout's body and answer are `{}` (a free-form object): a dict.
    expect("logout", call(declared, "logout", lambda: me.logout_with_http_info({})), 200, dict)
    refused = expect(
        "whoami after logout", call(declared, "getTokenOwner", me.get_token_owner_with_http_info), 401, InvalidToken
    )
    assert refused.errcode == "M_UNKNOWN_TOKEN", refused
    print("openapi-generator python client: every step passed")


if __name__ == "__main__":
    main(sys.argv[1])
