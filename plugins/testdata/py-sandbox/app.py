"""Test plugin (Python): one component that misbehaves in the way its
config's `mode` asks, so the host's sandbox tests run against a
componentize-py build too (each Python component is tens of MB, so one
component covers every case)."""

import json
import os
import sys

import wit_world
from wit_world.imports import host, types
from componentize_py_types import Err


def probe(action):
    try:
        action()
        return "ok"
    except Exception as e:  # the sandbox's refusal is the answer
        return "err: " + str(e)


def fetch_outcome(url):
    req = host.HttpRequest(method="GET", url=url, headers=[("x-test", "1")], body=None)
    try:
        resp = host.http_fetch(req)
        return "ok %d %s" % (resp.status, bytes(resp.body).decode("utf-8", "replace"))
    except Err as e:
        v = e.value
        if isinstance(v, host.HttpError_Denied):
            return "denied: " + v.value
        if isinstance(v, host.HttpError_Timeout):
            return "timeout"
        if isinstance(v, host.HttpError_TooLarge):
            return "too-large"
        return "transport: " + v.value


def sandbox():
    fields = {
        "fs_root": probe(lambda: os.listdir("/")),
        "fs_cwd": probe(lambda: os.listdir(".")),
        "passwd": probe(lambda: open("/etc/passwd").read()),
        "env": dict(os.environ),
    }
    print("hello from stdout", flush=True)
    print("hello from stderr", file=sys.stderr, flush=True)
    line = "z" * 1023
    flood = "ok"
    for _ in range(200):
        try:
            print(line, flush=True)
        except Exception:
            flood = "write failed"
    fields["flood"] = flood
    return types.CheckOutput(types.Status.PASS, "probed", json.dumps(fields))


def bad_output(mode):
    if mode == "array":
        return types.CheckOutput(types.Status.PASS, "fields are an array", "[1, 2, 3]")
    if mode == "invalid":
        return types.CheckOutput(types.Status.PASS, "fields are not JSON", '{"unterminated": ')
    if mode == "huge-summary":
        return types.CheckOutput(types.Status.PASS, "x" * (100 * 1024), None)
    if mode == "huge-fields":
        big = '{"blob":"%s"}' % ("y" * (200 * 1024))
        return types.CheckOutput(types.Status.PASS, "big fields", big)
    raise Err("config says no")


class WitWorld(wit_world.WitWorld):
    def describe(self) -> str:
        return json.dumps({"name": "py-sandbox", "language": "python"})

    def run(self, input: types.CheckInput) -> types.CheckOutput:
        config = json.loads(input.config_json)
        mode = config.get("mode", "pass")
        if mode == "pass":
            host.log(host.LogLevel.INFO, "py-sandbox running " + input.check_id)
            return types.CheckOutput(types.Status.PASS, "ok", json.dumps({"check_id": input.check_id}))
        if mode == "loop":
            n = 0
            while True:
                n += 1
        if mode == "membomb":
            hoard = []
            while True:
                hoard.append(bytearray(1024 * 1024))
        if mode == "sandbox":
            return sandbox()
        if mode == "fetch":
            http = [{"url": u, "outcome": fetch_outcome(u)} for u in config.get("urls", [])]
            return types.CheckOutput(types.Status.PASS, "fetched", json.dumps({"http": http}))
        if mode == "panic":
            raise RuntimeError("deliberate failure: the plugin gave up")
        return bad_output(mode)
