#!/usr/bin/env python3
"""A stand-in for the sign-in providers, speaking HTTP on 127.0.0.1 like the real ones.

One server plays Google, any OpenID Connect provider (discovery), Apple (form_post) and GitHub, so
the production code path (real outbound HTTP through curl, real ID-token signatures) is the one
tested. Its issuer is http://127.0.0.1:PORT. It signs ID tokens ES256 with a P-256 key it makes at
start (python3-cryptography). It prints its port on the first line of stdout and serves until
stdin closes or it is sent SIGTERM.

  GET  /.well-known/openid-configuration   discovery
  GET  /jwks       the current signing key
  GET  /auth       the consent screen: back to redirect_uri with a code and the state (a 302), or,
                   with response_mode=form_post, a page with a form that posts them (Apple)
  POST /token      swaps the code (client id/secret, in the form or Basic, or Apple's signed
                   secret; redirect_uri and the PKCE verifier checked) for an access token and an ID token with the nonce
  GET  /userinfo   the signed-in user for that access token
  POST /login/oauth/access_token, GET /user/emails, GET /user   GitHub's
  POST /_next_user      (test control) JSON {"email","name","sub","email_verified"} for the next sign-in;
                        for GitHub also "emails": [{"email","primary","verified"}]
  POST /_redirect_uris  (test control) JSON list of the registered redirect URIs; [] (the default)
                        accepts any. Like Google, /auth answers an unregistered one with a 400 page
                        "Error 400: redirect_uri_mismatch".
  POST /_rotate         (test control) a new signing key with a new kid; the old one is dropped
  POST /_forge          (test control) JSON {"mode": …} spoils the next ID token: wrong_signature,
                        alg_none, unknown_kid, wrong_iss, wrong_aud, expired, replayed_nonce
  POST /_apple_key      (test control) the PEM public key that Apple client secrets must verify with
"""
import base64
import hashlib
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote_plus, urlencode, urlparse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

CLIENT_ID = sys.argv[1] if len(sys.argv) > 1 else "google-client"
CLIENT_SECRET = sys.argv[2] if len(sys.argv) > 2 else "google-secret"

lock = threading.Lock()
next_user = {"email": "alice@example.com", "name": "Alice Example", "sub": "1001", "email_verified": True}
codes = {}       # code -> (user, redirect_uri, nonce, code_challenge)
tokens = {}      # access token -> user
registered = []  # redirect URIs the "console" lists; empty: any
issuer = ""
key = {"kid": "k1", "private": ec.generate_private_key(ec.SECP256R1())}
forge = {"mode": None}
last_nonce = {"value": None}
apple_key = {"pem": None}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwk():
    numbers = key["private"].public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": key["kid"],
            "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big"))}


def sign(header, claims, private):
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    r, s = decode_dss_signature(private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def id_token(user, nonce):
    now = int(time.time())
    claims = {"iss": issuer, "aud": CLIENT_ID, "sub": user.get("sub", "1001"), "iat": now, "exp": now + 3600,
              "nonce": nonce, "name": user.get("name", "")}
    if user.get("email") is not None:
        claims["email"] = user["email"]
    if user.get("email_verified") is not None:
        claims["email_verified"] = user["email_verified"]
    header = {"alg": "ES256", "kid": key["kid"], "typ": "JWT"}
    private = key["private"]
    with lock:
        mode, forge["mode"] = forge["mode"], None
        previous, last_nonce["value"] = last_nonce["value"], nonce
    if mode == "wrong_signature":
        private = ec.generate_private_key(ec.SECP256R1())
    elif mode == "unknown_kid":
        header["kid"] = "nobody-has-this-key"
    elif mode == "wrong_iss":
        claims["iss"] = "http://evil.example"
    elif mode == "wrong_aud":
        claims["aud"] = "another-client"
    elif mode == "expired":
        claims["iat"], claims["exp"] = now - 7200, now - 3600
    elif mode == "replayed_nonce":
        claims["nonce"] = previous or "an-earlier-nonce"
    elif mode == "alg_none":
        return b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode()) + "."
    return sign(header, claims, private)


