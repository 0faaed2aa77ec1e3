#!/usr/bin/env python3
"""The hostile-input suite: what a hardened matrix-accounts must survive.

Started by tests/hostile/run.sh, which builds and starts the server; this
script only talks to it (127.0.0.1 only) and reads its database, log and
/proc entry. Standard library only.

Every check prints one line, `PASS name` or `FAIL name: [rule] detail`,
where `rule` names the hardening rule that broke (the list is below), and
the last line is `N passed, N failed`. The exit status is non-zero when
any check failed.

Hardening rules the checks enforce:
  no-5xx              hostile input never gets a server error
  matrix-error        a 4xx carries a JSON object with `errcode` and `error`
  expected-errcode    the spec's answer for that input (MATRIX.md, "Errors
                      every endpoint shares"): M_NOT_JSON, M_BAD_JSON,
                      M_TOO_LARGE, M_UNRECOGNIZED, ...
  cors                every answer carries Access-Control-Allow-Origin: *
  no-state-change     refused input changes no account, device, token,
                      3pid or UIA session
  answered            the server answers at all (no hang, no reset)
  header-timeout      a client that trickles its headers is cut off
  body-timeout        a client that trickles its body is cut off
  idle-timeout        an idle keep-alive connection is closed
  prompt-service      honest requests are answered promptly under attack
                      (1 s beside slow clients, 2 s beside 1,100 idle
                      connections)
  connection-cap      the server survives more connections than max_connections,
                      and says so in its log (--cap-log-regex: the wording
                      is the hardening's to choose)
  id-no-redirect      identity-server redirects are not followed
  id-bounded-body     identity-server answers are read with a size bound
  id-timeout          a slow identity server gives a prompt Matrix error:
                      400 M_THREEPID_AUTH_FAILED (what an unreachable one
                      gets) or 502/503/504 with an errcode, within
                      [identity] timeout + slack, and nothing is added
  alive               the server process is still running
  setup, harness      not a hardening rule: the suite could not arrange its
                      check (its fixture or its assumptions are wrong)
"""

import argparse
import json
import os
import re
import resource
import socket
import sqlite3
import sys
import threading
import time
import tomllib
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# --------------------------------------------------------------------------
# Results

RESULTS = []


def check(name, failures, passed_note=""):
    """Records one check: `failures` is a list of '[rule] detail' strings."""
    if failures:
        shown = "; ".join(failures[:3])
        more = f" (+{len(failures) - 3} more)" if len(failures) > 3 else ""
        line = f"FAIL {name}: {shown}{more}"
        RESULTS.append(False)
    else:
        line = f"PASS {name}" + (f" ({passed_note})" if passed_note else "")
        RESULTS.append(True)
    print(line, flush=True)


def note(text):
    print(f"     {text}", flush=True)


# --------------------------------------------------------------------------
# A raw HTTP/1.1 client: bodies of any bytes, lies in headers, servers that
# close early. One request per connection unless the caller keeps it.


class Answer:
    def __init__(self, status, headers, body, error=None, elapsed=0.0):
        self.status = status
        self.headers = headers  # lower-case name -> value (last wins)
        self.body = body
        self.error = error  # why there is no (complete) answer
        self.elapsed = elapsed

    def json(self):
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def errcode(self):
        value = self.json()
        return value.get("errcode") if isinstance(value, dict) else None

    def describe(self):
        if self.status is None:
            return f"no answer ({self.error})"
        text = self.body[:120].decode("utf-8", "replace").replace("\n", " ")
        return f"{self.status} {text}"


def parse_answer(raw):
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body, data = b"", rest
        while True:
            size_line, sep, data = data.partition(b"\r\n")
            if not sep:
                break
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError:
                break
            if size == 0:
                break
            body += data[:size]
            data = data[size + 2:]
        rest = body
    elif "content-length" in headers:
        rest = rest[: int(headers["content-length"])]
    return int(parts[1]), headers, rest


def request(base, method, path, body=None, headers=None, timeout=30.0, raw_head=None):
    """Sends one request on a fresh connection (Connection: close); never raises."""
    host, port = base
    started = time.monotonic()
    all_headers = {"Host": f"{host}:{port}", "Connection": "close"}
    if body is not None:
        all_headers["Content-Type"] = "application/json"
        all_headers["Content-Length"] = str(len(body))
    all_headers.update(headers or {})
    head = raw_head or (
        f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items()) + "\r\n"
    ).encode("latin-1")
    send_error = None
    chunks = []
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        return Answer(None, {}, b"", f"connect: {error}", time.monotonic() - started)
    try:
        sock.settimeout(timeout)
        try:
            sock.sendall(head + (body or b""))
        except OSError as error:  # the server may answer and close before reading it all
            send_error = error
        deadline = started + timeout
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return Answer(None, {}, b"", f"no answer within {timeout:.0f} s", time.monotonic() - started)
            except OSError as error:
                if chunks:
                    break
                why = f"{error}" + (f" after send error {send_error}" if send_error else "")
                return Answer(None, {}, b"", why, time.monotonic() - started)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    parsed = parse_answer(b"".join(chunks))
    if parsed is None:
        why = "connection closed without an HTTP answer"
        if send_error:
            why += f" (send error: {send_error})"
        return Answer(None, {}, b"", why, time.monotonic() - started)
    status, hdrs, payload = parsed
    return Answer(status, hdrs, payload, None, time.monotonic() - started)


