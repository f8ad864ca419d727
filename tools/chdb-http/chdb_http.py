#!/usr/bin/env python3
"""ClickHouse's HTTP interface over chDB: the real ClickHouse engine, in process.

Pulse is developed and tested against current ClickHouse. Where no `clickhouse-server`
of a current release can be installed (these machines reach only Debian's 18.16), PyPI's
`chdb-core` ships the same engine as a library. This harness puts ClickHouse's HTTP
protocol in front of it, so the Rust client, curl and the tests talk to it exactly as
they talk to a server. Every query, parse, type check, merge and error is the engine's
own; the harness only moves bytes and maps settings. It is not a mock.

What it does (enough for Pulse, curl and the tests):
- `GET /`, `GET /ping` -> `Ok.`; `GET /?query=...` (read-only, as on a server);
  `POST /` with the query in the `query` URL parameter and/or the body; a multipart
  form body with `query` and `param_*` fields (what clickhouse-rs sends with
  server-side parameters); INSERT data in the body after a query that ends with
  `FORMAT <name>`, plain or chunked; `INSERT ... FORMAT X <data>` inline in the body;
- `database`, `default_format`, `param_*` (server-side query parameters), any other
  URL parameter as a query setting (applied with SET for that request, then reset);
  `readonly=1|2` enforced for the request (only reading statements; 2 also allows SET);
- errors as HTTP 500 with the engine's `Code: N. DB::Exception: ...` text and the
  `X-ClickHouse-Exception-Code` header; `X-ClickHouse-Summary`, `X-ClickHouse-Format`;
- one user (`--user`, default `default`) with an optional password (`--password-file`),
  from Basic auth, `X-ClickHouse-User`/`X-ClickHouse-Key` or `user`/`password`;
- safe under concurrent clients: connections are served on threads, and statements run
  one at a time on the one engine session (chDB has one session per process).

What it does not do (documented in tools/chdb-http/README.md): the native TCP protocol,
HTTPS, compression of request or response bodies (`decompress=1`, `compress=1`,
`Content-Encoding` are refused with a clear error; `Accept-Encoding` is ignored and the
answer is sent uncompressed, which clients accept), HTTP sessions (`session_id`), users,
roles and quotas, streaming of results (a result is sent once complete, with a
Content-Length, like `wait_end_of_query=1`), query cancellation, parallel execution of
statements from different clients.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP as HTTP_POLICY
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import chdb
from chdb import session as chdb_session

# URL parameters that belong to the HTTP layer, not to query settings.
HTTP_ONLY = {
    "query", "database", "default_format", "user", "password", "quota_key", "query_id",
    "session_id", "session_timeout", "session_check", "buffer_size", "wait_end_of_query",
    "role", "enable_http_compression", "http_zlib_compression_level", "send_progress_in_http_headers",
    "http_headers_progress_interval_ms", "http_wait_end_of_query", "http_response_buffer_size",
    "add_http_cors_header", "cancel_http_readonly_queries_on_client_close",
}
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PARAM_NAME = re.compile(r"^param_([A-Za-z_][A-Za-z0-9_]*)$")
FORMAT_AT_END = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
INLINE_INSERT = re.compile(r"^(\s*INSERT\b.*?\bFORMAT\s+[A-Za-z0-9_]+)[ \t]*\r?\n?(.*)$",
                           re.IGNORECASE | re.DOTALL)
ERROR_CODE = re.compile(r"Code:\s*(\d+)")
READ_ONLY_STATEMENTS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "(")

VERSION = "unknown"


class ClickHouseError(Exception):
    """An error in ClickHouse's own words: code and message."""

    def __init__(self, code: int, message: str, status: int = 500):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def engine_error(exc: Exception) -> ClickHouseError:
    text = str(exc).strip()
    m = ERROR_CODE.search(text)
    code = int(m.group(1)) if m else 1001
    if not text.startswith("Code:"):
        text = f"Code: {code}. DB::Exception: {text}"
    return ClickHouseError(code, text)


