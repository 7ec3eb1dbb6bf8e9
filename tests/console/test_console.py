"""The web console in a real browser, against a real `hashshare serve` process.

One walk through the life of a listing, as its people see it: an analyst signs in,
contributes a hash (by form and by file) and matches it; two other members disagree until it
is disputed; an admin resolves the dispute; an auditor finds each step in the audit log under
a verifying chain, and sees the transparency figures move. Then what each scope may not do is
not offered. Every page is saved as a screenshot.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from hashshare.auth.tokens import issue_token
from hashshare.config import Settings
from hashshare.console.router import CONTENT_SECURITY_POLICY
from tests.hashing.pictures import encode, scene
from tests.serving import running_service
from tests.values import pdq_value

# Runs service processes (deselect with -m "not processes" for a quick run).
pytestmark = pytest.mark.processes

ANALYST = "hashes:submit hashes:match hashes:read hashes:feedback"
JUDGE = "hashes:match hashes:read hashes:feedback"
ADMIN = "admin hashes:read"
AUDITOR = "audit:read hashes:read"
MATCHER = "hashes:match"
LABEL = "attacker-manifesto"
# Text nodes that are nothing but a JavaScript null/undefined printed into the page.
STRAY_TEXT = """() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const stray = [];
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    if (text === 'null' || text === 'undefined' || text === 'nullnull') stray.push(text);
  }
  return stray;
}"""
# Form controls a screen reader could not name.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label'))
  .map((el) => el.outerHTML)"""


@dataclass
class Service:
    url: str
    settings: Settings

    def token(self, member: str, scopes: str, sub: str) -> str:
        return issue_token(
            self.settings, member=member, scopes=scopes.split(), sub=sub, ttl_seconds=3600
        )

    def api(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"{self.url}{path}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            **kwargs,
        )
        assert response.status_code < 300, response.text
        return response.json()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Service]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('console-db') / 'hashshare.db'}"
    # The operator's commands, in processes of their own: Playwright's loop runs in this one.
    env = {**os.environ, "HASHSHARE_DEV_MODE": "1", "HASHSHARE_DATABASE_URL": url}
    hashshare = [sys.executable, "-m", "hashshare"]
    subprocess.run([*hashshare, "db", "upgrade"], env=env, check=True, capture_output=True)
    for member in ("alpha", "beta", "gamma", "ops", "oversight"):
        command = [*hashshare, "member", "add", member, "--name", member.title()]
        subprocess.run(command, env=env, check=True, capture_output=True)
    # Two disagreements are needed even against a single contributor, so that feedback
    # from two members takes the hash into dispute.
    extra = {"HASHSHARE_DISPUTE_MIN_DISAGREEMENTS_SINGLE_CONTRIBUTOR": "2"}
    with running_service(url, extra) as base_url:
        yield Service(base_url, Settings(dev_mode=True, database_url=url))