def call(base, method, path, value=None, token=None, timeout=30.0):
    body = None if value is None else json.dumps(value).encode()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return request(base, method, path, body, headers, timeout)


# --------------------------------------------------------------------------
# Rules over one answer


def general_rules(answer, where):
    """no-5xx, matrix-error on 4xx, cors: what every answer must satisfy."""
    broken = []
    if answer.status is None:
        broken.append(f"[answered] {where}: {answer.describe()}")
        return broken
    if answer.status >= 500:
        broken.append(f"[no-5xx] {where} -> {answer.describe()}")
    if 400 <= answer.status < 500:
        value = answer.json()
        if not (isinstance(value, dict) and isinstance(value.get("errcode"), str) and isinstance(value.get("error"), str)):
            broken.append(f"[matrix-error] {where} -> {answer.describe()}")
    if answer.headers.get("access-control-allow-origin") != "*":
        broken.append(f"[cors] {where} -> {answer.status} without Access-Control-Allow-Origin: *")
    return broken


def expect(answer, where, allowed):
    """expected-errcode: (status, errcode) must be one of `allowed`."""
    if answer.status is None:
        return []  # already reported by general_rules
    got = (answer.status, answer.errcode())
    if got not in allowed:
        want = " or ".join(sorted({f"{s} {e}" for s, e in allowed}))
        return [f"[expected-errcode] {where} -> {answer.status} {got[1]} (want {want})"]
    return []


# --------------------------------------------------------------------------
# The served document: every path x method, and each request body schema


def operations(doc):
    schemas = doc.get("components", {}).get("schemas", {})

    def resolve(schema, depth=0):
        while isinstance(schema, dict) and "$ref" in schema and depth < 20:
            schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
            depth += 1
        if isinstance(schema, dict) and "allOf" in schema:
            merged = {"type": "object", "properties": {}}
            for part in schema["allOf"]:
                part = resolve(part, depth + 1)
                merged["properties"].update(part.get("properties", {}))
            return merged
        return schema if isinstance(schema, dict) else {}

    def kind(schema):
        schema = resolve(schema)
        if "type" in schema:
            return schema["type"]
        if "properties" in schema or "additionalProperties" in schema:
            return "object"
        return None

    ops = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            body_schema = None
            rb = op.get("requestBody")
            if rb:
                body_schema = resolve(rb.get("content", {}).get("application/json", {}).get("schema", {}))
            props = {}
            if body_schema:
                for name, prop in body_schema.get("properties", {}).items():
                    props[name] = kind(prop)
            ops.append({
                "method": method.upper(),
                "path": path,
                # Hostile JSON is for JSON bodies; a form body (the UIA
                # fallback page) is read as a form, never as JSON.
                "has_body": rb is not None and "application/json" in rb.get("content", {}),
                "secured": bool(op.get("security")) and any(op["security"]),
                "props": props,
            })
    return ops


# --------------------------------------------------------------------------
# The hostile identity server and the untrusted one it redirects to


class IdentityState:
    def __init__(self):
        self.requests = []  # (port, path?query)
        self.lock = threading.Lock()
        self.evil_port = None
        self.slow_seconds = 0
        self.huge_bytes = 100 * 1024 * 1024
        self.huge_sent = {}

    def log(self, port, target):
        with self.lock:
            self.requests.append((port, target))

    def seen(self, port, sid):
        with self.lock:
            return [t for p, t in self.requests if p == port and f"sid={sid}" in t]


VALIDATED_AT = 1_535_176_800_000


