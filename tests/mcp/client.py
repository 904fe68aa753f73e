"""A real MCP client (the `mcp` package from PyPI) against villa-telemetry.

Driven by tests/mcp.rs against the demo world's drift scenario:

    python client.py stdio BIN CONFIG SCHEMA   # spawns `BIN mcp --config CONFIG`
    python client.py http URL SCHEMA           # streamable HTTP, e.g. http://127.0.0.1:PORT/mcp

Lists the tools and resources, calls every tool, validates structured content
against the tool's output schema and the report against the report's JSON
Schema (SCHEMA, a file), then calls `deployed` 100 times. Prints one JSON line
with what it saw; exits non-zero with the reason on the first failed check.
"""

import asyncio
import json
import sys
from contextlib import asynccontextmanager

import jsonschema
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

try:  # mcp >= 2
    from mcp.client.streamable_http import streamable_http_client as http_client
except ImportError:  # mcp 1.x
    from mcp.client.streamable_http import streamablehttp_client as http_client

TOOLS = {"status", "deployed", "compare", "ci", "next_steps"}


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def dump(model):
    """Camel-case JSON of a result, whatever the package's field names."""
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


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
            await session.initialize()

            tools = dump(await session.list_tools())["tools"]
            by_name = {t["name"]: t for t in tools}
            check(set(by_name) == TOOLS, f"tools: {sorted(by_name)}")
            for t in tools:
                check(t.get("outputSchema", {}).get("type") == "object", f"{t['name']} has an output schema")
                check(t.get("annotations", {}).get("readOnlyHint") is True, f"{t['name']} is read-only")
                check(t.get("annotations", {}).get("idempotentHint") is True, f"{t['name']} is idempotent")
                check(t.get("annotations", {}).get("openWorldHint") is False, f"{t['name']} reads the cached report, not the open world")
                check(t.get("description"), f"{t['name']} has a description")
            seen["tools"] = sorted(by_name)

            def structured(name, result):
                check(not result.get("isError"), f"{name} failed: {result.get('content')}")
                content = result.get("structuredContent")
                check(isinstance(content, dict), f"{name} returns structured content: {result}")
                jsonschema.validate(content, by_name[name]["outputSchema"])
                return content

            report = structured("status", await call(session, "status", {}))
            jsonschema.Draft202012Validator(schema).validate(report)
            check(report["$schema"] == schema["$id"], "the report names its schema")
            check(list(report["environments"]) == ["local", "staging", "production"], "three environments")
            check(report["assessment"]["headline"], "an assessment headline")

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

            resources = dump(await session.list_resources())["resources"]
            uris = sorted(r["uri"] for r in resources)
            check(uris == ["villa://status.json", "villa://status.txt"], f"resources: {uris}")
            as_json = dump(await session.read_resource("villa://status.json"))["contents"][0]
            check(as_json["mimeType"] == "application/json", f"{as_json.get('mimeType')}")
            jsonschema.Draft202012Validator(schema).validate(json.loads(as_json["text"]))
            as_text = dump(await session.read_resource("villa://status.txt"))["contents"][0]
            check("Production" in as_text["text"], "the text report")

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
