"""A real MCP client (the `mcp` package from PyPI) against villa-telemetry.

Driven by tests/mcp.rs against the demo world's drift scenario:

    python client.py stdio BIN CONFIG SCHEMA   # spawns `BIN mcp --config CONFIG`
    python client.py http URL SCHEMA           # streamable HTTP, e.g. http://127.0.0.1:PORT/mcp

MCP_REVISION=2026-07-28 in the environment makes the client open with
`server/discover` (the 2026-07-28 revision, no `initialize`) instead of the
2025-11-25 handshake, and skips the timing loops.

Lists the tools and resources, calls every tool, validates structured content
against the tool's output schema as listed and as served whole (the resource
a cut schema names), and the report against the report's JSON Schema (SCHEMA,
a file); checks tools/list stays under 8 KB and every answer but `status`
under 3 KB; times each tool (median of 20 calls), then calls `deployed` 100
times. Prints one JSON line with what it saw and measured; exits non-zero
with the reason on the first failed check.
"""

import asyncio
import datetime
import json
import os
import re
import statistics
import sys
import time
from contextlib import asynccontextmanager

import jsonschema
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

try:  # mcp >= 2
    from mcp.client.streamable_http import streamable_http_client as http_client
except ImportError:  # mcp 1.x
    from mcp.client.streamable_http import streamablehttp_client as http_client