def apple_secret_ok(secret):
    """Apple's client secret: an ES256 JWT from the team, about this client, for Apple, short-lived."""
    if apple_key["pem"] is None:
        return False
    try:
        head, body, signature = secret.split(".")
        header, claims = json.loads(unb64(head)), json.loads(unb64(body))
        raw = unb64(signature)
        public = serialization.load_pem_public_key(apple_key["pem"].encode())
        public.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                      (head + "." + body).encode(), ec.ECDSA(hashes.SHA256()))
    except Exception:
        return False
    now = time.time()
    return (header.get("alg") == "ES256" and header.get("kid") and claims.get("sub") == CLIENT_ID and claims.get("iss")
            and claims.get("aud") == issuer and claims.get("iat", 0) <= now + 60 and now < claims.get("exp", 0) <= now + 15777000)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def page(self, status, html):
        data = html.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode()

    def bearer_user(self):
        auth = self.headers.get("Authorization", "")
        with lock:
            return tokens.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/.well-known/openid-configuration":
            return self.reply(200, {"issuer": issuer, "authorization_endpoint": issuer + "/auth", "token_endpoint": issuer + "/token",
                                    "userinfo_endpoint": issuer + "/userinfo", "jwks_uri": issuer + "/jwks",
                                    "response_types_supported": ["code"], "id_token_signing_alg_values_supported": ["ES256"],
                                    "code_challenge_methods_supported": ["S256"]})
        if url.path == "/jwks":
            with lock:
                return self.reply(200, {"keys": [jwk()]})
        if url.path in ("/auth", "/login/oauth/authorize"):
            if query.get("client_id") != CLIENT_ID or (url.path == "/auth" and query.get("response_type") != "code"):
                return self.reply(400, {"error": "invalid_request"})
            with lock:
                refused = registered and query.get("redirect_uri") not in registered
            if refused:
                return self.page(400, "<html><body><h1>Access blocked: This app's request is invalid</h1>"
                                      "<p>Error 400: redirect_uri_mismatch</p></body></html>")
            code = "g-" + secrets.token_urlsafe(16)
            with lock:
                codes[code] = (dict(next_user), query["redirect_uri"], query.get("nonce"), query.get("code_challenge"))
            answer = {"code": code, "state": query.get("state", "")}
            if query.get("response_mode") == "form_post":
                fields = "".join('<input type="hidden" name="%s" value="%s">' % (k, v) for k, v in answer.items())
                return self.page(200, '<html><body><form method="post" action="%s">%s<button>Continue</button></form></body></html>'
                                 % (query["redirect_uri"], fields))
            self.send_response(302)
            self.send_header("Location", query["redirect_uri"] + "?" + urlencode(answer))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/userinfo":
            user = self.bearer_user()
            if user is None:
                return self.reply(401, {"error": "invalid_token"})
            self.reply(200, user)
        elif url.path == "/user/emails":
            user = self.bearer_user()
            if user is None:
                return self.reply(401, {"message": "Bad credentials"})
            emails = user.get("emails") or [{"email": user["email"], "primary": True, "verified": bool(user.get("email_verified")),
                                             "visibility": "private"}]
            self.reply(200, emails)
        elif url.path == "/user":
            user = self.bearer_user()
            if user is None:
                return self.reply(401, {"message": "Bad credentials"})
            self.reply(200, {"login": "octocat", "id": int(user.get("sub", "1")) if str(user.get("sub", "1")).isdigit() else 1,
                             "name": user.get("name")})
        else:
            self.reply(404, {"error": "not_found"})

    def do_POST(self):
        url = urlparse(self.path)
        global next_user, registered
        if url.path == "/_next_user":
            with lock:
                next_user = json.loads(self.body())
            return self.reply(200, {"ok": True})
        if url.path == "/_redirect_uris":
            with lock:
                registered = json.loads(self.body())
            return self.reply(200, {"ok": True})
        if url.path == "/_rotate":
            with lock:
                key["kid"] = "k-" + secrets.token_hex(4)
                key["private"] = ec.generate_private_key(ec.SECP256R1())
            return self.reply(200, {"kid": key["kid"]})
        if url.path == "/_forge":
            with lock:
                forge["mode"] = json.loads(self.body())["mode"]
            return self.reply(200, {"ok": True})
        if url.path == "/_apple_key":
            with lock:
                apple_key["pem"] = self.body()
            return self.reply(200, {"ok": True})
        if url.path not in ("/token", "/login/oauth/access_token"):
            return self.reply(404, {"error": "not_found"})
        form = {k: v[0] for k, v in parse_qs(self.body()).items()}
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            # client_secret_basic (RFC 6749 §2.3.1: each part form-encoded, then Base64).
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            form["client_id"], form["client_secret"] = unquote_plus(client_id), unquote_plus(client_secret)
        secret = form.get("client_secret", "")
        if form.get("client_id") != CLIENT_ID or not (secret == CLIENT_SECRET or apple_secret_ok(secret)):
            return self.reply(401, {"error": "invalid_client"})
        with lock:
            entry = codes.pop(form.get("code", ""), None)
        github = url.path == "/login/oauth/access_token"
        grant_ok = github or form.get("grant_type") == "authorization_code"
        if entry is None or not grant_ok or form.get("redirect_uri") != entry[1]:
            return self.reply(200 if github else 400, {"error": "bad_verification_code" if github else "invalid_grant"})
        # PKCE (RFC 7636): the verifier must hash to the challenge sent at /auth.
        verifier = form.get("code_verifier", "")
        if entry[3] is not None and b64(hashlib.sha256(verifier.encode()).digest()) != entry[3]:
            return self.reply(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
        token = "ya29." + secrets.token_urlsafe(24)
        with lock:
            tokens[token] = entry[0]
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": 3599, "scope": "openid email profile"}
        if not github:
            answer["id_token"] = id_token(entry[0], entry[2])
        self.reply(200, answer)


def main():
    global issuer
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = "http://127.0.0.1:%d" % server.server_address[1]
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Stop when the test process goes away (stdin closes), so nothing is left behind.
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
