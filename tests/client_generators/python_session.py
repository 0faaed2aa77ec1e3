"""register (UIA, m.login.dummy) → login → whoami → refresh → whoami →
logout → whoami refused, through the client openapi-python-client
generated from the published document (package `matrix_accounts_client`).

Every call goes through the generated `sync_detailed`, with
`raise_on_unexpected_status=True`: a status the document does not declare
raises. Each answer must also be the declared status and model the flow
expects.

    python python_session.py BASE_URL
"""

import secrets
import sys

from matrix_accounts_client import AuthenticatedClient, Client
from matrix_accounts_client.api.account_management import register
from matrix_accounts_client.api.session_management import get_token_owner, login, logout, refresh
from matrix_accounts_client.models import (
    GetTokenOwnerResponse,
    InvalidToken,
    LoginRequest,
    LoginResponse,
    RefreshRequest,
    RefreshResponse,
    RegisterRequest,
    RegisterResponse,
    UIAAuthData,
    UIAChallenge,
    UserIDIdentifier,
)
from matrix_accounts_client.models.user_id_identifier_type import UserIDIdentifierType


def expect(what, answer, status, model):
    parsed = answer.parsed
    if int(answer.status_code) != status or not isinstance(parsed, model):
        raise SystemExit(f"{what}: expected {status} {model.__name__}, got {int(answer.status_code)}: {answer.content!r}")
    print(f"ok {what}: {status} {model.__name__}")
    return parsed


def main(base):
    anonymous = Client(base_url=base, raise_on_unexpected_status=True)
    username = f"py{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)

    first = register.sync_detailed(client=anonymous, body=RegisterRequest(username=username, password=password))
    challenge = expect("register, first attempt", first, 401, UIAChallenge)
    assert any(flow.stages == ["m.login.dummy"] for flow in challenge.flows), challenge
    auth = UIAAuthData(type_="m.login.dummy", session=challenge.session)
    done = register.sync_detailed(
        client=anonymous, body=RegisterRequest(username=username, password=password, auth=auth)
    )
    registered = expect("register, m.login.dummy", done, 200, RegisterResponse)

    identifier = UserIDIdentifier(type_=UserIDIdentifierType.M_ID_USER, user=username)
    body = LoginRequest(type_="m.login.password", identifier=identifier, password=password, refresh_token=True)
    session = expect("login", login.sync_detailed(client=anonymous, body=body), 200, LoginResponse)
    assert session.user_id == registered.user_id, (session.user_id, registered.user_id)
    assert isinstance(session.refresh_token, str), "login with refresh_token=True gives a refresh token"

    me = AuthenticatedClient(base_url=base, token=session.access_token, raise_on_unexpected_status=True)
    owner = expect("whoami", get_token_owner.sync_detailed(client=me), 200, GetTokenOwnerResponse)
    assert owner.user_id == session.user_id, owner

    renewed = expect(
        "refresh",
        refresh.sync_detailed(client=anonymous, body=RefreshRequest(refresh_token=session.refresh_token)),
        200,
        RefreshResponse,
    )
    me = AuthenticatedClient(base_url=base, token=renewed.access_token, raise_on_unexpected_status=True)
    owner = get_token_owner.sync(client=me)
    assert owner is not None and owner.user_id == session.user_id, owner
    print("ok whoami with the refreshed token")

    answer = logout.sync_detailed(client=me)
    if int(answer.status_code) != 200:
        raise SystemExit(f"logout: {int(answer.status_code)}: {answer.content!r}")
    print("ok logout: 200")
    expect("whoami after logout", get_token_owner.sync_detailed(client=me), 401, InvalidToken)
    print("python client: every step passed")


if __name__ == "__main__":
    main(sys.argv[1])
