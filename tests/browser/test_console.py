"""The web console (/console/) in a real browser: Playwright driving Debian's chromium against
the whole service on a real port (PostgreSQL, Redis, demo accounts).

Every test watches the page: no dialog may open (user text is never run as script), no
Content Security Policy violation and no uncaught script error may be reported.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from os import environ
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Dialog, Page, async_playwright, expect

from core.db import transaction
from core.settings import REPO_ROOT
from hotline import handoffs
from hotline.demo import DEMO_PASSWORD
from server import create_app

CHROMIUM = environ.get("CHROMIUM_EXECUTABLE", "/usr/bin/chromium")
OUTPUT = REPO_ROOT / "test-output" / "console"  # screenshots kept for people to look at (git-ignored)
PASSWORD = DEMO_PASSWORD
XSS = "<script>alert(1)</script>"

expect.set_options(timeout=10_000)


@dataclass
class Watch:
    """What the page reported while the test drove it."""

    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert [m for m in self.console if "Content Security Policy" in m] == []
        assert self.errors == [], f"script errors: {self.errors}"


@pytest.fixture
async def service(aiohttp_server, make_settings, clock) -> TestServer:
    """The service with its demo accounts, listening on a real port."""
    return await aiohttp_server(create_app(make_settings(demo_data=True), clock=clock))


@pytest.fixture
def console_url(service: TestServer) -> str:
    return str(service.make_url("/console/"))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (or set CHROMIUM_EXECUTABLE)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        await browser.close()


@pytest.fixture
async def watched(browser: Browser) -> AsyncIterator[tuple[Page, Watch]]:
    """A fresh page (own cookies) and what it reports."""
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                                        timezone_id="Asia/Shanghai")
    page = await context.new_page()
    page.set_default_timeout(10_000)
    watch = Watch()

    async def on_dialog(dialog: Dialog) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda message: watch.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    yield page, watch
    await context.close()


async def open_console(page: Page, url: str) -> None:
    response = await page.goto(url)
    assert response is not None and response.ok
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy  # the page runs under the strict CSP
    await expect(page.get_by_test_id("login-view")).to_be_visible()


async def log_in(page: Page, username: str, password: str = PASSWORD) -> int:
    """Submit the login form; the HTTP status of the login request."""
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(password)
    async with page.expect_response("**/console/api/login") as answer:
        await page.get_by_test_id("login-submit").click()
    return (await answer.value).status


async def log_out(page: Page) -> None:
    await page.get_by_test_id("logout").click()
    await expect(page.get_by_test_id("login-view")).to_be_visible()
    await expect(page.get_by_test_id("app-view")).to_be_hidden()


async def act(page: Page, action: str, **fields: str) -> None:
    """Open an action's form, fill its fields (by test id) and submit it."""
    await page.get_by_test_id(f"action-{action}").click()
    form = page.get_by_test_id("action-form")
    await expect(form).to_have_attribute("data-action", action)
    for testid, value in fields.items():
        control = form.get_by_test_id(testid)
        if await control.evaluate("node => node.tagName") == "SELECT":
            await control.select_option(value)
        else:
            await control.fill(value)
    async with page.expect_response(f"**/actions/{action}") as answer:
        await form.get_by_test_id("action-submit").click()
    assert (await answer.value).ok, await (await answer.value).text()


def row(page: Page, number: str):
    return page.locator(f"[data-testid=ticket-row][data-number='{number}']")


async def screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    await page.screenshot(path=path, full_page=True)
    return path


