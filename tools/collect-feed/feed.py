#!/usr/bin/env python3
"""Sends Segment-shaped NDJSON calls (one per line) to `pulse collect` in batches.

    feed.py --url http://127.0.0.1:8090 --write-key-file .stack/collect-write-key < calls.ndjson

Standard library only. Each batch goes to /v1/batch, gzip-compressed, with the write
key as the Basic user. A 503 or 429 is retried after its Retry-After (as the SDKs do);
any other answer, or a call the collector rejected, stops the feed with exit status 1,
so the caller sees it. Prints the totals.
"""

import argparse
import base64
import gzip
import json
import sys
import time
import urllib.error
import urllib.request


def post(url, auth, lines, give_up_after):
    deadline = time.monotonic() + give_up_after
    body = gzip.compress(("{\"batch\":[" + ",".join(lines) + "]}").encode())
    while True:
        req = urllib.request.Request(url + "/v1/batch", data=body, method="POST")
        req.add_header("Content-Type", "application/json")
        req.add_header("Content-Encoding", "gzip")
        req.add_header("Authorization", "Basic " + auth)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                answer = json.load(r)
        except urllib.error.HTTPError as e:
            if e.code in (429, 503) and time.monotonic() < deadline:
                time.sleep(int(e.headers.get("Retry-After") or "1"))
                continue
            raise SystemExit(f"collect answered {e.code}: {e.read()[:500]!r}")
        if answer.get("accepted") != len(lines) or answer.get("rejected"):
            raise SystemExit(f"collect rejected calls: {json.dumps(answer)[:1000]}")
        return len(lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--write-key-file", required=True)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--give-up-after", type=int, default=300, help="seconds of 503/429 retries per batch")
    a = p.parse_args()
    with open(a.write_key_file) as f:
        auth = base64.b64encode((f.read().strip() + ":").encode()).decode()
    sent, batch, started = 0, [], time.monotonic()
    for line in sys.stdin:
        line = line.strip()
        if line:
            batch.append(line)
        if len(batch) >= a.batch:
            sent += post(a.url, auth, batch, a.give_up_after)
            batch = []
    if batch:
        sent += post(a.url, auth, batch, a.give_up_after)
    print(f"collect-feed: {sent} calls accepted in {time.monotonic() - started:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
