"""Sends Segment-spec calls through a real SDK to `pulse collect` (tests/tests/collect_sdks.rs).

    send.py --sdk segment|rudderstack --host URL --write-key KEY --plan FILE

FILE is JSON: {"calls": [{"type": "track"|"page"|"group"|"identify", ...}]}, each call
with the SDK method's keyword arguments (user_id, event, name, properties, group_id,
traits, context, timestamp as RFC 3339, message_id). The calls are queued in the SDK's
default asynchronous mode (batched, and gzip-compressed for RudderStack, which does so
by default), flushed, and the client shut down. Exits 1 when the SDK reported any error
(its on_error callback), so a refused batch fails the test instead of being logged.
"""

import argparse
import datetime
import json
import sys

errors = []


def on_error(error, batch):
    errors.append((str(error), len(batch)))


def client(sdk, host, write_key):
    if sdk == "segment":
        from segment.analytics import Client

        # gzip left at the library's default (off); upload_size small so several
        # batches go out.
        return Client(write_key, host=host, on_error=on_error, upload_size=25, max_retries=3)
    if sdk == "rudderstack":
        from rudderstack.analytics import Client

        # gzip left at the library's default (on).
        return Client(write_key, host=host, on_error=on_error, upload_size=25, max_retries=3)
    raise SystemExit(f"unknown sdk {sdk}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sdk", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--write-key", required=True)
    p.add_argument("--plan", required=True)
    a = p.parse_args()
    with open(a.plan) as f:
        calls = json.load(f)["calls"]
    c = client(a.sdk, a.host, a.write_key)
    for call in calls:
        kind = call.pop("type")
        if "timestamp" in call:
            call["timestamp"] = datetime.datetime.fromisoformat(call["timestamp"].replace("Z", "+00:00"))
        getattr(c, kind)(**call)
    c.flush()
    c.join()
    if errors:
        print(f"{a.sdk}: {len(errors)} errors, first: {errors[0]}", file=sys.stderr)
        sys.exit(1)
    print(f"{a.sdk}: {len(calls)} calls sent")


if __name__ == "__main__":
    main()
