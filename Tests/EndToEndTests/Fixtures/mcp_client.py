#!/usr/bin/env python3
"""An MCP client the way a connector (ChatGPT, Claude) is one, written with the official MCP Python
SDK (`mcp` 2.x): its streamable HTTP transport and its own OAuth client (`OAuthClientProvider`:
discovery from the 401, a Client ID Metadata Document or dynamic client registration, PKCE, the
token exchange and the refresh). Nothing of OAuth is done by hand here; only the person is
played: the SDK's redirect handler gets the authorization URL, and instead of opening a browser
this fills the authorization server's sign-in pages over HTTP with a cookie jar and no
JavaScript (email address, the 6-digit code from the newest mail to that address in the mail
folder, consent if asked), then hands the SDK's callback handler the code, state and iss from the
redirect to the redirect URI, which it does not follow.

  mcp_client.py --server URL --redirect-uri URI --email ADDRESS --mail-folder PATH
                [--client-metadata-url https://…] [--calls N] [--refresh] [--client-name NAME]
                [--token-auth-method none|client_secret_post] [--mode legacy|auto|2026-07-28]
                [--tool greet] [--tool-arguments '{"name": "World"}'] [--timeout SECONDS] [--source-address 127.0.0.2]

With --client-metadata-url the SDK uses that URL as client_id (CIMD) when the authorization server
advertises client_id_metadata_document_supported; otherwise it registers (RFC 7591).

Output, one JSON object per line on stdout:
  {"step": "registered", "client_id": "…"}     the SDK has its client (the DCR id, or the CIMD URL)
  {"step": "authorized", "scope": "…"|null}    tokens came from an authorization code (never printed)
  {"step": "tool", "index": i, "is_error": b, "text": "…"}   each tool call, i = 1, 2, …
  {"step": "refreshed"}                        --refresh: the SDK's refresh path got new tokens
  {"step": "done"}
Exit 0 when all of it went through (tool results with isError are reported, not failures);
otherwise a message on stderr and exit 1.
"""
import argparse
import json
import os
import re
import sys
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import anyio
import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp_types import Implementation


def emit(**fields):
    print(json.dumps(fields), flush=True)


class Failure(Exception):
    """Something that ends the run with a message on stderr and a non-zero exit."""


# MARK: Storage


class MemoryStorage(TokenStorage):
    """The SDK's TokenStorage, in memory; reports the steps the SDK reaches."""

    def __init__(self, browser):
        self.browser = browser
        self.tokens = None
        self.client_info = None
        self.token_sets = 0
        self.authorized_runs = 0

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.token_sets += 1
        if self.browser.runs > self.authorized_runs:  # from an authorization code, not a refresh
            self.authorized_runs = self.browser.runs
            emit(step="authorized", scope=tokens.scope)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info
        emit(step="registered", client_id=client_info.client_id)


# MARK: Reading the pages