TOOLS = {"status", "deployed", "compare", "ci", "next_steps", "environments", "diagnose", "journey"}
TOOLS_LIST_BYTES = 8192
ANSWER_BYTES = 3072
REVISION = os.environ.get("MCP_REVISION", "2025-11-25")


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def dump(model):
    """Camel-case JSON of a result, whatever the package's field names."""
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def size(value):
    """Bytes of `value` as compact JSON: about what it weighs on the wire."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


@asynccontextmanager
async def connect(mode, args):
    if mode == "stdio":
        binary, config = args[0], args[1]
        params = StdioServerParameters(command=binary, args=["mcp", "--config", config])
        async with stdio_client(params) as streams:
            yield streams[0], streams[1]
    else:
        async with http_client(args[0]) as streams:
            yield streams[0], streams[1]


async def call(session, name, arguments):
    result = dump(await session.call_tool(name, arguments))
    return result


async def run(mode, args, schema):
    seen = {}
    async with connect(mode, args) as (read, write):
        async with ClientSession(read, write) as session:
            if REVISION >= "2026-07-28":
                await session.discover()
            else:
                await session.initialize()
            seen["protocol_version"] = session.protocol_version
            check(session.protocol_version == REVISION, f"negotiated {session.protocol_version}, wanted {REVISION}")

            listed = dump(await session.list_tools())
            if REVISION >= "2026-07-28":
                # The tool list is fixed while the server runs: cacheable.
                check(listed.get("ttlMs", 0) > 0, f"tools/list has a cache hint: {listed.get('ttlMs')}")
                seen["tools_list_ttl_ms"] = listed["ttlMs"]
                listed.pop("ttlMs", None)
                listed.pop("cacheScope", None)
                listed.pop("resultType", None)
            seen["tools_list_bytes"] = size(listed)
            check(seen["tools_list_bytes"] < TOOLS_LIST_BYTES, f"tools/list is {seen['tools_list_bytes']} bytes")
            tools = listed["tools"]
            by_name = {t["name"]: t for t in tools}
            check(set(by_name) == TOOLS, f"tools: {sorted(by_name)}")
            for t in tools:
                check(t.get("outputSchema", {}).get("type") == "object", f"{t['name']} has an output schema")
                check(t.get("annotations", {}).get("readOnlyHint") is True, f"{t['name']} is read-only")
                check(t.get("annotations", {}).get("idempotentHint") is True, f"{t['name']} is idempotent")
                check(t.get("annotations", {}).get("openWorldHint") is False, f"{t['name']} reads the cached report, not the open world")
                check(t.get("description"), f"{t['name']} has a description")
            seen["tools"] = sorted(by_name)

            # A schema too long to list names the resource that holds it whole.
            whole = {}
            for t in tools:
                out = t["outputSchema"]
                uri = re.search(r"villa://\S+\.json", out.get("description", ""))
                if uri:
                    text = dump(await session.read_resource(uri.group(0)))["contents"][0]["text"]
                    whole[t["name"]] = json.loads(text)
                    jsonschema.Draft202012Validator.check_schema(whole[t["name"]])
                else:
                    whole[t["name"]] = out
            check("status" in whole and whole["status"] == schema, "status's schema is the report's, served as villa://schema.json")
            seen["cut_schemas"] = sorted(n for n in whole if whole[n] is not by_name[n]["outputSchema"])
            answer_bytes = {}

            def structured(name, result):
                check(not result.get("isError"), f"{name} failed: {result.get('content')}")
                content = result.get("structuredContent")
                check(isinstance(content, dict), f"{name} returns structured content: {result}")
                jsonschema.validate(content, by_name[name]["outputSchema"])
                jsonschema.Draft202012Validator(whole[name]).validate(content)
                # Every answer says which run it comes from and how old it is.
                observed = datetime.datetime.fromisoformat(content["observed_at"].replace("Z", "+00:00"))
                check(isinstance(content["age_s"], int) and 0 <= content["age_s"] < 600, f"{name}: age_s {content['age_s']}")
                now = datetime.datetime.now(datetime.timezone.utc)
                check(abs((now - observed).total_seconds() - content["age_s"]) <= 2, f"{name}: observed_at and age_s agree")
                answer_bytes[name] = max(answer_bytes.get(name, 0), size(content))
                if name != "status":
                    check(size(content) < ANSWER_BYTES, f"{name} answers {size(content)} bytes")
                return content

            report = structured("status", await call(session, "status", {}))
            jsonschema.Draft202012Validator(schema).validate(report)
            check(report["$schema"] == schema["$id"], "the report names its schema")
            check(list(report["environments"]) == ["local", "staging", "production"], "three environments")
            check(report["assessment"]["headline"], "an assessment headline")
            check(report["observed_at"] == report["timestamp"], "status: observed_at is the report's timestamp")

            prod = structured("status", await call(session, "status", {"env": "production"}))
            jsonschema.Draft202012Validator(schema).validate(prod)
            check(list(prod["environments"]) == ["production"], f"env=production: {list(prod['environments'])}")

            bad = await call(session, "status", {"env": "nope"})
            check(bad.get("isError") is True, f"an unknown env is a tool error: {bad}")
            check("known: local, staging, production" in json.dumps(bad.get("content")), "names the known ones")

            deployed = structured("deployed", await call(session, "deployed", {}))
            check(deployed["is_local_head"] is True, f"deployed defaults to local HEAD: {deployed}")
            check(set(deployed["environments"]) == {"local", "staging", "production"}, f"{deployed}")
            check(all(isinstance(deployed["why"][e], str) for e in deployed["environments"]), "a sentence each")

            compared = structured("compare", await call(session, "compare", {"environment": "production"}))
            check(compared["tracked"] == "staging", f"{compared}")
            check(compared["commits_behind"] == 2, f"drift world: 2 behind: {compared}")
            check(compared["diff_url"].startswith("https://github.com/"), f"{compared}")
            check("2 commits behind staging" in compared["summary"], compared["summary"])

            ci = structured("ci", await call(session, "ci", {"environment": "staging"}))
            check(ci["commit"]["status"] == "failure", f"staging's commit CI failed: {ci}")
            check(ci["workflow_runs"]["ci"]["url"].startswith("https://github.com/"), f"{ci}")

            steps = structured("next_steps", await call(session, "next_steps", {}))
            check(steps["next_steps"], f"next steps: {steps}")
            for s in steps["next_steps"]:
                check(s["action"] and s["reason"], f"each step has an action and a reason: {s}")
            check(any(b["cause"] == "code" for b in steps["broken"]), f"failed CI is code: {steps['broken']}")
            seen["headline"] = steps["headline"]

            where = structured("environments", await call(session, "environments", {}))
            check(list(where["environments"]) == list(report["environments"]), f"{where}")
            for env, e in report["environments"].items():
                check(where["environments"][env].get("sha") == e.get("sha"), f"{env}: one sha: {where}")
            tracks = where["environments"]["production"]["tracks"]
            check(tracks["environment"] == "staging", f"{tracks}")
            check(tracks["behind_by"] == compared["commits_behind"], f"environments and compare agree: {tracks}")
            check(tracks["diff_url"] == compared["diff_url"], f"{tracks}")
            check(where["summary"], "a sentence")

            for env in report["environments"]:
                d = structured("diagnose", await call(session, "diagnose", {"environment": env}))
                mine = [b for b in report["assessment"]["broken"] if b.get("environment") == env]
                check(d["broken"] == mine, f"diagnose {env} has status's broken entries: {d}")
                check(d["healthy"] == (not mine), f"diagnose {env}: healthy is nothing broken: {d}")
            bad = await call(session, "diagnose", {"environment": "nope"})
            check(bad.get("isError") is True and "known: local, staging, production" in json.dumps(bad.get("content")),
                  f"diagnose of an unknown env names the known ones: {bad}")

            # `journey` looks the commit up (git, GitHub) on every call, so
            # it is asked over stdio only: over HTTP the test counts that
            # cached answers cost GitHub nothing.
            if mode == "stdio":
                j = structured("journey", await call(session, "journey", {}))
                check(j["asked"] == "HEAD" and j["sha"] == report["git"]["sha_full"], f"journey of HEAD: {j}")
                check(list(j["environments"]) == list(report["environments"]), f"{j}")
                check(all(s["text"] for s in j["environments"].values()), f"a line each: {j}")
                bad = await call(session, "journey", {"sha": "not-a-sha"})
                check(bad.get("isError") is True, f"a bad sha is a tool error: {bad}")
                seen["journey"] = j["summary"]

            resources = dump(await session.list_resources())["resources"]
            uris = sorted(r["uri"] for r in resources)
            want = {"villa://status.json", "villa://status.txt", "villa://schema.json"}
            want |= {f"villa://schema/{n}.json" for n in seen["cut_schemas"] if n != "status"}
            check(set(uris) == want, f"resources: {uris}")
            served = dump(await session.read_resource("villa://schema.json"))["contents"][0]
            check(served["mimeType"] == "application/schema+json", f"{served.get('mimeType')}")
            check(json.loads(served["text"]) == schema, "villa://schema.json is the report's schema")
            as_json = dump(await session.read_resource("villa://status.json"))["contents"][0]
            check(as_json["mimeType"] == "application/json", f"{as_json.get('mimeType')}")
            jsonschema.Draft202012Validator(schema).validate(json.loads(as_json["text"]))
            as_text = dump(await session.read_resource("villa://status.txt"))["contents"][0]
            check("Production" in as_text["text"], "the text report")

            seen["answer_bytes"] = answer_bytes
            if REVISION >= "2026-07-28":
                return seen

            # Median of 20 calls per tool, from the cached report.
            timed = {
                "status": {},
                "status env": {"env": "production"},
                "deployed": {},
                "compare": {"environment": "production"},
                "ci": {"environment": "staging"},
                "next_steps": {},
                "environments": {},
            }
            medians = {}
            for label, arguments in timed.items():
                name = label.split()[0]
                times = []
                for _ in range(20):
                    started = time.perf_counter()
                    structured(name, await call(session, name, arguments))
                    times.append(time.perf_counter() - started)
                medians[label] = round(statistics.median(times) * 1000, 2)
            seen["median_ms"] = medians

            for _ in range(100):
                structured("deployed", await call(session, "deployed", {}))
            seen["repeated_calls"] = 100
    return seen


def main():
    mode, rest = sys.argv[1], sys.argv[2:]
    with open(rest[-1]) as f:
        schema = json.load(f)
    try:
        seen = asyncio.run(run(mode, rest[:-1], schema))
    except (Failed, jsonschema.ValidationError) as e:
        print(f"FAILED ({mode}): {e}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"ok": True, "mode": mode, **seen}))


if __name__ == "__main__":
    main()
