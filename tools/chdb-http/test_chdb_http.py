"""Protocol tests of the chdb-http harness: what Pulse's Rust client, curl and the tests
rely on. Run: `.stack/chdb-venv/bin/python -m unittest tools/chdb-http/test_chdb_http.py`
(scripts/test does). Each test class starts its own harness on a free port over a
temporary data directory."""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Harness:
    def __init__(self, password=None):
        self.dir = tempfile.TemporaryDirectory()
        self.port = free_port()
        args = [sys.executable, os.path.join(HERE, "chdb_http.py"), "--path", self.dir.name,
                "--listen", f"127.0.0.1:{self.port}"]
        if password is not None:
            pf = os.path.join(self.dir.name, "pw")
            with open(pf, "w") as f:
                f.write(password + "\n")
            args += ["--password-file", pf]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if self.request("GET", "/ping")[1] == b"Ok.\n":
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("harness did not start: " + self.proc.stderr.read().decode())

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data, r

    def query(self, sql, **params):
        q = urllib.parse.urlencode(params)
        return self.request("POST", "/?" + q, body=sql.encode())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.dir.cleanup()


class ProtocolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Harness()
        status, body, _ = cls.h.query("CREATE TABLE t (a UInt32, s String) ENGINE = MergeTree ORDER BY a")
        assert status == 200, body

    @classmethod
    def tearDownClass(cls):
        cls.h.stop()

    def test_ping_and_version(self):
        self.assertEqual(self.h.request("GET", "/ping")[1], b"Ok.\n")
        status, body, _ = self.h.request("GET", "/?query=" + urllib.parse.quote("SELECT version()"))
        self.assertEqual(status, 200)
        self.assertTrue(body.decode().startswith("26."), body)

    def test_insert_chunked_body_then_read_back(self):
        def chunks():
            yield b'{"a":10,"s":"x"}\n'
            yield b'{"a":11,"s":"y"}\n'
        c = http.client.HTTPConnection("127.0.0.1", self.h.port)
        q = urllib.parse.quote("INSERT INTO t (a, s) FORMAT JSONEachRow")
        c.request("POST", "/?query=" + q, body=chunks(), encode_chunked=True)
        r = c.getresponse()
        self.assertEqual(r.status, 200, r.read())
        r.read()
        status, body, _ = self.h.query("SELECT a, s FROM t WHERE a IN (10, 11) ORDER BY a FORMAT JSONEachRow")
        self.assertEqual(body, b'{"a":10,"s":"x"}\n{"a":11,"s":"y"}\n')

    def test_binary_insert_rowbinary(self):
        row = (20).to_bytes(4, "little") + bytes([3]) + b"bin"
        status, body, _ = self.h.request("POST", "/?query=" + urllib.parse.quote("INSERT INTO t FORMAT RowBinary"), body=row)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.h.query("SELECT s FROM t WHERE a = 20")[1], b"bin\n")

    def test_inline_insert_in_body(self):
        status, body, _ = self.h.query('INSERT INTO t FORMAT JSONEachRow\n{"a":30,"s":"inline"}')
        self.assertEqual(status, 200, body)
        self.assertEqual(self.h.query("SELECT s FROM t WHERE a = 30")[1], b"inline\n")

    def test_error_has_code_header_and_engine_text(self):
        status, body, r = self.h.query("SELECT * FROM missing_table")
        self.assertEqual(status, 500)
        self.assertEqual(r.getheader("X-ClickHouse-Exception-Code"), "60")
        self.assertTrue(body.startswith(b"Code: 60. DB::Exception:"), body)

    def test_server_side_parameters_url_and_multipart(self):
        self.assertEqual(self.h.query("SELECT {x:UInt8} + 1", param_x="4")[1], b"5\n")
        boundary = "b0undary"
        parts = [("query", "SELECT {s:String} || {t:String} FORMAT TSVRaw"), ("param_s", "a'b"), ("param_t", "\\tc")]
        body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n' for n, v in parts)
        body += f"--{boundary}--\r\n"
        status, out, _ = self.h.request("POST", "/", body=body.encode(),
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        self.assertEqual(status, 200, out)
        self.assertEqual(out, b"a'b\tc\n", "the param value is in escaped text form: \\t is a tab")

    def test_settings_apply_to_one_request_only(self):
        self.assertEqual(self.h.query("SELECT getSetting('max_threads')", max_threads="1")[1], b"1\n")
        self.assertNotEqual(self.h.query("SELECT getSetting('max_threads')")[1], b"1\n")

    def test_readonly_refuses_writes_and_get_is_readonly(self):
        status, body, r = self.h.query("INSERT INTO t VALUES (1, 'x')", readonly="2")
        self.assertEqual(status, 500)
        self.assertEqual(r.getheader("X-ClickHouse-Exception-Code"), "164")
        status, _, _ = self.h.request("GET", "/?query=" + urllib.parse.quote("DROP TABLE t"))
        self.assertEqual(status, 500)
        self.assertEqual(self.h.query("SELECT 1", readonly="2")[1], b"1\n")
        self.assertEqual(self.h.query("EXISTS TABLE t")[1], b"1\n", "table still there")

    def test_multi_statements_are_refused(self):
        status, body, _ = self.h.query("SELECT 1; DROP TABLE t")
        self.assertEqual(status, 500)
        self.assertIn(b"Multi-statements are not allowed", body)
        self.assertEqual(self.h.query("EXISTS TABLE t")[1], b"1\n")

    def test_database_parameter(self):
        self.h.query("CREATE DATABASE IF NOT EXISTS other")
        self.h.query("CREATE TABLE IF NOT EXISTS other.u (x UInt8) ENGINE = Memory")
        self.assertEqual(self.h.query("SELECT currentDatabase()", database="other")[1], b"other\n")
        self.assertEqual(self.h.query("SELECT currentDatabase()")[1], b"default\n", "reset after the request")
        status, _, r = self.h.query("SELECT 1", database="nope")
        self.assertEqual(r.getheader("X-ClickHouse-Exception-Code"), "81")

    def test_default_format_and_format_header(self):
        status, body, r = self.h.query("SELECT 1 AS one", default_format="JSONEachRow")
        self.assertEqual(body, b'{"one":1}\n')
        self.assertEqual(r.getheader("X-ClickHouse-Format"), "JSONEachRow")
        self.assertIn("read_rows", json.loads(r.getheader("X-ClickHouse-Summary")))

    def test_compressed_bodies_are_refused_clearly(self):
        status, body, _ = self.h.query("SELECT 1", decompress="1")
        self.assertEqual(status, 400)
        self.assertIn(b"not supported", body)

    def test_concurrent_clients(self):
        self.h.query("CREATE TABLE IF NOT EXISTS c (k UInt32) ENGINE = MergeTree ORDER BY k")
        errors = []

        def worker(i):
            try:
                for j in range(20):
                    s, b, _ = self.h.request("POST", "/?query=" + urllib.parse.quote("INSERT INTO c FORMAT TSV"),
                                             body=f"{i * 1000 + j}\n".encode())
                    assert s == 200, b
                    s, b, _ = self.h.query("SELECT count() FROM c")
                    assert s == 200, b
            except Exception as e:  # collected and asserted below
                errors.append(e)
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(self.h.query("SELECT count(), uniqExact(k) FROM c")[1], b"160\t160\n")


class AuthTest(unittest.TestCase):
    def test_password(self):
        h = Harness(password="s3cret")
        try:
            status, body, r = h.query("SELECT 1")
            self.assertEqual(status, 401)
            self.assertEqual(r.getheader("X-ClickHouse-Exception-Code"), "516")
            self.assertEqual(h.query("SELECT 1", user="default", password="s3cret")[1], b"1\n")
            status, body, _ = h.request("POST", "/", body=b"SELECT 2",
                                        headers={"X-ClickHouse-User": "default", "X-ClickHouse-Key": "s3cret"})
            self.assertEqual(body, b"2\n")
        finally:
            h.stop()


if __name__ == "__main__":
    unittest.main()