@pytest.mark.timeout(120)
async def test_phone_complaint_from_call_to_close(console_url: str, watched, tmp_path: Path) -> None:
    """The issue's walk-through: an agent registers a call whose text is a script tag and
    dispatches it, the department signs and replies, the agent records the callback and closes;
    the text is shown literally everywhere and nothing runs."""
    page, watch = watched
    await open_console(page, console_url)

    # 话务员 registers the call.
    assert await log_in(page, "agent01") == 200
    await expect(page.get_by_test_id("user-name")).to_have_text("王芳")
    await expect(page.get_by_test_id("user-role")).to_have_text("话务员")
    await expect(page.get_by_test_id("page-title")).to_have_text("待派单")
    await page.get_by_test_id("new-call").click()
    await page.get_by_test_id("call-type").select_option("投诉")
    # each difficulty with its time limit (both from the meta)
    await expect(page.get_by_test_id("call-difficulty").locator("option")).to_have_text(
        ["一般（5个工作日）", "疑难（15个工作日）"])
    await page.get_by_test_id("call-content").fill(XSS)
    await page.get_by_test_id("call-name").fill("张先生")
    await page.get_by_test_id("call-phone").fill("13800138000")
    await page.get_by_test_id("call-location").fill("滨江路12号")
    await page.get_by_test_id("call-submit").click()

    await expect(page.get_by_test_id("ticket-content")).to_have_text(XSS)
    number = (await page.get_by_test_id("ticket-number").text_content()) or ""
    assert re.fullmatch(r"GD20261118\d{6}", number)
    await expect(page.get_by_test_id("ticket-state")).to_have_text("已登记")
    # Accepted Wednesday 18 November 2026; the day of acceptance is not counted: 5 working days → 25th.
    await expect(page.get_by_test_id("ticket-deadline-text")).to_have_text("11月25日（剩5个工作日）")
    await expect(page.get_by_test_id("ticket-promise")).to_contain_text("5个工作日")
    assert await page.locator("[data-testid=ticket-content] *").count() == 0  # text, not markup

    # It waits in 待派单, the text shown literally in the row with the deadline.
    await page.get_by_test_id("nav-new").click()
    new_row = row(page, number)
    await expect(new_row).to_contain_text(XSS)
    await expect(new_row.get_by_test_id("row-deadline-text")).to_have_text("11月25日（剩5个工作日）")
    await new_row.click()
    await expect(page.get_by_test_id("ticket-dispatched-at")).to_have_count(0)
    await act(page, "dispatch", **{"field-department": "cgj"})
    await expect(page.get_by_test_id("ticket-state")).to_have_text("已派单")
    await expect(page.get_by_test_id("ticket-department")).to_have_text("市城市管理执法局")
    await expect(page.get_by_test_id("ticket-dispatched-at")).to_have_text("11月18日 09:30")  # the test clock
    await log_out(page)

    # 承办单位 (市城市管理执法局) sees only its own queues, signs and replies.
    assert await log_in(page, "dept-cgj") == 200
    await expect(page.get_by_test_id("user-role")).to_have_text("承办单位")
    await expect(page.get_by_test_id("user-department")).to_have_text("市城市管理执法局")
    nav = page.get_by_test_id("nav")
    for name in ("unsigned", "department", "assisting", "due_soon", "overdue"):
        await expect(nav.get_by_test_id(f"nav-{name}")).to_be_visible()
    for name in ("new", "answered", "ratings", "handoffs", "kpis"):
        await expect(nav.get_by_test_id(f"nav-{name}")).to_have_count(0)
    await expect(page.get_by_test_id("new-call")).to_have_count(0)
    await expect(page.get_by_test_id("page-title")).to_have_text("待签收")
    refused = await page.request.get(console_url + "api/queues/new")
    assert refused.status == 403
    await page.evaluate("location.hash = '#queue/new'")  # an agent-only queue by address: back to its own
    await expect(page.get_by_test_id("page-title")).to_have_text("待签收")

    unsigned = row(page, number)
    await expect(unsigned).to_contain_text(XSS)
    await expect(unsigned.get_by_test_id("row-deadline-text")).to_have_text("11月25日（剩5个工作日）")
    await unsigned.click()
    await expect(page.get_by_test_id("ticket-content")).to_have_text(XSS)
    await expect(page.get_by_test_id("action-dispatch")).to_have_count(0)
    await act(page, "sign")
    await expect(page.get_by_test_id("ticket-state")).to_have_text("已签收")
    await act(page, "reply", **{"field-reply": "已安排执法队员现场核查并整改，感谢您的反映。"})
    await expect(page.get_by_test_id("ticket-state")).to_have_text("已答复")
    await expect(page.get_by_test_id("ticket-reply")).to_have_text("已安排执法队员现场核查并整改，感谢您的反映。")
    await screenshot(page, tmp_path, "2-department-replied.png")
    await log_out(page)

    # 话务员 calls back and closes.
    assert await log_in(page, "agent01") == 200
    await page.get_by_test_id("nav-answered").click()
    await row(page, number).click()
    await act(page, "callback", **{"field-note": "来电人表示问题已解决，满意。"})
    await expect(page.get_by_test_id("ticket-state")).to_have_text("已回访")
    await expect(page.get_by_test_id("ticket-closed-at")).to_have_count(0)
    await act(page, "close")
    await expect(page.get_by_test_id("ticket-state")).to_have_text("已办结")
    await expect(page.get_by_test_id("ticket-closed-at")).to_have_text("11月18日 09:30")
    for done in ("callback", "close", "dispatch"):
        await expect(page.get_by_test_id(f"action-{done}")).to_have_count(0)
    steps = page.get_by_test_id("timeline-step")
    await expect(steps).to_have_count(6)
    for index, label in enumerate(["登记", "派单", "签收", "答复", "回访", "办结"]):
        await expect(steps.nth(index)).to_contain_text(label)
    await expect(page.get_by_test_id("ticket-content")).to_have_text(XSS)
    await expect(page.get_by_test_id("ticket-deadline-text")).to_have_text("11月25日")  # answered: the date only

    final = await screenshot(page, tmp_path, "3-closed.png")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for shot in tmp_path.glob("*.png"):
        shutil.copy(shot, OUTPUT / f"complaint-{shot.name}")
    assert final.stat().st_size > 0
    watch.assert_clean()