class Console:
    """One signed-in tab; collects script errors and CSP violations as it goes."""

    def __init__(self, browser: Any, service: Service, shots: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.service = service
        self.shots = shots
        self.problems: list[str] = []
        self.page.on("pageerror", lambda exc: self.problems.append(f"script error: {exc}"))
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.problems.append(message.text)

    def open(self, route: str = "") -> None:
        self.page.goto(f"{self.service.url}/console/{route}")

    def sign_in(self, token: str) -> None:
        self.open()
        self.page.get_by_label("Token (JWT)").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.get_by_role("button", name="Sign out").wait_for()

    def go(self, route: str) -> None:
        self.page.evaluate("route => { window.location.hash = route; }", route)
        self.page.wait_for_load_state("networkidle")

    def nav(self) -> list[str]:
        links: list[str] = self.page.get_by_role("navigation").get_by_role("link").all_inner_texts()
        return links

    def text(self) -> str:
        inner: str = self.page.locator("main").inner_text()
        return inner

    def shot(self, name: str) -> None:
        self.page.wait_for_load_state("networkidle")
        stray = self.page.evaluate(STRAY_TEXT)
        assert stray == [], f"{name}: text nodes that print a missing value: {stray}"
        unlabelled = self.page.evaluate(UNLABELLED)
        assert unlabelled == [], f"{name}: form controls without a label: {unlabelled}"
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert self.problems == []


@pytest.fixture
def console(
    browser: Any, service: Service, screenshots: Path
) -> Iterator[Callable[[str, str, str], Console]]:
    opened: list[Console] = []

    def open_as(member: str, scopes: str, sub: str) -> Console:
        tab = Console(browser, service, screenshots)
        opened.append(tab)
        tab.sign_in(service.token(member, scopes, sub))
        return tab

    yield open_as
    for tab in opened:
        tab.close()


def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def _disputes_chart(tab: Console) -> str:
    label: str = tab.page.locator("svg[aria-label^='Disputes:']").get_attribute("aria-label")
    return label


def test_console_pages_are_served_under_a_policy_without_inline_scripts_or_other_origins(
    service: Service,
) -> None:
    for path in ("/console/", "/console/js/app.js", "/console/console.css"):
        response = httpx.get(f"{service.url}{path}", timeout=10)
        assert response.status_code == 200
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    page = httpx.get(f"{service.url}/console/", timeout=10).text
    assert "<script>" not in page and "http" not in page
    moved = httpx.get(f"{service.url}/console", timeout=10)
    assert moved.status_code == 307 and moved.headers["location"].endswith("/console/")


def test_a_listing_from_contribution_through_dispute_to_resolution(
    browser: Any,
    service: Service,
    screenshots: Path,
    console: Callable[[str, str, str], Console],
    tmp_path: Path,
) -> None:
    # The sign-in page, before anyone signs in; a token that is not a JWT is refused.
    door = Console(browser, service, screenshots)
    door.open()
    door.page.get_by_label("Token (JWT)").fill("not-a-token")
    door.page.get_by_role("button", name="Sign in").click()
    door.page.get_by_text("Not signed in: this is not a JWT").wait_for()
    # A token of the right shape that the service refuses (signed with another key).
    forged = jwt.encode(
        {"sub": "mallory", "member": "alpha", "scope": ANALYST, "aud": "x", "iss": "y"},
        "another-secret-of-at-least-thirty-two-bytes",
        algorithm="HS256",
    )
    door.page.get_by_label("Token (JWT)").fill(forged)
    door.page.get_by_role("button", name="Sign in").click()
    door.page.get_by_text("The service refused the token").wait_for()
    assert door.page.get_by_role("button", name="Sign out").count() == 0
    door.shot("01-sign-in")
    door.close()

    auditor = console("oversight", AUDITOR, "auditor-1")
    auditor.go("#/transparency")
    before = _disputes_chart(auditor)
    assert "opened 0" in before

    # An analyst of alpha: who am I, then contribute one hash by the form.
    analyst = console("alpha", ANALYST, "analyst-1")
    analyst.go("#/signin")
    assert "alpha" in analyst.text() and "hashes:submit" in analyst.text()
    analyst.shot("02-who-am-i")
    assert analyst.nav()[:3] == ["Match", "Hash", "Contribute"]
    value = pdq_value(0x5EED)
    analyst.go("#/contribute")
    analyst.page.get_by_label("Hash value (hex)").fill(value)
    analyst.page.get_by_role("checkbox", name=re.compile(LABEL)).check()
    analyst.page.get_by_role("button", name="Contribute", exact=True).click()
    analyst.page.get_by_text("Stored: 1 created").wait_for()
    href = analyst.page.locator("main table a[href^='#/hash/']").first.get_attribute("href")
    hash_id = int(href.rsplit("/", 1)[1])

    # A file: one unreadable line stops it before sending; a refused line stores nothing
    # and is named; a good file gets a result per line.
    image = encode(scene(seed=7))
    image_pdq = service.api(
        "POST",
        "/v1/hash",
        service.token("alpha", ANALYST, "analyst-1"),
        files={"image": ("scene.png", image, "image/png")},
        data={"signal_types": "pdq"},
    )["hashes"][0]["value"]
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"signal_type,value,labels\npdq,{pdq_value(1)},{LABEL}\npdq,{'0' * 64},{LABEL}\n"
    )
    analyst.page.get_by_label("File", exact=True).set_input_files(str(bad))
    analyst.page.get_by_role("button", name="Contribute the file").click()
    analyst.page.get_by_text("Nothing was stored").wait_for()
    assert "refused" in analyst.text() and "not stored" in analyst.text()
    good = tmp_path / "good.csv"
    good.write_text(
        f"signal_type,value,labels,external_ref\n"
        f"pdq,{pdq_value(1)},{LABEL},case-1\n"
        f"pdq,{image_pdq},{LABEL};glorification-of-terrorist-acts,case-2\n"
        f"pdq,{value},{LABEL}\n"
    )
    analyst.page.get_by_label("File", exact=True).set_input_files(str(good))
    analyst.page.get_by_role("button", name="Contribute the file").click()
    analyst.page.get_by_text("Stored: 2 created, 0 updated, 1 already yours").wait_for()
    image_link = analyst.page.locator("main table tr", has_text="case-2").locator("a")
    image_hash_id = int(image_link.get_attribute("href").rsplit("/", 1)[1])
    analyst.shot("03-contribute")

    # Match it by value, then match the image through the service, after being told.
    analyst.go("#/match")
    analyst.page.get_by_label("Hashes, one per line").fill(f"pdq {value}\n{'a5' * 32}")
    analyst.page.get_by_role("button", name="Match hashes").click()
    analyst.page.get_by_text("1 of 2 queries matched.").wait_for()
    assert f"#{hash_id}" in analyst.text()
    notice = analyst.page.get_by_text("The image will be sent to the service.")
    assert notice.is_visible()
    picture = tmp_path / "scene.png"
    picture.write_bytes(image)
    analyst.page.get_by_label("Image file (or drop one here)").set_input_files(str(picture))
    analyst.page.get_by_role("button", name="Send the image to the service and match").click()
    image_results = analyst.page.locator("#image-results")
    image_results.get_by_text(re.compile(r"[1-9]\d* of \d+ queries matched\.")).wait_for()
    assert f"#{image_hash_id}" in image_results.inner_text()
    assert analyst.page.locator("img.preview").get_attribute("src").startswith("blob:")
    analyst.shot("04-match")

    # Two other members disagree; the second disagreement disputes the listing.
    for member, expected in (("beta", "active"), ("gamma", "disputed")):
        judge = console(member, JUDGE, f"{member}-analyst")
        judge.go(f"#/hash/{hash_id}")
        judge.page.get_by_label("Verdict", exact=True).select_option("disagree")
        judge.page.get_by_label("Reason (needed to disagree)").select_option("wrong-label")
        judge.page.get_by_role("button", name="Send verdict").click()
        judge.page.get_by_text(f"Verdict recorded; the hash is now {expected}.").wait_for()
    judge.shot("05-hash-detail")
    assert "wrong-label" in judge.text()
    assert "status: active" in judge.text() and "status: disputed" in judge.text()

    # The admin resolves it in writing.
    admin = console("ops", ADMIN, "admin-1")
    assert "Disputes" in admin.nav()
    admin.go("#/disputes")
    admin.page.get_by_role("heading", name=re.compile(f"Hash #{hash_id}")).wait_for()
    assert "beta" in admin.text() and "gamma" in admin.text()
    admin.shot("06-disputes")
    admin.page.get_by_label("Decision").select_option("reinstate")
    admin.page.get_by_label("Written reason").fill("The label is right: it is the manifesto.")
    admin.page.get_by_role("button", name=f"Resolve #{hash_id}").click()
    admin.page.get_by_text(f"Hash #{hash_id}: reinstate; it is now active.").wait_for()
    assert "No disputed hashes." in admin.text()

    # The auditor: each step in the log, under a chain that verifies to its head.
    auditor.go("#/audit")
    head = service.api("GET", "/v1/audit/verify", service.token("oversight", AUDITOR, "a"))
    auditor.page.get_by_text("The chain verifies up to event").wait_for()
    banner = auditor.page.locator(".banner.ok").inner_text()
    assert re.search(r"verifies up to event (\d+)", banner).group(1).isdigit()
    assert int(re.search(r"verifies up to event (\d+)", banner).group(1)) <= head["head_seq"]
    for action in ("hashes.submit", "match", "feedback.given", "hash.disputed", "dispute.resolved"):
        auditor.page.get_by_label("Action").fill(action)

        def listed(action: str = action) -> bool:
            auditor.page.get_by_role("button", name="Apply filters").click()
            auditor.page.wait_for_load_state("networkidle")
            rows = auditor.page.locator("main table tbody tr").all_inner_texts()
            return any(action in row for row in rows)

        _until(listed)
    auditor.page.get_by_label("Action").fill("")
    auditor.page.get_by_label("Per page").select_option("10")
    auditor.page.get_by_role("button", name="Apply filters").click()
    auditor.page.get_by_role("button", name="Older →").click()
    auditor.page.get_by_role("button", name="← Newer").wait_for()
    auditor.page.get_by_role("button", name="← Newer").click()
    with auditor.page.expect_download() as download:
        auditor.page.get_by_role("button", name="Export the whole log (JSON Lines)").click()
    exported = Path(download.value.path()).read_text().splitlines()
    assert {json.loads(line)["action"] for line in exported} >= {"dispute.resolved"}
    auditor.shot("07-audit-log")

    # The transparency figures moved: one dispute opened, one reinstated, matches counted.
    auditor.go("#/transparency")
    after = _disputes_chart(auditor)
    assert after != before
    assert "opened 1" in after and "resolved: reinstate 1" in after
    matches = auditor.page.locator("svg[aria-label^='Matches per day:']").get_attribute(
        "aria-label"
    )
    assert "none" not in matches
    edges = auditor.page.locator("svg[aria-label^='Matches reported by edges per day:']")
    assert edges.count() == 1  # no edge has reported in this story
    auditor.shot("08-transparency")

    # The analyst retracts the image's hash, after a confirmation that says what it does.
    analyst.go(f"#/hash/{image_hash_id}")
    analyst.page.get_by_role("button", name="Retract…").click()
    dialog = analyst.page.get_by_role("dialog")
    assert "stops matching on every replica" in dialog.inner_text()
    analyst.shot("09-retract-confirmation")
    dialog.get_by_role("button", name="Retract my contribution").click()
    analyst.page.get_by_text("Your contribution is retracted; the hash is retracted.").wait_for()


