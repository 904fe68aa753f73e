"""A real MCP client (the `mcp` package) calling an action tool of
villa-telemetry (`[mcp] actions = true`), answering the confirm question
as a user would. Driven by tests/it/mcp_actions.rs:

    python act_client.py stdio BIN CONFIG TOOL ARGS_JSON ANSWER
    python act_client.py http URL TOOL ARGS_JSON ANSWER

ANSWER is the word the user types, or `!decline`. MCP_REVISION=2026-07-28
opens with `server/discover`: the server answers `input_required` and the
client retries with the user's answer in `inputResponses`. At 2025-11-25 the
server asks with `elicitation/create`. Prints one JSON line: the tools
listed, the questions asked (message and form) and the tool's result.
"""

import asyncio
import json
import os
import sys
from contextlib import asynccontextmanager

from mcp import ClientSession, StdioServerParameters
from mcp import types
from mcp.client.stdio import stdio_client

try:  # mcp >= 2
    from mcp.client.streamable_http import streamable_http_client as http_client
except ImportError:  # mcp 1.x
    from mcp.client.streamable_http import streamablehttp_client as http_client

REVISION = os.environ.get("MCP_REVISION", "2025-11-25")


def dump(model):
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


@asynccontextmanager
async def connect(mode, args):
    if mode == "stdio":
        params = StdioServerParameters(command=args[0], args=["mcp", "--config", args[1]], env=dict(os.environ))
        async with stdio_client(params) as streams:
            yield streams[0], streams[1]
    else:
        async with http_client(args[0]) as streams:
            yield streams[0], streams[1]


def answer_for(word):
    if word == "!decline":
        return types.ElicitResult(action="decline")
    return types.ElicitResult(action="accept", content={"confirm": word})


async def run(mode, args, tool, arguments, word):
    asked = []

    async def on_elicit(context, params):
        asked.append(dump(params))
        return answer_for(word)

    seen = {}
    async with connect(mode, args) as (read, write):
        async with ClientSession(read, write, elicitation_callback=on_elicit) as session:
            if REVISION >= "2026-07-28":
                await session.discover()
            else:
                await session.initialize()
            seen["protocol_version"] = session.protocol_version
            listed = dump(await session.list_tools())
            seen["tools"] = {t["name"]: t for t in listed["tools"]}
            if REVISION >= "2026-07-28":
                first = await session.call_tool(tool, arguments, allow_input_required=True)
                rounds = 0
                while isinstance(first, types.InputRequiredResult):
                    rounds += 1
                    responses = {}
                    for key, req in (first.input_requests or {}).items():
                        asked.append(dump(req.params))
                        responses[key] = dump(answer_for(word))
                    first = await session.call_tool(
                        tool,
                        arguments,
                        input_responses=responses,
                        request_state=first.request_state,
                        allow_input_required=True,
                    )
                seen["rounds"] = rounds
                result = first
            else:
                try:
                    result = await session.call_tool(tool, arguments)
                except Exception as e:  # a protocol error, e.g. an unknown tool
                    seen["error"] = str(e)
                    result = None
            if result is not None:
                seen["result"] = dump(result)
    seen["asked"] = asked
    return seen


def main():
    mode, rest = sys.argv[1], sys.argv[2:]
    word = rest[-1]
    arguments = json.loads(rest[-2])
    tool = rest[-3]
    seen = asyncio.run(run(mode, rest[:-3], tool, arguments, word))
    print(json.dumps({"ok": True, "mode": mode, **seen}))


if __name__ == "__main__":
    main()