@pytest.mark.timeout(60)
async def test_wrong_password_shows_the_message_and_repeated_failures_lock(console_url: str, watched,
                                                                            tmp_path: Path) -> None:
    page, watch = watched
    await open_console(page, console_url)
    alert = page.get_by_test_id("alert")
    for _ in range(4):
        assert await log_in(page, "agent01", "not-the-password") == 401
        await expect(alert).to_be_visible()
        await expect(alert).to_have_text("用户名或密码错误")
    assert await log_in(page, "agent01", "not-the-password") == 423  # the fifth failure within 15 minutes
    await expect(alert).to_have_text("登录失败次数过多，账号已暂时锁定，请15分钟后再试")
    assert await log_in(page, "agent01") == 423  # now even the right password is refused
    await expect(alert).to_have_text("登录失败次数过多，账号已暂时锁定，请15分钟后再试")
    await expect(page.get_by_test_id("app-view")).to_be_hidden()
    await screenshot(page, tmp_path, "locked.png")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "locked.png", OUTPUT / "login-locked.png")
    watch.assert_clean()


@pytest.mark.timeout(60)
async def test_agent_answers_handoffs_and_reads_kpis(service: TestServer, console_url: str, watched, clock,
                                                      tmp_path: Path) -> None:
    """转人工: an answer inside WeChat's 48-hour window is queued, one outside it is marked
    undeliverable; the chat text is shown literally. The KPI table renders for the agent."""
    page, watch = watched
    now = clock.now()
    said = "<img src=x onerror=alert(1)>我要找人工"
    async with transaction(service.app) as db:
        stale = await handoffs.open_handoff(db, "o-stale", [{"at": (now - timedelta(days=3)).isoformat(),
                                                             "from": "user", "text": "人工客服"}], now - timedelta(days=3))
        fresh = await handoffs.open_handoff(db, "o-fresh", [{"at": now.isoformat(), "from": "user", "text": said}], now)
        stale_id, fresh_id = stale.id, fresh.id

    await open_console(page, console_url)
    assert await log_in(page, "agent01") == 200
    await page.get_by_test_id("nav-handoffs").click()
    fresh_card = page.locator(f"[data-testid=handoff-card][data-id='{fresh_id}']")
    stale_card = page.locator(f"[data-testid=handoff-card][data-id='{stale_id}']")
    await expect(fresh_card.get_by_test_id("handoff-transcript")).to_contain_text(said)
    await expect(fresh_card.get_by_test_id("handoff-window")).to_have_text("48小时内，可回复")
    await expect(stale_card.get_by_test_id("handoff-window")).to_have_text("已超过48小时窗口")

    await fresh_card.get_by_test_id("handoff-reply-text").fill("您好，我是12345话务员，请讲。")
    await fresh_card.get_by_test_id("handoff-reply-submit").click()
    await expect(fresh_card.get_by_test_id("handoff-delivery")).to_have_text("已排队发送")
    await expect(fresh_card.get_by_test_id("handoff-state")).to_have_text("已回复")
    await expect(fresh_card.get_by_test_id("handoff-taken-by")).to_have_text("接待坐席：agent01")
    await expect(stale_card.get_by_test_id("handoff-taken-by")).to_have_count(0)  # nobody has answered it yet
    await stale_card.get_by_test_id("handoff-reply-text").fill("您好，请问还需要帮助吗？")
    await stale_card.get_by_test_id("handoff-reply-submit").click()
    await expect(stale_card.get_by_test_id("handoff-delivery")).to_have_text("无法送达（已超过48小时）")
    await stale_card.get_by_test_id("handoff-close").click()
    await expect(stale_card.get_by_test_id("handoff-state")).to_have_text("已结束")
    await screenshot(page, tmp_path, "handoffs.png")

    await page.get_by_test_id("nav-kpis").click()  # the demo dispatches one ticket to 市城市管理执法局
    await expect(page.get_by_test_id("kpi-row").filter(has_text="市城市管理执法局")).to_have_count(1)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "handoffs.png", OUTPUT / "handoffs.png")
    watch.assert_clean()