def quote_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_ident(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def tsv_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


class Engine:
    """The one chDB session, used by one statement at a time."""

    def __init__(self, path: str, tmp_dir: str):
        self.lock = threading.Lock()
        self.session = chdb_session.Session(path)
        self.tmp_dir = tmp_dir
        os.makedirs(tmp_dir, exist_ok=True)

    def close(self):
        with self.lock:
            self.session.close()

    def _q(self, sql: str, fmt: str = "TabSeparated", params=None):
        try:
            if params:
                return self.session.query(sql, fmt, params=params)
            return self.session.query(sql, fmt)
        except Exception as exc:  # chdb raises its own error type carrying the engine's text
            raise engine_error(exc) from None

    def execute(self, *, statement: str, data: bytes | None, database: str | None,
                settings: dict, params: dict, fmt: str, readonly: int):
        infile = None
        if data is not None:
            m = FORMAT_AT_END.search(statement)
            if not m or not statement.lstrip().upper().startswith("INSERT"):
                raise ClickHouseError(62, "Code: 62. DB::Exception: data in the request body needs an INSERT query ending with FORMAT <name> (chdb-http harness). (SYNTAX_ERROR)", 400)
            fd, infile = tempfile.mkstemp(prefix="insert-", dir=self.tmp_dir)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            statement = (statement[: m.start()].rstrip() + f" FROM INFILE {quote_literal(infile)} "
                         + statement[m.start():])
        try:
            with self.lock:
                return self._execute_locked(statement, database, settings, params, fmt, readonly,
                                            is_insert_with_data=data is not None)
        finally:
            if infile:
                try:
                    os.unlink(infile)
                except OSError:
                    pass

    def _execute_locked(self, statement, database, settings, params, fmt, readonly, is_insert_with_data):
        changed = []
        try:
            head = statement.lstrip().upper()
            if not (is_insert_with_data or head.startswith("INSERT")):
                # The engine's parser: one statement only (as on a server), and its kind.
                formatted = self._q("SELECT formatQuerySingleLine({q:String})", "TabSeparated",
                                    {"q": tsv_escape(statement)}).bytes().decode("utf-8", "replace")
                head = formatted.lstrip().upper()
            if readonly:
                allowed = head.startswith(READ_ONLY_STATEMENTS) or (readonly == 2 and head.startswith("SET "))
                if not allowed:
                    raise ClickHouseError(164, "Code: 164. DB::Exception: Cannot execute query in readonly mode. (READONLY)")
            if database:
                self._q(f"USE {quote_ident(database)}")
            for name, value in settings.items():
                self._q(f"SET {name} = {quote_literal(value)}")
                changed.append(name)
            return self._q(statement, fmt, params or None)
        finally:
            for name in changed:
                try:
                    self.session.query(f"SET {name} = DEFAULT")
                except Exception:
                    pass
            if database:
                try:
                    self.session.query("USE default")
                except Exception:
                    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chdb-http"
    engine: Engine = None  # type: ignore[assignment]
    user = "default"
    password = ""
    quiet = True

    def log_message(self, fmt, *args):  # noqa: D401 - BaseHTTPRequestHandler API
        if not self.quiet:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    # ------------------------------------------------------------------ plumbing
    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ClickHouseError(33, "Code: 33. DB::Exception: unexpected end of chunked body. (CANNOT_READ_ALL_DATA)", 400)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(3)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def setup(self):
        super().setup()
        # Answers go out in one write with Nagle off: otherwise headers and body are two
        # segments and the client's delayed ACK stalls every small answer by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, body: bytes, headers: dict | None = None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()

    def _error(self, err: ClickHouseError):
        msg = err.message
        if "(version" not in msg:
            msg = f"{msg} (version {VERSION})"
        self._send(err.status, (msg + "\n").encode(), {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Exception-Code": str(err.code),
        })

    def _authenticate(self, query: dict):
        user, password = self.user, ""
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except Exception:
                raise ClickHouseError(516, "Code: 516. DB::Exception: malformed Basic authorization. (AUTHENTICATION_FAILED)", 401)
        user = self.headers.get("X-ClickHouse-User", query.get("user", user)) or self.user
        password = self.headers.get("X-ClickHouse-Key", query.get("password", password))
        if user != self.user or not hmac.compare_digest(password.encode(), self.password.encode()):
            raise ClickHouseError(516, f"Code: 516. DB::Exception: {user}: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)", 401)

    # ------------------------------------------------------------------ verbs
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path in ("/ping", "/") and "query=" not in url.query:
            return self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
        self._handle(read_only_verb=True)

    def do_POST(self):
        self._handle(read_only_verb=False)

    def _handle(self, read_only_verb: bool):
        try:
            url = urlsplit(self.path)
            if url.path not in ("/", ""):
                raise ClickHouseError(0, f"Code: 0. DB::Exception: there is no handler {url.path} (chdb-http serves / and /ping). ", 404)
            query = dict(parse_qsl(url.query, keep_blank_values=True))
            self._authenticate(query)
            body = self._body() if not read_only_verb else b""
            if self.headers.get("Content-Encoding") or query.get("decompress") == "1" or query.get("compress") == "1":
                raise ClickHouseError(48, "Code: 48. DB::Exception: compressed HTTP bodies are not supported by the chdb-http harness. (NOT_IMPLEMENTED)", 400)
            ctype = self.headers.get("Content-Type", "")
            if ctype.startswith("multipart/form-data"):
                msg = BytesParser(policy=HTTP_POLICY).parsebytes(
                    b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
                for part in msg.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    if name:
                        query[name] = part.get_payload(decode=True).decode("utf-8")
                body = b""
            sql = query.get("query", "")
            data = None
            if sql and body:
                if FORMAT_AT_END.search(sql) and sql.lstrip().upper().startswith("INSERT"):
                    data = body
                else:
                    sql = sql + "\n" + body.decode("utf-8")
            elif body:
                text = body.decode("utf-8", "surrogateescape")
                m = INLINE_INSERT.match(text)
                if m and m.group(2).strip():
                    sql, data = m.group(1), m.group(2).encode("utf-8", "surrogateescape")
                else:
                    sql = body.decode("utf-8")
            if not sql.strip():
                raise ClickHouseError(62, "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)", 400)
            settings, params = {}, {}
            for k, v in query.items():
                pm = PARAM_NAME.match(k)
                if pm:
                    params[pm.group(1)] = v
                elif k not in HTTP_ONLY:
                    if not SETTING_NAME.match(k):
                        raise ClickHouseError(115, f"Code: 115. DB::Exception: Unknown setting {k}. (UNKNOWN_SETTING)", 400)
                    settings[k] = v
            readonly = int(settings.pop("readonly", "1" if read_only_verb else "0") or 0)
            if read_only_verb and readonly == 0:
                readonly = 1
            fmt = query.get("default_format") or "TabSeparated"
            started = time.monotonic()
            result = self.engine.execute(statement=sql, data=data, database=query.get("database") or None,
                                         settings=settings, params=params, fmt=fmt, readonly=readonly)
            out = result.bytes()
            summary = {
                "read_rows": str(result.rows_read()), "read_bytes": str(result.bytes_read()),
                "written_rows": str(getattr(result, "rows_written", lambda: 0)()),
                "written_bytes": str(getattr(result, "bytes_written", lambda: 0)()),
                "elapsed_ns": str(int((time.monotonic() - started) * 1e9)),
            }
            m = FORMAT_AT_END.search(sql)
            self._send(200, out, {
                "Content-Type": "application/octet-stream" if "Binary" in fmt else "text/plain; charset=UTF-8",
                "X-ClickHouse-Format": m.group(1) if m else fmt,
                "X-ClickHouse-Summary": json.dumps(summary),
                "X-ClickHouse-Timezone": "UTC",
            })
        except ClickHouseError as err:
            self._error(err)
        except UnicodeDecodeError as exc:
            self._error(ClickHouseError(36, f"Code: 36. DB::Exception: query text is not UTF-8: {exc}. (BAD_ARGUMENTS)", 400))
        except (ValueError, KeyError) as exc:
            self._error(ClickHouseError(36, f"Code: 36. DB::Exception: bad request: {exc}. (BAD_ARGUMENTS)", 400))
        except (BrokenPipeError, ConnectionResetError):
            pass


def main(argv=None):
    global VERSION
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--path", required=True, help="data directory of the engine")
    ap.add_argument("--listen", default="127.0.0.1:8123", help="host:port")
    ap.add_argument("--user", default="default")
    ap.add_argument("--password-file", help="file whose first line is the user's password")
    ap.add_argument("--pid-file")
    ap.add_argument("--verbose", action="store_true", help="log every request")
    args = ap.parse_args(argv)

    os.environ.setdefault("TZ", "UTC")
    engine = Engine(args.path, os.path.join(args.path, "tmp-http"))
    VERSION = engine._q("SELECT version()").bytes().decode().strip()
    Handler.engine = engine
    Handler.user = args.user
    Handler.quiet = not args.verbose
    if args.password_file:
        with open(args.password_file) as f:
            Handler.password = f.readline().rstrip("\n")
    host, _, port = args.listen.rpartition(":")
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    server.daemon_threads = True

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.pid_file:
        with open(args.pid_file, "w") as f:
            f.write(str(os.getpid()))
    print(f"chdb-http: ClickHouse {VERSION} (chdb {chdb.__version__}) on http://{args.listen}/, data in {args.path}",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