def make_handler(state, role):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, value, extra=None):
            body = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            state.log(self.server.server_address[1], self.path)
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            if self.path.startswith("/_matrix/identity/api/v1/3pid/bind"):
                self.answer(200, {})
            else:
                self.answer(404, {"errcode": "M_UNRECOGNIZED", "error": "no"})

        def do_GET(self):
            state.log(self.server.server_address[1], self.path)
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            sid = query.get("sid", "")
            if url.path != "/_matrix/identity/api/v1/3pid/getValidated3pid":
                return self.answer(404, {"errcode": "M_UNRECOGNIZED", "error": "no"})
            if role == "evil":  # untrusted: vouches for anything it is asked
                return self.answer(200, {"medium": "email", "address": "redirected@example.org", "validated_at": VALIDATED_AT})
            if sid.startswith("good-"):
                address = sid[len("good-"):] + "@example.org"
                return self.answer(200, {"medium": "email", "address": address, "validated_at": VALIDATED_AT})
            if sid.startswith("redirect-"):
                location = f"http://127.0.0.1:{state.evil_port}{self.path}"
                return self.answer(302, {}, {"Location": location})
            if sid.startswith("slow-"):
                time.sleep(state.slow_seconds)
                return self.answer(200, {"medium": "email", "address": "slow@example.org", "validated_at": VALIDATED_AT})
            if sid.startswith("huge-"):
                return self.stream_huge(sid)
            return self.answer(404, {"errcode": "M_NO_VALID_SESSION", "error": "No valid session"})

        def stream_huge(self, sid):
            # A well-formed validated answer whose last member is 100 MiB of
            # padding: a client that buffers the whole body and ignores
            # unknown members would add huge@example.org.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            head = b'{"medium": "email", "address": "huge@example.org", "validated_at": 1535176800000, "padding": "'
            chunk = b"a" * 65536
            sent = 0
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(head), head))
                while sent < state.huge_bytes:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
                self.wfile.write(b'2\r\n"}\r\n0\r\n\r\n')
                self.wfile.flush()
            except OSError:
                pass
            state.huge_sent[sid] = sent

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The homeserver hangs up on the slow and huge answers: expected.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def start_identity_servers(state, id_port, evil_port):
    servers = []
    for port, role in ((id_port, "hostile"), (evil_port, "evil")):
        server = QuietServer(("127.0.0.1", port), make_handler(state, role))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    state.evil_port = evil_port
    return servers


# --------------------------------------------------------------------------
# State: the database, read-only, table by table


def snapshot(db_path):
    uri = f"file:{db_path}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=10)
    try:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        state = {}
        for table in tables:
            rows = connection.execute(f'SELECT * FROM "{table}"').fetchall()
            state[table] = sorted(repr(row) for row in rows)
        return state
    finally:
        connection.close()


def diff_tables(before, after, only=None, skip=()):
    changed = []
    for table in sorted(set(before) | set(after)):
        if table in skip or (only is not None and table not in only):
            continue
        b, a = set(before.get(table, [])), set(after.get(table, []))
        if b != a:
            changed.append(f"{table}: {len(a - b)} rows added, {len(b - a)} removed")
    return changed


# --------------------------------------------------------------------------
# The suite


