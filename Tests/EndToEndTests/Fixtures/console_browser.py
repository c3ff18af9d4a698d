"""An owner's day in the console, in real headless Chromium (Debian's chromium and chromedriver,
driven with selenium from PyPI), with axe-core (axe-selenium-python) on every page.

The owner signs in with an emailed code through the sign-in pages, registers a GPT and copies its
settings, adds a plan to an existing GPT, finds a user by email, moves them to the plan, blocks them
(and their next API call, made here with their access token, is refused), downloads the users' CSV,
reads the audit trail and signs out; the session cookie kept from before sign-out opens nothing.

Screenshots of every page at 1280x800 and 390x844 go to --screenshots. The last line printed is a
JSON object the Swift test reads (ConsoleTests): what was seen, every browser console error, and
every critical or serious accessibility violation.
"""
import argparse
import glob
import importlib.util
import json
import os
import re
import sys
import time
import secrets
import struct
import urllib.error
import urllib.parse
import urllib.request
import zlib

from axe_selenium_python import Axe
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

SIZES = [(1280, 800), (390, 844)]
# axe-core 4.x, as axe-playwright-python ships it (installed without its Playwright dependency: only
# the script is used, through axe-selenium-python, whose own copy is axe-core 3).
AXE_SCRIPT = os.path.join(importlib.util.find_spec("axe_playwright_python").submodule_search_locations[0], "axe.min.js")


