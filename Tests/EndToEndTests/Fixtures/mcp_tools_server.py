#!/usr/bin/env python3
"""A builder's MCP server written with the official MCP Python SDK (`mcp` 2.x), behind GPTAuth's
nginx gate: streamable HTTP on 127.0.0.1, one tool `greet(name)`. It does not check tokens itself
(nginx did, and passed the request on with the caller's `Authorization` header and the
X-GPTAuth-User/-Email/-Plan headers); each call of the tool first counts itself:
`POST <count-url>` with the MCP request's own `Authorization` header and no body. A 200 answer
gives the text `Hello, <name>! (<X-GPTAuth-Email>)`; any other answer gives an error result
(isError true) whose text is the answer's `message`, for the model to read.

Stateless by default, so it answers both the initialize handshake (2025-11-25 and earlier) and
2026-07-28 requests, with plain JSON answers (no SSE) unless asked. Prints its port on the first
line of stdout once it listens; serves until stdin closes.

  mcp_tools_server.py --port P [--path /tools/mcp] --count-url URL [--stateful] [--sse]
"""
import argparse
import socket
import sys
import threading

import anyio
import httpx2
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--path", default="/tools/mcp", help="the MCP endpoint's path")
    parser.add_argument("--count-url", required=True, help="POSTed to (with the caller's Authorization) on every tool call")
    parser.add_argument("--stateful", action="store_true", help="keep Mcp-Session-Id sessions (default: stateless)")
    parser.add_argument("--sse", action="store_true", help="answer requests as SSE streams (default: JSON)")
    return parser.parse_args()


def text_result(text: str, is_error: bool = False) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=is_error)


def build_server(count_url: str) -> MCPServer:
    server = MCPServer("GPTAuth test tools", instructions="Greets people; every call counts against the caller's plan.",
                       log_level="WARNING")

    @server.tool(description="Greet someone by name.")
    async def greet(name: str, ctx: Context) -> CallToolResult:
        # The HTTP request this call came in (a Starlette Request, on both the handshake-era and the
        # 2026-07-28 paths): ctx.headers is ctx.request_context.request.headers (case-insensitive).
        headers = ctx.headers or {}
        authorization = headers.get("authorization")
        email = headers.get("x-gptauth-email", "")
        count_headers = {"Authorization": authorization} if authorization is not None else {}
        try:
            async with httpx2.AsyncClient(timeout=10.0, trust_env=False) as http:
                answer = await http.post(count_url, headers=count_headers)
        except httpx2.HTTPError as error:
            return text_result(f"The usage check could not be reached: {error}", is_error=True)
        if answer.status_code == 200:
            return text_result(f"Hello, {name}! ({email})")
        try:
            body = answer.json()
        except ValueError:
            body = None
        message = None
        if isinstance(body, dict):
            message = body.get("message") or body.get("error_description") or body.get("error")
        if not isinstance(message, str) or not message:
            message = f"The usage check answered HTTP {answer.status_code}: {answer.text[:500]}"
        return text_result(message, is_error=True)

    return server


async def serve(args) -> None:
    server = build_server(args.count_url)
    app = server.streamable_http_app(
        streamable_http_path=args.path,
        stateless_http=not args.stateful,
        json_response=not args.sse,
        # nginx sends Host: 127.0.0.1:<its port>; the gate in front decides who gets in.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host="127.0.0.1",
    )
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(128)
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2)
    web = uvicorn.Server(config)

    def stop_when_stdin_closes():
        sys.stdin.read()
        web.should_exit = True

    async def announce():
        while not web.started:
            if web.should_exit:
                return
            await anyio.sleep(0.02)
        print(port, flush=True)

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    async with anyio.create_task_group() as group:
        group.start_soon(announce)
        await web.serve(sockets=[listener])
        group.cancel_scope.cancel()


def main():
    args = arguments()
    if not args.path.startswith("/"):
        sys.exit("--path must start with /")
    anyio.run(serve, args)


if __name__ == "__main__":
    main()