def test_an_auditor_is_offered_no_contribution_or_retraction(
    service: Service, console: Callable[[str, str, str], Console]
) -> None:
    token = service.token("alpha", ANALYST, "analyst-2")
    body = {"hashes": [{"signal_type": "pdq", "value": pdq_value(4242), "labels": [LABEL]}]}
    hash_id = service.api("POST", "/v1/hashes", token, json=body)["results"][0]["hash_id"]
    auditor = console("oversight", AUDITOR, "auditor-2")
    assert "Contribute" not in auditor.nav()
    assert {"Audit log", "Transparency", "Hash"} <= set(auditor.nav())
    auditor.go(f"#/hash/{hash_id}")
    auditor.page.get_by_text("contributed by alpha").wait_for()
    main = auditor.page.locator("main")
    assert main.get_by_role("button", name=re.compile("Retract")).count() == 0
    assert main.get_by_role("button", name="Send verdict").count() == 0
    auditor.go("#/contribute")
    assert "does not carry the scope this page needs (hashes:submit)" in auditor.text()
    assert auditor.page.get_by_role("button", name="Contribute", exact=True).count() == 0


def test_a_matcher_is_offered_no_audit_log(
    service: Service, console: Callable[[str, str, str], Console], screenshots: Path
) -> None:
    matcher = console("alpha", MATCHER, "pipeline-1")
    assert matcher.nav() == ["Match", "Who am I"]
    matcher.go("#/audit")
    assert "does not carry the scope this page needs (audit:read)" in matcher.text()
    assert matcher.page.locator("main table").count() == 0
    matcher.shot("10-matcher-without-audit")