class PageReader(HTMLParser):
    """The forms of a page (action, method, every input including hidden ones, the submit
    buttons), its links, the text of elements whose class says error, and its visible text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.links = []
        self.errors = []
        self.words = []
        self._form = None
        self._button = None
        self._link = None
        self._error_depth = []  # tags of open elements with class "error"
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = {name: (value if value is not None else "") for name, value in attrs}
        classes = a.get("class", "").split()
        if tag in ("style", "script", "title", "head"):
            self._skip += 1
        if "error" in classes:
            self._error_depth.append([tag, []])
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(), "inputs": [], "buttons": []}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None:
            kind = a.get("type", "text").lower()
            if kind in ("submit", "image"):
                self._form["buttons"].append({"name": a.get("name"), "value": a.get("value", ""), "text": a.get("value", "")})
            elif kind not in ("button", "reset"):
                self._form["inputs"].append({"name": a.get("name"), "value": a.get("value", ""), "type": kind,
                                             "checked": "checked" in a, "autocomplete": a.get("autocomplete", "")})
        elif tag == "textarea" and self._form is not None:
            self._form["inputs"].append({"name": a.get("name"), "value": "", "type": "textarea", "checked": False, "autocomplete": ""})
        elif tag == "button" and self._form is not None:
            if a.get("type", "submit").lower() == "submit":
                self._button = {"name": a.get("name"), "value": a.get("value", ""), "text": ""}
                self._form["buttons"].append(self._button)
        elif tag == "a":
            self._link = {"href": a.get("href", ""), "text": ""}
            self.links.append(self._link)

    def handle_endtag(self, tag):
        if tag in ("style", "script", "title", "head") and self._skip:
            self._skip -= 1
        if self._error_depth and self._error_depth[-1][0] == tag:
            _, parts = self._error_depth.pop()
            text = " ".join(" ".join(parts).split())
            if text:
                self.errors.append(text)
        if tag == "form":
            self._form = None
        elif tag == "button":
            self._button = None
        elif tag == "a":
            self._link = None

    def handle_data(self, data):
        if self._skip:
            return
        self.words.append(data)
        for _, parts in self._error_depth:
            parts.append(data)
        if self._button is not None:
            self._button["text"] += data
        if self._link is not None:
            self._link["text"] += data

    @property
    def text(self):
        return " ".join(" ".join(self.words).split())

    @staticmethod
    def read(html):
        reader = PageReader()
        reader.feed(html)
        reader.close()
        return reader


def visible(field):
    return field["type"] not in ("hidden",)


def form_for_email(forms):
    for form in forms:
        for field in form["inputs"]:
            if visible(field) and (field["type"] == "email" or field["name"] == "email"):
                return form, field["name"]
    return None


def form_for_code(forms):
    for form in forms:
        for field in form["inputs"]:
            if visible(field) and (field["name"] == "code" or field["autocomplete"] == "one-time-code"):
                return form, field["name"]
    return None


def consent_button(forms):
    """The consent form and its "allow" button (by value, else by its label)."""
    for form in forms:
        for button in form["buttons"]:
            if (button["value"] or "").strip().lower() in ("allow", "approve", "accept"):
                return form, button
    for form in forms:
        for button in form["buttons"]:
            if button["text"].strip().lower() in ("allow", "approve", "accept"):
                return form, button
    return None


def form_data(form, fill, button):
    """What a browser submits: the form's fields in order (checked boxes only), the typed values,
    and the button pressed (when it has a name)."""
    data = []
    for field in form["inputs"]:
        name = field["name"]
        if not name:
            continue
        if field["type"] in ("checkbox", "radio") and not field["checked"]:
            continue
        data.append((name, fill.get(name, field["value"])))
    if button is not None and button.get("name"):
        data.append((button["name"], button["value"]))
    return data


# MARK: The mail folder


class MailFolder:
    def __init__(self, path, address):
        self.path = path
        self.lines = {f"To: {address}\r\n", f"To: {address.strip().lower()}\r\n"}

    def messages(self):
        """(modification time, name, text) of the .eml files to the address."""
        found = []
        try:
            names = os.listdir(self.path)
        except OSError:
            return found
        for name in names:
            if not name.endswith(".eml"):
                continue
            full = os.path.join(self.path, name)
            try:
                with open(full, "rb") as handle:
                    text = handle.read().decode("utf-8", "replace")
                modified = os.stat(full).st_mtime
            except OSError:
                continue
            if any(line in text for line in self.lines):
                found.append((modified, name, text))
        return found

    def snapshot(self):
        return {name for _, name, _ in self.messages()}

    @staticmethod
    def code_in(text):
        for line in text.split("\r\n"):
            if line == "":
                break
            if line.startswith("Subject: "):
                last = line.split()[-1]
                if re.fullmatch(r"[0-9]{6}", last):
                    return last
        body = text.split("\r\n\r\n", 1)[-1]
        match = re.search(r"(?<![0-9])[0-9]{6}(?![0-9])", body)
        return match.group(0) if match else None

    async def code(self, before, seconds=10.0):
        """The 6-digit code of the newest message to the address, waiting up to `seconds` for one
        that was not there before the code was asked for (else the newest there is)."""
        deadline = time.monotonic() + seconds
        while True:
            messages = sorted(self.messages())
            fresh = [m for m in messages if m[1] not in before]
            if fresh:
                code = self.code_in(fresh[-1][2])
                if code:
                    return code
            if time.monotonic() >= deadline:
                if messages and self.code_in(messages[-1][2]):
                    return self.code_in(messages[-1][2])
                raise Failure(f"no sign-in code mailed to {sorted(self.lines)[0][4:].strip()} in {self.path}")
            await anyio.sleep(0.2)


# MARK: The person at the browser


def origin(url):
    parts = urlsplit(url)
    return (parts.scheme.lower(), parts.hostname, parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower()))


class Browser:
    """The SDK's redirect_handler and callback_handler: signs in on the authorization server's
    pages as a person would, over HTTP with a cookie jar."""

    def __init__(self, args):
        self.args = args
        self.redirect_uri = args.redirect_uri
        self.email = args.email
        self.mail = MailFolder(args.mail_folder, args.email) if args.mail_folder else None
        self.result = None
        self.runs = 0
        self.steps = 0
        self.mail_before = set()

    def log(self, message):
        print(f"mcp_client: {message}", file=sys.stderr, flush=True)

    def fail(self, message):
        self.log(message)
        raise Failure(message)

    def is_redirect_uri(self, url):
        if not url.startswith(self.redirect_uri):
            return False
        rest = url[len(self.redirect_uri):]
        return rest == "" or rest[0] in "?#"

    def page_problem(self, response, page):
        detail = "; ".join(page.errors) if page.errors else page.text[:600]
        return f"{response.request.method} {response.request.url.copy_with(query=None)} answered {response.status_code}: {detail}"

    async def redirect_handler(self, authorization_url: str) -> None:
        self.runs += 1
        self.result = None
        self.log(f"authorization URL: {authorization_url}")
        server = origin(authorization_url)
        # --source-address: the person's own network (another 127.x address), as a real user's
        # browser is not on the connector's; per-network sign-in limits then count it apart.
        transport = httpx2.AsyncHTTPTransport(local_address=self.args.source_address) if self.args.source_address else None
        async with httpx2.AsyncClient(follow_redirects=False, trust_env=False, timeout=30.0, transport=transport,
                                      headers={"User-Agent": "mcp_client.py (SDK OAuth test)"}) as http:
            response = await http.get(authorization_url)
            asked_for_code = False
            submitted = []
            for _ in range(20):
                self.steps += 1
                if response.status_code in (301, 302, 303, 307, 308):
                    location = response.headers.get("location")
                    if not location:
                        self.fail(f"{response.status_code} without a Location from {response.request.url}")
                    target = urljoin(str(response.request.url), location)
                    if self.is_redirect_uri(target):
                        self.result = self.callback(target)
                        return
                    if origin(target) != server:
                        self.fail(f"the sign-in left the authorization server for {target.split('?')[0]}")
                    response = await http.get(target)
                    continue
                content_type = response.headers.get("content-type", "")
                page = PageReader.read(response.text) if "html" in content_type else None
                if response.status_code != 200 or page is None:
                    problem = self.page_problem(response, page) if page else (
                        f"{response.request.method} {response.request.url.copy_with(query=None)} answered "
                        f"{response.status_code}: {response.text[:600]}")
                    self.fail(problem)
                if page.errors:
                    self.fail(self.page_problem(response, page))
                consent = consent_button(page.forms)
                code_form = form_for_code(page.forms)
                email_form = form_for_email(page.forms)
                if consent:
                    form, button = consent
                    kind, fill = "consent", {}
                elif code_form:
                    form, field = code_form
                    button = form["buttons"][0] if form["buttons"] else None
                    if self.mail is None:
                        self.fail("the sign-in asks for an emailed code; give --mail-folder")
                    kind, fill = "code", {field: await self.mail.code(self.mail_before)}
                    asked_for_code = True
                elif email_form:
                    form, field = email_form
                    button = form["buttons"][0] if form["buttons"] else None
                    kind, fill = "email", {field: self.email}
                    self.mail_before = self.mail.snapshot() if self.mail else set()
                else:
                    self.fail("a page this client cannot fill in: " + self.page_problem(response, page))
                if kind in submitted and kind != "consent":
                    self.fail(f"the {kind} page came back: " + self.page_problem(response, page))
                submitted.append(kind)
                action = urljoin(str(response.request.url), form["action"] or str(response.request.url))
                if origin(action) != server:
                    self.fail(f"the {kind} form posts outside the authorization server: {action}")
                data = form_data(form, fill, button)
                if form["method"] == "post":
                    response = await http.post(action, content=urlencode(data).encode(),
                                               headers={"Content-Type": "application/x-www-form-urlencoded",
                                                        "Origin": "%s://%s" % urlsplit(action)[:2],
                                                        "Referer": str(response.request.url)})
                else:
                    response = await http.get(action.split("?")[0] + "?" + urlencode(data))
            self.fail(f"the sign-in did not end after {self.steps} pages (asked for a code: {asked_for_code})")

    def callback(self, url):
        query = parse_qs(urlsplit(url).query, keep_blank_values=True)
        one = lambda name: query[name][0] if name in query else None  # noqa: E731
        if one("error"):
            self.fail(f"the authorization server sent back error={one('error')}: {one('error_description') or ''}")
        if not one("code"):
            self.fail(f"the redirect to the redirect URI carries no code: {url.split('?')[0]}")
        return AuthorizationCodeResult(code=one("code"), state=one("state"), iss=one("iss"))

    async def callback_handler(self) -> AuthorizationCodeResult:
        if self.result is None:
            raise Failure("the sign-in produced no authorization code")
        result, self.result = self.result, None
        return result


# MARK: The run


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="the MCP server URL, e.g. http://127.0.0.1:8123/tools/mcp")
    parser.add_argument("--client-metadata-url", help="an https Client ID Metadata Document URL to use as client_id")
    parser.add_argument("--redirect-uri", required=True, help="the client's redirect URI (nothing needs to listen there)")
    parser.add_argument("--email", required=True, help="the address to sign in with")
    parser.add_argument("--mail-folder", help="the folder of .eml files the sign-in code is mailed to")
    parser.add_argument("--calls", type=int, default=1, help="tool calls to make")
    parser.add_argument("--refresh", action="store_true", help="then force a token refresh and make one more call")
    parser.add_argument("--client-name", default="SDK Test Connector")
    parser.add_argument("--token-auth-method", choices=["none", "client_secret_post"], default="none",
                        help="token_endpoint_auth_method asked for in dynamic client registration")
    parser.add_argument("--mode", default="legacy", help="legacy (initialize handshake), auto, or 2026-07-28")
    parser.add_argument("--tool", default="greet")
    parser.add_argument("--tool-arguments", default='{"name": "World"}', help="JSON object")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds the whole run may take")
    parser.add_argument("--source-address", help="the local address the sign-in pages are opened from (e.g. 127.0.0.2)")
    args = parser.parse_args()
    try:
        args.tool_arguments = json.loads(args.tool_arguments)
    except ValueError:
        parser.error("--tool-arguments must be a JSON object")
    return args


def tool_text(result):
    return "\n".join(getattr(block, "text", "") for block in result.content if getattr(block, "type", "") == "text")


async def run(args):
    browser = Browser(args)
    storage = MemoryStorage(browser)
    metadata = OAuthClientMetadata(
        redirect_uris=[args.redirect_uri],
        client_name=args.client_name,
        token_endpoint_auth_method=args.token_auth_method,
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
    )
    provider = OAuthClientProvider(
        server_url=args.server,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=browser.redirect_handler,
        callback_handler=browser.callback_handler,
        client_metadata_url=args.client_metadata_url,
    )
    # The SDK's default client (create_mcp_http_client) with the provider as its auth, and no
    # proxy settings from the environment: everything here is on 127.0.0.1.
    timeout = httpx2.Timeout(30.0, read=300.0)
    with anyio.fail_after(args.timeout):
        async with httpx2.AsyncClient(auth=provider, timeout=timeout, trust_env=False) as http:
            transport = streamable_http_client(args.server, http_client=http)
            async with Client(transport, mode=args.mode, cache=None,
                              client_info=Implementation(name=args.client_name, version="1.0")) as client:
                listed = await client.list_tools()
                names = [tool.name for tool in listed.tools]
                if args.tool not in names:
                    raise Failure(f"the server offers no tool {args.tool!r} (it offers {names})")
                index = 0
                for _ in range(args.calls):
                    index += 1
                    result = await client.call_tool(args.tool, args.tool_arguments)
                    emit(step="tool", index=index, is_error=bool(result.is_error), text=tool_text(result))
                if args.refresh:
                    tokens = storage.tokens
                    if tokens is None or not tokens.refresh_token:
                        raise Failure("the authorization server gave no refresh token")
                    runs, sets = browser.runs, storage.token_sets
                    # The SDK's own refresh path runs before the next request when the token it holds
                    # is expired (a falsy expiry would mean "never expires", hence 1.0).
                    provider.context.token_expiry_time = 1.0
                    await client.list_tools()
                    if browser.runs != runs:
                        raise Failure("the refresh did not work: the SDK went through the sign-in again")
                    if storage.token_sets == sets:
                        raise Failure("the SDK did not refresh the token")
                    emit(step="refreshed")
                    index += 1
                    result = await client.call_tool(args.tool, args.tool_arguments)
                    emit(step="tool", index=index, is_error=bool(result.is_error), text=tool_text(result))
    emit(step="done")


def messages(error):
    if isinstance(getattr(error, "exceptions", None), tuple):  # an exception group
        found = []
        for inner in error.exceptions:
            found.extend(messages(inner))
        return found
    text = str(error) or type(error).__name__
    return [text if isinstance(error, Failure) else f"{type(error).__name__}: {text}"]


def main():
    args = arguments()
    try:
        anyio.run(run, args)
    except TimeoutError:
        print(f"mcp_client: error: did not finish within {args.timeout:g} seconds", file=sys.stderr, flush=True)
        os._exit(1)
    except BaseException as error:  # noqa: BLE001 - every way of failing is a message and exit 1
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        for message in dict.fromkeys(messages(error)):
            print(f"mcp_client: error: {message}", file=sys.stderr, flush=True)
        os._exit(1)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