class Suite:
    def __init__(self, args):
        self.args = args
        self.base = ("127.0.0.1", args.port)
        with open(args.config, "rb") as f:
            self.config = tomllib.load(f)
        http = self.config.get("http", {})
        # The suite's intended [http] values, whether or not the server was
        # started with them (see run.sh): the checks hold the server to these.
        self.max_body = self.config.get("max_body_bytes", 64 * 1024)
        self.header_timeout = http.get("header_timeout", args.header_timeout) / 1000
        self.body_timeout = http.get("body_timeout", args.body_timeout) / 1000
        self.idle_timeout = http.get("idle_timeout", args.idle_timeout) / 1000
        self.max_connections = http.get("max_connections", args.max_connections)
        self.identity_timeout = self.config.get("identity", {}).get("timeout", 10000) / 1000
        self.slack = args.slack
        self.id_address = f"127.0.0.1:{args.id_port}"
        self.password = "victim-password-1"

    # ---- helpers

    def v3(self, path):
        return f"/_matrix/client/v3{path}"

    def register(self, name, password=None, refresh=False):
        answer = call(self.base, "POST", self.v3("/register"), {
            "username": name, "password": password or self.password,
            "auth": {"type": "m.login.dummy"}, "refresh_token": refresh,
        })
        if answer.status != 200:
            raise RuntimeError(f"setup: registering {name} failed: {answer.describe()}")
        return answer.json()

    def threepids(self, token):
        answer = call(self.base, "GET", self.v3("/account/3pid"), token=token)
        value = answer.json()
        if answer.status != 200 or not isinstance(value, dict):
            return None
        return sorted((t.get("medium"), t.get("address")) for t in value.get("threepids", []))

    def rss_kib(self, field="VmRSS"):
        try:
            with open(f"/proc/{self.args.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def alive(self):
        return os.path.exists(f"/proc/{self.args.pid}") and self.rss_kib() is not None

    # ---- 1. bodies

    def password_auth(self, seed_era=False):
        if seed_era:
            return {"type": "m.login.password", "user": "victim", "password": self.password}
        return {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "victim"},
                "password": self.password}

    def template(self, op, counter):
        """A plausible, *valid* body for the operation: every field right,
        aimed at the victim's account, so that a wrong-typed field that is
        not refused would visibly change state."""
        path = op["path"]
        values = {
            "type": "m.login.password",
            "user": "victim",
            "identifier": {"type": "m.id.user", "user": "victim"},
            "password": self.password,
            "medium": "email",
            "address": "victim@example.org",
            "device_id": f"BARRAGE{counter}",
            "initial_device_display_name": "barrage",
            "refresh_token": True,
            "new_password": "changed-by-the-barrage",
            "logout_devices": True,
            "inhibit_login": False,
            "bind": False,
            "bind_email": False,
            "sid": "good-barrage",
            "client_secret": "barrage-secret",
            "id_server": self.id_address,
            "three_pid_creds": {"id_server": self.id_address, "sid": "good-barrage", "client_secret": "s"},
            "threePidCreds": {"id_server": self.id_address, "sid": "good-barrage", "client_secret": "s"},
        }
        if path.endswith("/register"):
            name = f"barrage_{counter}"
            self.barrage_names.add(name)
            values.update(username=name, auth={"type": "m.login.dummy"})
        else:
            values["auth"] = self.password_auth(seed_era="/api/" in path)
        if path.endswith("/refresh") or path.endswith("/tokenrefresh"):
            values["refresh_token"] = self.victim_refresh
        # Today's login names the user once, by `identifier`.
        skip = {"user", "medium", "address"} if path.endswith("/login") and "identifier" in op["props"] else set()
        body = {}
        for name, kind in op["props"].items():
            if name in skip:
                continue
            if name in values:
                body[name] = values[name]
            else:
                body[name] = {"string": "x", "boolean": False, "integer": 1, "number": 1,
                              "object": {}, "array": []}.get(kind, "x")
        return body

    @staticmethod
    def wrong_values(kind):
        return {
            "string": [12345, True, {"x": 1}],
            "boolean": ["true", 1, []],
            "integer": ["1", 1.5, False],
            "number": ["1", False, []],
            "object": ["object", 7, ["x"]],
            "array": ["array", {"x": 1}, 7],
        }.get(kind, [])

    def fixed_bodies(self):
        def pad(n):  # a JSON object of exactly n bytes
            body = b'{"padding": "' + b"a" * (n - 15) + b'"}'
            assert len(body) == n
            return body

        deep_arrays = b"[" * 100_000 + b"]" * 100_000
        deep_objects = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
        return [
            ("malformed_json", b'{"username": "x",, "password": }', "not_json"),
            ("truncated_json", b'{"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "vic', "not_json"),
            ("non_utf8", b'{"username": "\xff\xfe\xfd", "password": "\xc3\x28"}', "not_json"),
            ("array_body", b'[{"type": "m.login.password", "user": "victim"}]', "bad_json"),
            ("number_body", b"12345", "bad_json"),
            ("string_body", b'"just a string"', "bad_json"),
            ("deep_arrays_100k", deep_arrays, "deep"),
            ("deep_objects_10k", deep_objects, "deep"),
            ("just_over_limit", pad(self.max_body + 1), "too_large"),
            ("far_over_limit", pad(self.max_body * 16), "too_large"),
        ]

    def allowed(self, op, expectation, with_token):
        codes = {
            "not_json": {(400, "M_NOT_JSON")},
            "bad_json": {(400, "M_BAD_JSON"), (400, "M_NOT_JSON"), (400, "M_INVALID_PARAM")},
            "deep": {(400, "M_NOT_JSON"), (400, "M_BAD_JSON"), (413, "M_TOO_LARGE")},
            "too_large": {(413, "M_TOO_LARGE")},
            "wrong_type": {(400, "M_BAD_JSON"), (400, "M_INVALID_PARAM"), (400, "M_MISSING_PARAM"), (400, "M_NOT_JSON")},
        }[expectation]
        if op["secured"] and not with_token:  # authentication may come first
            codes = codes | {(401, "M_MISSING_TOKEN")}
        return codes

    def bodies(self, ops):
        victim = self.register("victim", refresh=True)
        self.victim_token = victim["access_token"]
        self.victim_refresh = victim.get("refresh_token")
        added = call(self.base, "POST", self.v3("/account/3pid"),
                     {"three_pid_creds": {"id_server": self.id_address, "sid": "good-victim", "client_secret": "c"}},
                     token=self.victim_token)
        threepids_before = self.threepids(self.victim_token)
        setup = []
        if added.status != 200 or threepids_before != [("email", "victim@example.org")]:
            setup.append(f"[setup] adding victim@example.org through the identity server: {added.describe()}, list {threepids_before}")
        if not self.victim_refresh:
            setup.append("[setup] registration gave no refresh_token")
        check("bodies.setup_victim_account_with_3pid", setup)
        self.barrage_names = set()
        db_before = snapshot(self.args.database)

        counter = 0
        started = time.monotonic()
        sent = 0
        for label, body, expectation in self.fixed_bodies():
            failures = []
            for op in ops:
                for with_token in (False, True):
                    token = self.victim_token if with_token else None
                    where = f"{op['method']} {op['path']} ({'token' if with_token else 'no token'})"
                    headers = {"Authorization": f"Bearer {token}"} if token else {}
                    answer = request(self.base, op["method"], op["path"], body, headers, timeout=20)
                    sent += 1
                    failures += general_rules(answer, where)
                    if op["has_body"]:
                        failures += expect(answer, where, self.allowed(op, expectation, with_token))
            check(f"bodies.{label}", failures)

        failures = []
        for op in ops:
            for name, kind in op["props"].items():
                for wrong in self.wrong_values(kind):
                    for variant in ("alone", "in_valid_body"):
                        for with_token in (False, True):
                            counter += 1
                            if variant == "alone":
                                value = {name: wrong}
                            else:
                                value = self.template(op, counter)
                                value[name] = wrong
                            token = self.victim_token if with_token else None
                            where = (f"{op['method']} {op['path']} {name}={json.dumps(wrong)} {variant}"
                                     f" ({'token' if with_token else 'no token'})")
                            answer = call(self.base, op["method"], op["path"], value, token, timeout=20)
                            sent += 1
                            failures += general_rules(answer, where)
                            failures += expect(answer, where, self.allowed(op, "wrong_type", with_token))
        check("bodies.wrong_type_fields", failures)
        note(f"{sent} hostile bodies in {time.monotonic() - started:.1f} s")

        # Nothing changed: the database first (read-only), then over HTTP.
        db_after = snapshot(self.args.database)
        changed = diff_tables(db_before, db_after, skip={"uia_sessions"})
        check("bodies.state.accounts_devices_tokens_3pids_unchanged",
              [f"[no-state-change] {c}" for c in changed])
        changed = diff_tables(db_before, db_after, only={"uia_sessions"})
        check("bodies.state.no_uia_session_started", [f"[no-state-change] {c}" for c in changed])

        failures = []
        who = call(self.base, "GET", self.v3("/account/whoami"), token=self.victim_token)
        if who.status != 200 or (who.json() or {}).get("user_id") != "@victim:localhost":
            failures.append(f"[no-state-change] the victim's access token no longer works: {who.describe()}")
        after = self.threepids(self.victim_token) if who.status == 200 else None
        if who.status == 200 and after != threepids_before:
            failures.append(f"[no-state-change] GET /account/3pid was {threepids_before}, now {after}")
        taken = call(self.base, "GET", self.v3("/register/available?username=victim"))
        if taken.errcode() != "M_USER_IN_USE":
            failures.append(f"[no-state-change] victim (registered before) is not M_USER_IN_USE: {taken.describe()}")
        created = []
        for name in sorted(self.barrage_names):
            answer = call(self.base, "GET", self.v3(f"/register/available?username={name}"))
            if answer.status != 200:
                created.append(f"{name} ({answer.status} {answer.errcode()})")
        if created:
            failures.append(f"[no-state-change] the barrage registered names that did not exist before: {', '.join(created[:5])}"
                            + (f" +{len(created) - 5}" if len(created) > 5 else ""))
        login = call(self.base, "POST", self.v3("/login"), {
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "victim"}, "password": self.password})
        if login.status != 200:
            failures.append(f"[no-state-change] the victim's password no longer logs in: {login.describe()}")
        refreshed = call(self.base, "POST", self.v3("/refresh"), {"refresh_token": self.victim_refresh})
        if refreshed.status != 200:
            failures.append(f"[no-state-change] the victim's refresh token was used up or revoked: {refreshed.describe()}")
        check("bodies.state.victim_logs_in_token_3pids_names_unchanged", failures,
              f"{len(self.barrage_names)} barrage names still free")

        # The detector detects: the same templates, unmodified, are valid
        # requests and change the state the checks above look at (so their
        # PASS means the wrong-typed field was refused, not that the
        # template was broken anyway).
        failures = []
        for op in ops:
            if not (op["path"].endswith("/register") or op["path"].endswith("/login")):
                continue
            # Shared-secret registration needs a MAC over a fresh nonce, which
            # no template has: its wrong-typed bodies are still checked above.
            if op["path"].startswith("/_synapse/admin/"):
                continue
            counter += 1
            value = self.template(op, counter)
            answer = call(self.base, op["method"], op["path"], value)
            if answer.status != 200:
                failures.append(f"[harness] {op['path']} template {json.dumps(value)} -> {answer.describe()}")
        if snapshot(self.args.database).get("devices") == db_after.get("devices"):
            failures.append("[harness] the valid templates created no device")
        taken = [n for n in sorted(self.barrage_names)
                 if call(self.base, "GET", self.v3(f"/register/available?username={n}")).errcode() == "M_USER_IN_USE"]
        if not taken:
            failures.append("[harness] registering from the template made no name unavailable")
        check("bodies.sanity.unmodified_templates_are_accepted", failures)

    # ---- 2. unknown paths and wrong methods

    def unknown_paths(self):
        for path in ("/_matrix/client/v3/no_such_thing", "/foo", "/_synapse/admin/v1/nope"):
            answer = request(self.base, "GET", path)
            failures = general_rules(answer, f"GET {path}") + expect(answer, f"GET {path}", {(404, "M_UNRECOGNIZED")})
            check(f"unknown_path.get {path}", failures)
        for path in ("/_matrix/client/v3/no_such_thing", "/foo"):
            answer = request(self.base, "OPTIONS", path, headers={
                "Origin": "https://app.example.org", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Content-Type"})
            failures = []
            if answer.status not in (200, 204):
                failures.append(f"[cors] OPTIONS {path} -> {answer.describe()} (want 200/204)")
            for header in ("access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers"):
                if header not in answer.headers:
                    failures.append(f"[cors] OPTIONS {path}: no {header}")
            if answer.headers.get("access-control-allow-origin") not in (None, "*"):
                failures.append(f"[cors] OPTIONS {path}: Access-Control-Allow-Origin {answer.headers['access-control-allow-origin']}")
            check(f"unknown_path.preflight {path}", failures)
        for method, path in (("DELETE", "/_matrix/client/v3/login"), ("GET", "/_matrix/client/v3/register"),
                             ("PUT", "/_matrix/client/versions"), ("POST", "/_matrix/client/v3/account/whoami")):
            answer = request(self.base, method, path, b"{}" if method in ("PUT", "POST") else None)
            failures = general_rules(answer, f"{method} {path}") + expect(answer, f"{method} {path}", {(405, "M_UNRECOGNIZED")})
            if answer.status == 405 and "allow" not in answer.headers:
                failures.append(f"[expected-errcode] {method} {path}: 405 without an Allow header")
            check(f"wrong_method.{method} {path}", failures)

    # ---- 3. the hostile identity server

    def identity(self, state):
        state.slow_seconds = self.identity_timeout + self.slack + 3
        user = self.register("idvictim")
        token = user["access_token"]
        add = self.v3("/account/3pid/add")
        legacy = self.v3("/account/3pid")
        auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "idvictim"},
                "password": self.password}

        def attempt(endpoint, sid, timeout=60):
            if endpoint == "3pid":
                body = {"three_pid_creds": {"id_server": self.id_address, "sid": sid, "client_secret": "cs"}}
                return call(self.base, "POST", legacy, body, token, timeout)
            return call(self.base, "POST", add, {"sid": sid, "client_secret": "cs", "auth": auth}, token, timeout)

        # Sanity: a good session through the same paths is added, so the
        # refusals below mean something.
        failures = []
        for endpoint, sid in (("3pid", "good-idgood1"), ("3pid_add", "good-idgood2")):
            answer = attempt(endpoint, sid)
            if answer.status != 200:
                failures.append(f"[setup] {endpoint} with a validated session -> {answer.describe()}")
        listed = self.threepids(token) or []
        if ("email", "idgood1@example.org") not in listed or ("email", "idgood2@example.org") not in listed:
            failures.append(f"[setup] the validated addresses are not listed: {listed}")
        check("identity.setup_validated_sessions_are_added", failures)

        for endpoint in ("3pid", "3pid_add"):
            sid = f"redirect-{endpoint}"
            answer = attempt(endpoint, sid)
            failures = general_rules(answer, f"POST {endpoint} (302)")
            if answer.status is not None and not 400 <= answer.status < 600:
                failures.append(f"[id-no-redirect] POST {endpoint} answered {answer.describe()} for a redirected session")
            if ("email", "redirected@example.org") in (self.threepids(token) or []):
                failures.append(f"[id-no-redirect] {endpoint}: the 3pid vouched for by the untrusted 127.0.0.1:{state.evil_port} was added")
            if state.seen(state.evil_port, sid):
                failures.append(f"[id-no-redirect] {endpoint}: the server followed the 302 to the untrusted 127.0.0.1:{state.evil_port}")
            if not state.seen(self.args.id_port, sid):
                failures.append(f"[setup] {endpoint}: the trusted identity server was never asked")
            check(f"identity.redirect_to_untrusted_not_followed.{endpoint}", failures)

        limit_kib = self.args.rss_limit_mib * 1024
        for endpoint in ("3pid", "3pid_add"):
            sid = f"huge-{endpoint}"
            peak = [self.rss_kib() or 0]
            hwm_before = self.rss_kib("VmHWM") or 0
            done = threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], self.rss_kib() or 0)
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            answer = attempt(endpoint, sid)
            done.set()
            sampler.join()
            hwm_after = self.rss_kib("VmHWM") or 0
            failures = general_rules(answer, f"POST {endpoint} (100 MiB answer)")
            if answer.status is not None and not 400 <= answer.status < 500:
                failures.append(f"[id-bounded-body] POST {endpoint} -> {answer.describe()} (want a 4xx Matrix error)")
            if peak[0] >= limit_kib or (hwm_before < limit_kib <= hwm_after):
                failures.append(f"[id-bounded-body] {endpoint}: server RSS reached {max(peak[0], hwm_after if hwm_before < limit_kib else 0) // 1024} MiB"
                                f" (limit {self.args.rss_limit_mib} MiB): the answer was buffered")
            if ("email", "huge@example.org") in (self.threepids(token) or []):
                failures.append(f"[id-bounded-body] {endpoint}: the 3pid of the 100 MiB answer was added")
            check(f"identity.huge_answer_not_buffered.{endpoint}", failures,
                  f"{answer.status} {answer.errcode()}, peak RSS {peak[0] // 1024} MiB, {answer.elapsed:.1f} s")

        # Slow: the spec-wise right answer is a prompt Matrix error. Accepted:
        # 400 M_THREEPID_AUTH_FAILED (what the server answers for an
        # unreachable identity server) or a 502/503/504 carrying an errcode
        # (a gateway error), within [identity] timeout + slack; the 3pid the
        # late answer vouches for must not be added.
        bound = self.identity_timeout + self.slack
        for endpoint in ("3pid", "3pid_add"):
            answer = attempt(endpoint, f"slow-{endpoint}", timeout=bound + 5)
            failures = general_rules(answer, f"POST {endpoint} (slow identity server)")
            if answer.status is None:
                failures = [f"[id-timeout] POST {endpoint}: {answer.describe()}"]
            else:
                if answer.elapsed > bound:
                    failures.append(f"[id-timeout] POST {endpoint}: answered after {answer.elapsed:.1f} s (bound {bound:.1f} s)")
                if answer.status not in (400, 502, 503, 504) or not (answer.errcode() or "").startswith("M_"):
                    failures.append(f"[id-timeout] POST {endpoint} -> {answer.describe()} (want 400/502/503/504 with an errcode)")
            time.sleep(0.1)
            if ("email", "slow@example.org") in (self.threepids(token) or []):
                failures.append(f"[id-timeout] {endpoint}: the late answer's 3pid was added")
            check(f"identity.slow_answer_is_a_prompt_matrix_error.{endpoint}", failures,
                  f"{answer.status} {answer.errcode()} in {answer.elapsed:.1f} s")

    # ---- 4. slow clients

    def wait_closed(self, sock, limit, trickle=None):
        """Seconds until the server closes `sock` (None if still open after
        `limit`), sending one trickle byte a second meanwhile; and what it
        sent before closing."""
        started = time.monotonic()
        received = b""
        next_byte = started + 1
        trickle = list(trickle or b"")
        sock.setblocking(False)
        while time.monotonic() - started < limit:
            now = time.monotonic()
            if trickle and now >= next_byte:
                try:
                    sock.send(bytes([trickle.pop(0)]))
                except OSError:
                    return now - started, received
                next_byte += 1
            try:
                chunk = sock.recv(4096)
                if not chunk:
                    return time.monotonic() - started, received
                received += chunk
            except BlockingIOError:
                pass
            except OSError:
                return time.monotonic() - started, received
            time.sleep(0.05)
        return None, received

    def slow_clients(self):
        token = self.register("honest")["access_token"]
        latencies = []
        stop = threading.Event()

        def honest():
            while not stop.is_set():
                answer = call(self.base, "GET", self.v3("/account/whoami"), token=token, timeout=10)
                latencies.append(answer.elapsed if answer.status == 200 else float("inf"))
                time.sleep(0.25)

        results = {}

        def loris():
            sock = socket.create_connection(self.base)
            head = b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
            results["loris"] = self.wait_closed(sock, self.header_timeout + self.slack + 1, head)
            sock.close()

        def trickle_body():
            sock = socket.create_connection(self.base)
            sock.sendall(b"POST /_matrix/client/v3/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n")
            results["body"] = self.wait_closed(sock, self.body_timeout + self.slack + 1, b"{" + b" " * 999)
            sock.close()

        def idle():
            sock = socket.create_connection(self.base)
            sock.sendall(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(5)
            first = b""
            while b"\r\n\r\n" not in first:
                first += sock.recv(4096)
            # The answer arrived; the connection now idles between requests.
            results["idle"] = self.wait_closed(sock, self.idle_timeout + self.slack + 1)
            sock.close()

        honest_thread = threading.Thread(target=honest, daemon=True)
        honest_thread.start()
        workers = [threading.Thread(target=f, daemon=True) for f in (loris, trickle_body, idle)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        stop.set()
        honest_thread.join()

        for key, rule, bound, what in (
            ("loris", "header-timeout", self.header_timeout, "headers one byte a second"),
            ("body", "body-timeout", self.body_timeout, "Content-Length: 1000, body one byte a second"),
            ("idle", "idle-timeout", self.idle_timeout, "idle keep-alive connection"),
        ):
            elapsed, received = results.get(key, (None, b""))
            status = received.split(b"\r\n", 1)[0].decode("latin-1") if received else "nothing"
            failures = []
            if elapsed is None:
                failures.append(f"[{rule}] {what}: still open after {bound + self.slack + 1:.0f} s "
                                f"(want closed within {bound:.0f} s + {self.slack:.0f} s slack)")
            elif elapsed > bound + self.slack:
                failures.append(f"[{rule}] {what}: closed after {elapsed:.1f} s (bound {bound + self.slack:.1f} s)")
            if received.startswith(b"HTTP/1.1 5"):
                failures.append(f"[no-5xx] {what}: {status}")
            check(f"slow_clients.{key}", failures,
                  f"closed after {elapsed:.1f} s, sent {status}" if elapsed is not None else "")
        worst = max(latencies) if latencies else float("inf")
        failures = [] if worst <= 1.0 else [f"[prompt-service] slowest honest whoami took {worst:.2f} s (bound 1 s)"]
        check("slow_clients.honest_requests_answered_promptly", failures,
              f"{len(latencies)} whoami, slowest {worst * 1000:.0f} ms")

    # ---- 5. connection floods

    def open_idle(self, count, timeout=3.0, budget=15.0):
        """Opens up to `count` idle connections, for at most `budget` seconds."""
        sockets, errors = [], 0
        deadline = time.monotonic() + budget
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            sock = socket.socket()
            sock.settimeout(timeout)
            try:
                sock.connect(self.base)
                sockets.append(sock)
            except OSError:
                errors += 1
                sock.close()
        return sockets, errors

    def floods(self):
        token = self.register("flood")["access_token"]
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, self.max_connections + 2000)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

        # Both floods below go over max_connections; either may be the one
        # the server logs (at most once a second).
        log_before = self.log_size()
        sockets, errors = self.open_idle(1100)
        answer = call(self.base, "GET", self.v3("/account/whoami"), token=token, timeout=2)
        failures = []
        if answer.status != 200:
            failures.append(f"[prompt-service] whoami with {len(sockets)} idle connections open: {answer.describe()} "
                            f"(want 200 within 2 s)")
        if errors:
            note(f"{errors} of 1100 idle connections could not be opened")
        check("flood.1100_idle_connections_whoami_within_2s", failures,
              f"{len(sockets)} open, whoami in {answer.elapsed * 1000:.0f} ms")
        for sock in sockets:
            sock.close()
        time.sleep(0.5)

        over = self.max_connections + 100
        sockets, errors = self.open_idle(over, timeout=1.0)
        started = time.monotonic()
        answered = None
        last = None
        while time.monotonic() - started < 5 + self.slack:
            last = call(self.base, "GET", self.v3("/account/whoami"), token=token, timeout=2)
            if last.status == 200:
                answered = time.monotonic() - started
                break
            time.sleep(0.2)
        failures = []
        if answered is None:
            failures.append(f"[connection-cap] with {len(sockets)} connections open (max_connections "
                            f"{self.max_connections}) no honest whoami was answered within {5 + self.slack:.0f} s: "
                            f"{last.describe() if last else ''}")
        if not self.alive():
            failures.append("[alive] the server process died under the connection flood")
        check(f"flood.over_max_connections_{over}_honest_still_served", failures,
              f"{len(sockets)} opened ({errors} refused), whoami after {answered or 0:.1f} s")
        for sock in sockets:
            sock.close()
        time.sleep(0.5)

        after = call(self.base, "GET", self.v3("/account/whoami"), token=token, timeout=5)
        failures = [] if after.status == 200 and self.alive() else [
            f"[alive] after the floods: {after.describe()}, process alive: {self.alive()}"]
        check("flood.server_alive_and_serving_after", failures)

        pattern = re.compile(self.args.cap_log_regex, re.IGNORECASE)
        hit = [line for line in self.log_since(log_before) if pattern.search(line)]
        check("flood.logs_when_max_connections_is_hit",
              [] if hit else [f"[connection-cap] nothing in the server's log matches /{self.args.cap_log_regex}/"],
              hit[0].strip()[:120] if hit else "")

    def log_size(self):
        try:
            return os.path.getsize(self.args.log)
        except OSError:
            return 0

    def log_since(self, offset):
        try:
            with open(self.args.log, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--id-port", type=int, required=True)
    parser.add_argument("--evil-port", type=int, required=True)
    # The suite's [http] values, used when the server runs without [http].
    parser.add_argument("--header-timeout", type=int, default=2000)
    parser.add_argument("--body-timeout", type=int, default=3000)
    parser.add_argument("--idle-timeout", type=int, default=3000)
    parser.add_argument("--max-connections", type=int, default=2000)
    parser.add_argument("--slack", type=float, default=2.0, help="seconds allowed past each timeout")
    parser.add_argument("--rss-limit-mib", type=int, default=100)
    parser.add_argument("--cap-log-regex",
                        default=r"max_connections|connection (limit|cap)|too many (open )?connections|(limit|cap) of \d+ connections")
    parser.add_argument("--only", default="", help="comma-separated groups: bodies,paths,identity,slow,flood")
    args = parser.parse_args()

    suite = Suite(args)
    state = IdentityState()
    start_identity_servers(state, args.id_port, args.evil_port)
    doc = json.loads(request(suite.base, "GET", "/openapi.json").body)
    ops = operations(doc)
    groups = set(filter(None, args.only.split(","))) or {"bodies", "paths", "identity", "slow", "flood"}
    started = time.monotonic()
    print(f"-- {len(ops)} operations in the served /openapi.json", flush=True)

    for group, run in (("bodies", lambda: suite.bodies(ops)), ("paths", suite.unknown_paths),
                       ("identity", lambda: suite.identity(state)), ("slow", suite.slow_clients),
                       ("flood", suite.floods)):
        if group not in groups:
            continue
        print(f"-- {group}", flush=True)
        group_started = time.monotonic()
        try:
            run()
        except Exception as error:  # a harness failure is a failed check, not a traceback
            check(f"{group}.ran_to_the_end", [f"[harness] {type(error).__name__}: {error}"])
        note(f"{group}: {time.monotonic() - group_started:.1f} s")
        if not suite.alive():
            check(f"{group}.server_still_running", ["[alive] the server process is gone"])
            break

    passed, failed = RESULTS.count(True), RESULTS.count(False)
    print(f"-- {time.monotonic() - started:.0f} s")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