def write_png(path, size=24, rgb=(11, 110, 79)):
    """A real PNG (a square of one colour), for the logo upload."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class Journey:
    def __init__(self, args):
        self.args = args
        self.base = args.base.rstrip("/")
        self.downloads = os.path.join(args.screenshots, "downloads")
        os.makedirs(self.downloads, exist_ok=True)
        options = Options()
        options.binary_location = args.chromium
        for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
                     "--disable-extensions", "--lang=en-US"]:
            options.add_argument(flag)
        options.add_experimental_option("prefs", {"download.default_directory": self.downloads,
                                                  "download.prompt_for_download": False})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(args.chromedriver), options=options)
        self.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": self.downloads})
        self.driver.set_window_size(*SIZES[0])
        self.seen = {"pages": [], "console_errors": [], "violations": [], "steps": []}
        self.shot = 0

    # Pages

    def wait_title(self, part, timeout=20):
        WebDriverWait(self.driver, timeout).until(lambda d: part in d.title)

    def page(self, name, error_status=False):
        """Checks the page now shown: browser console, accessibility; screenshots at both sizes.
        `error_status`: the page is an error page, whose 4xx status the browser logs."""
        self.shot += 1
        for entry in self.driver.get_log("browser"):
            message = entry.get("message", "")
            expected = error_status and "Failed to load resource: the server responded with a status of 4" in message
            # The browser asks for /favicon.ico by itself; the test nginx has none.
            if entry.get("level") == "SEVERE" and "favicon.ico" not in message and not expected:
                self.seen["console_errors"].append({"page": name, "message": message})
            elif "Content Security Policy" in message or "Refused to" in message:
                self.seen["console_errors"].append({"page": name, "message": message})
        axe = Axe(self.driver, script_url=AXE_SCRIPT)
        axe.inject()
        results = axe.run()
        for violation in results.get("violations", []):
            if violation.get("impact") in ("critical", "serious"):
                self.seen["violations"].append({"page": name, "id": violation["id"], "impact": violation["impact"],
                                                "help": violation.get("help", ""),
                                                "nodes": [node.get("html", "")[:200] for node in violation.get("nodes", [])[:3]]})
        for width, height in SIZES:
            self.driver.set_window_size(width, height)
            path = os.path.join(self.args.screenshots, "%02d-%s-%dx%d.png" % (self.shot, name, width, height))
            self.driver.save_screenshot(path)
        self.driver.set_window_size(*SIZES[0])
        self.seen["pages"].append({"name": name, "title": self.driver.title, "url": self.driver.current_url})

    def text(self):
        """The page's text, read in one step (a page that is being replaced is never half read)."""
        return self.driver.execute_script("return document.body ? document.body.innerText : ''")

    def click_button(self, label):
        for button in self.driver.find_elements(By.TAG_NAME, "button"):
            if button.text.strip() == label and button.is_displayed():
                button.click()
                return
        raise AssertionError("no button %r on %s" % (label, self.driver.current_url))

    def step(self, name):
        self.seen["steps"].append(name)
        print("step:", name, file=sys.stderr, flush=True)

    def next_google_user(self, email):
        """Who signs in at the Google stand-in next (its test control)."""
        request = urllib.request.Request("http://127.0.0.1:%d/_next_user" % self.args.google_port, method="POST",
                                         headers={"Content-Type": "application/json"},
                                         data=json.dumps({"email": email, "name": "", "sub": "g-" + email, "email_verified": True}).encode())
        urllib.request.urlopen(request, timeout=10).read()

    # Mail

    def latest_code(self, email, after):
        deadline = time.time() + 20
        while time.time() < deadline:
            newest = None
            for path in glob.glob(os.path.join(self.args.mail_folder, "*.eml")):
                modified = os.stat(path).st_mtime
                if modified < after:
                    continue
                with open(path, "rb") as handle:
                    text = handle.read().decode("utf-8", "replace")
                if ("To: %s\r\n" % email) not in text:
                    continue
                match = re.search(r"^Subject: .* (\d{6})\r$", text, re.M)
                if match and (newest is None or modified >= newest[0]):
                    newest = (modified, match.group(1))
            if newest:
                return newest[1]
            time.sleep(0.2)
        raise AssertionError("no code mailed to %s" % email)

    # The journey

    def run(self):
        driver, base, args = self.driver, self.base, self.args
        self.step("open the console")
        driver.get(base + "/admin/")
        self.wait_title("Sign in")
        self.page("console-sign-in")

        self.step("sign in with an emailed code")
        driver.find_element(By.LINK_TEXT, "Sign in").click()
        self.wait_title("Sign in")
        assert "Sign in to GPTAuth console" in self.text(), self.text()
        self.page("sign-in-choice")
        before = time.time() - 1
        driver.find_element(By.ID, "email").send_keys(args.owner)
        self.click_button("Email me a sign-in code")
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "code"))
        self.page("sign-in-code")
        driver.find_element(By.ID, "code").send_keys(self.latest_code(args.owner, before))
        self.click_button("Sign in to GPTAuth console")
        self.wait_title("Overview")
        assert "Your GPTs" in self.text()
        assert args.owner in self.text()
        self.page("overview")

        self.step("register a GPT and copy its settings")
        driver.find_element(By.ID, "name").send_keys(args.gpt_name)
        self.click_button("Register")
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "secret"))
        client_id = driver.find_element(By.ID, "client-id").text
        secret = driver.find_element(By.ID, "secret").text
        self.seen["registered"] = {"client_id": client_id, "secret": secret, "heading": driver.find_element(By.TAG_NAME, "h1").text,
                                   "authorization_url": driver.find_element(By.ID, "authorization-url").text,
                                   "token_url": driver.find_element(By.ID, "token-url").text,
                                   "openapi": driver.find_element(By.ID, "openapi").text}
        copy = driver.find_element(By.CSS_SELECTOR, "button[data-copy='client-id']")
        assert copy.is_displayed(), "the copy button stayed hidden: the script did not run"
        copy.click()
        WebDriverWait(driver, 10).until(lambda d: copy.text in ("Copied", "Select and copy"))
        self.seen["copy_button"] = copy.text
        self.page("gpt-registered")

        self.step("dress the new GPT's sign-in pages")
        driver.find_element(By.ID, "brand-name").send_keys("Recipe Pal")
        driver.find_element(By.ID, "brand-accent").send_keys("#0b6e4f")
        logo = os.path.join(self.downloads, "logo.png")
        write_png(logo)
        driver.find_element(By.ID, "brand-logo").send_keys(logo)
        driver.find_element(By.ID, "brand-privacy").send_keys("https://builder.example/privacy")
        self.click_button("Save the sign-in pages")
        WebDriverWait(driver, 20).until(lambda d: "The sign-in pages are saved." in self.text())
        self.page("gpt-branded")

        self.step("the sign-in page a user of that GPT sees")
        callback = "https://chatgpt.com/aip/g-%s/oauth/callback" % secrets.token_hex(20)
        driver.get(base + "/oauth/authorize?" + urllib.parse.urlencode({"response_type": "code", "client_id": client_id,
                                                                      "redirect_uri": callback, "state": "s1", "scope": "email"}))
        self.wait_title("Sign in to Recipe Pal")
        self.seen["branded"] = {
            "logo_loaded": driver.execute_script("const i = document.querySelector('img.logo'); return !!i && i.complete && i.naturalWidth > 0"),
            "privacy_link": driver.execute_script("const a = [...document.querySelectorAll('a')].find(a => a.textContent === 'Privacy policy');"
                                                  " return a ? a.href : null"),
            "button_colour": driver.execute_script("return getComputedStyle(document.querySelector('form button[type=submit]')).backgroundColor"),
        }
        self.page("branded-sign-in")
        self.next_google_user("pat@users.example")
        driver.find_element(By.LINK_TEXT, "Continue with Google").click()
        self.wait_title("Allow Recipe Pal?")
        self.page("branded-consent")
        driver.get(base + "/admin/")
        self.wait_title("Overview")

        self.step("add a plan to the user's GPT")
        driver.get(base + "/admin/gpt?client=" + args.client)
        self.wait_title("")
        driver.find_element(By.ID, "plan-name").send_keys("console")
        driver.find_element(By.ID, "plan-daily").send_keys("100")
        self.click_button("Save plan")
        WebDriverWait(driver, 20).until(lambda d: "The plan is saved." in self.text())
        self.seen["plan_row"] = "console" in driver.find_element(By.TAG_NAME, "table").text
        self.page("gpt")

        self.step("find the user by email")
        driver.find_element(By.LINK_TEXT, "Users").click()
        self.wait_title("Users of")
        self.page("users")
        search = driver.find_element(By.ID, "q")
        search.send_keys(args.user_email.upper())
        self.click_button("Find")
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.LINK_TEXT, args.user_email))
        driver.find_element(By.LINK_TEXT, args.user_email).click()
        self.wait_title(args.user_email)
        self.page("user")

        self.step("change the user's plan")
        Select(driver.find_element(By.ID, "plan")).select_by_value("console")
        self.click_button("Change plan")
        WebDriverWait(driver, 20).until(lambda d: "The user's plan is changed." in self.text())
        self.seen["plan_shown"] = "console" in driver.find_element(By.TAG_NAME, "dl").text

        self.step("block the user")
        self.click_button("Block")
        WebDriverWait(driver, 20).until(lambda d: "The user is blocked" in self.text())
        self.page("user-blocked")
        request = urllib.request.Request(base + "/api/greeting", headers={"Authorization": "Bearer " + args.user_token})
        try:
            with urllib.request.urlopen(request, timeout=20) as answer:
                self.seen["greeting_after_block"] = answer.status
        except urllib.error.HTTPError as error:
            self.seen["greeting_after_block"] = error.code

        self.step("download the users' CSV")
        driver.get(base + "/admin/gpt?client=" + args.client)
        driver.find_element(By.LINK_TEXT, "Download the users (CSV)").click()
        deadline = time.time() + 20
        csv = None
        while time.time() < deadline and csv is None:
            done = [path for path in glob.glob(os.path.join(self.downloads, "*.csv"))]
            if done:
                with open(done[0], encoding="utf-8") as handle:
                    csv = handle.read()
            else:
                time.sleep(0.2)
        self.seen["csv"] = csv or ""

        self.step("read the audit trail")
        driver.get(base + "/admin/audit")
        self.wait_title("Audit trail")
        self.seen["audit_has_block"] = "user_blocked" in self.text()
        self.page("audit")

        self.step("the pages that say no")
        driver.get(base + "/admin/setup?token=1.2")
        self.wait_title("Set up")
        self.page("setup-refused", error_status=True)
        driver.get(base + "/oauth/login?request=" + "a" * 43)
        self.wait_title("Sign-in problem")
        self.page("sign-in-problem", error_status=True)
        driver.get(base + "/admin/audit")
        self.wait_title("Audit trail")

        self.step("sign out")
        kept = driver.get_cookie("gpa_console")
        self.seen["cookie"] = {key: kept.get(key) for key in ("path", "httpOnly", "sameSite", "secure")} if kept else None
        self.click_button("Sign out")
        self.wait_title("Sign in")
        self.seen["after_sign_out"] = "Your GPTs" not in self.text()
        self.step("replay the old session cookie")
        driver.add_cookie({"name": "gpa_console", "value": kept["value"], "path": kept["path"]})
        driver.get(base + "/admin/")
        self.wait_title("")
        self.seen["replayed_cookie_opens"] = "Your GPTs" in self.text()
        self.seen["replayed_cookie_message"] = "You signed out" in self.text()
        self.page("signed-out")

        self.step("someone who is not an owner signs in")
        self.next_google_user("stranger@elsewhere.example")
        driver.find_element(By.LINK_TEXT, "Sign in").click()
        self.wait_title("Sign in")
        driver.find_element(By.LINK_TEXT, "Continue with Google").click()
        self.wait_title("Not an owner")
        self.seen["not_owner_sees"] = self.text()
        self.page("not-an-owner", error_status=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True)
    parser.add_argument("--mail-folder", required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--client", required=True, help="the GPT whose user the owner finds")
    parser.add_argument("--user-email", required=True)
    parser.add_argument("--user-token", required=True, help="the user's access token, for the call after the block")
    parser.add_argument("--gpt-name", default="Console <b>GPT</b> & co")
    parser.add_argument("--screenshots", required=True)
    parser.add_argument("--google-port", type=int, required=True, help="the Google stand-in (its test control /_next_user)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    os.makedirs(args.screenshots, exist_ok=True)
    journey = Journey(args)
    try:
        journey.run()
        journey.seen["finished"] = True
    except Exception as error:  # the Swift test reports it, with the steps reached
        journey.seen["error"] = "%s: %s" % (type(error).__name__, error)
        journey.seen["url"] = journey.driver.current_url
        try:
            journey.seen["body"] = journey.text()[:2000]
        except Exception:
            pass
    finally:
        journey.driver.quit()
    print(json.dumps(journey.seen))


if __name__ == "__main__":
    main()