def test_the_console_works_from_the_keyboard_with_a_visible_focus(
    browser: Any, service: Service, screenshots: Path
) -> None:
    tab = Console(browser, service, screenshots)
    tab.open()
    keys = tab.page.keyboard
    keys.press("Tab")
    assert tab.page.evaluate("document.activeElement.textContent") == "Skip to content"
    keys.press("Enter")
    while tab.page.evaluate("document.activeElement.tagName") != "TEXTAREA":
        keys.press("Tab")
    outline = tab.page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    keys.type(service.token("alpha", JUDGE, "keyboard-1"))
    while tab.page.evaluate("document.activeElement.textContent") != "Sign in":
        keys.press("Tab")
    keys.press("Enter")
    tab.page.get_by_role("button", name="Sign out").wait_for()
    # After a move the page's heading has the focus, so a screen reader announces it.
    tab.page.wait_for_function("document.activeElement.tagName === 'H1'")
    assert tab.page.evaluate("document.activeElement.textContent") == "Match"
    tab.close()


def test_a_token_file_signs_in_for_this_tab_only(
    browser: Any, service: Service, screenshots: Path, tmp_path: Path
) -> None:
    token = service.token("beta", JUDGE, "file-1")
    saved = tmp_path / "beta.jwt"
    saved.write_text(token + "\n")
    tab = Console(browser, service, screenshots)
    tab.open()
    tab.page.get_by_label("Or choose a token file").set_input_files(str(saved))
    tab.page.wait_for_function("document.querySelector('textarea').value.length > 0")
    tab.page.get_by_role("button", name="Sign in").click()
    tab.page.get_by_role("button", name="Sign out").wait_for()
    assert token not in tab.page.url
    assert tab.page.evaluate("localStorage.length") == 0
    assert tab.page.evaluate("sessionStorage.getItem('hashshare.token')") == token
    # Another tab of the same browser is not signed in.
    other = tab.context.new_page()
    other.goto(f"{service.url}/console/")
    other.get_by_role("button", name="Sign in").wait_for()
    tab.page.get_by_role("button", name="Sign out").click()
    tab.page.get_by_role("button", name="Sign in").wait_for()
    assert tab.page.evaluate("sessionStorage.length") == 0
    tab.close()
