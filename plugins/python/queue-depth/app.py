"""queue-depth: how many messages wait in a queue, against thresholds.

Reads a JSON queue-stats endpoint through the host's `http-fetch` (so the
URL's host must be in the check's allow.http) and finds the depth at
`field`, a dotted path ("messages", "stats.ready"). An endpoint that
answers a list (RabbitMQ's /api/queues) is a list of queues: their depths
add up and the deepest is named. Config:

    url = "https://rabbit.example.com/api/queues/%2F/jobs"
    field = "messages"        # default
    warn = 1000               # depth at which the check warns (optional)
    fail = 5000               # depth at which it fails (optional)
    headers = { authorization = "Basic ..." }   # optional
"""

import json

import wit_world
from wit_world.imports import host, types
from componentize_py_types import Err


def dig(value, path):
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise Err("no field %r in the response" % path)
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Err("field %r is not a number: %s" % (path, json.dumps(value)[:80]))
    return value


def fetch_json(url, headers):
    req = host.HttpRequest(method="GET", url=url, headers=list(headers.items()), body=None)
    try:
        resp = host.http_fetch(req)
    except Err as e:
        v = e.value
        reason = getattr(v, "value", None) or type(v).__name__.replace("HttpError_", "").lower()
        raise Err("cannot fetch %s: %s" % (url, reason))
    if resp.status // 100 != 2:
        raise Err("%s answered HTTP %d" % (url, resp.status))
    try:
        return json.loads(bytes(resp.body))
    except ValueError as e:
        raise Err("%s did not answer JSON: %s" % (url, e))


class WitWorld(wit_world.WitWorld):
    def describe(self) -> str:
        return json.dumps({
            "name": "queue-depth",
            "version": "0.1.0",
            "language": "python",
            "config": {
                "url": "queue stats endpoint (JSON)",
                "field": "dotted path to the depth, default messages",
                "warn": "depth that warns (optional)",
                "fail": "depth that fails (optional)",
                "headers": "extra request headers (optional)",
            },
        })

    def run(self, input: types.CheckInput) -> types.CheckOutput:
        config = json.loads(input.config_json)
        url = config.get("url")
        if not isinstance(url, str):
            raise Err("config needs url (the queue stats endpoint)")
        field = config.get("field", "messages")
        warn, fail = config.get("warn"), config.get("fail")
        body = fetch_json(url, config.get("headers") or {})

        fields = {"url": url}
        if isinstance(body, list):
            depths = {}
            for i, queue in enumerate(body):
                name = queue.get("name", str(i)) if isinstance(queue, dict) else str(i)
                depths[name] = dig(queue, field)
            depth = sum(depths.values())
            fields["queues"] = len(depths)
            if depths:
                deepest = max(depths, key=depths.get)
                fields["deepest"] = {"name": deepest, "depth": depths[deepest]}
        else:
            depth = dig(body, field)
        fields["depth"] = depth
        if warn is not None:
            fields["warn"] = warn
        if fail is not None:
            fields["fail"] = fail

        if fail is not None and depth >= fail:
            status, verdict = types.Status.FAIL, "at or above fail %s" % fail
        elif warn is not None and depth >= warn:
            status, verdict = types.Status.WARN, "at or above warn %s" % warn
        else:
            limit = warn if warn is not None else fail
            verdict = "below %s" % limit if limit is not None else "no thresholds"
            status = types.Status.PASS
        summary = "queue depth %s (%s)" % (depth, verdict)
        if "deepest" in fields:
            summary += "; deepest %s with %s" % (fields["deepest"]["name"], fields["deepest"]["depth"])
        return types.CheckOutput(status, summary, json.dumps(fields))
