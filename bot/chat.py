"""A terminal chat with a running service, as a citizen in WeChat would hold it.

    python server.py chat [--url http://127.0.0.1:8080] [--openid demo-openid-citizen]

Each line typed is sent to `POST /wechat` exactly as WeChat sends it: signed with the webhook
token (WECHAT_TOKEN, or the embedded default's development token), encrypted when
WECHAT_AES_KEY is set. The reply is printed. `/menu KEY` clicks a menu item (MENU_GUIDE …),
`/subscribe` follows the account, `/help` lists these, Ctrl-D quits. A reply that comes later
as a customer-service message goes to the WeChat API, not to this terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from collections.abc import AsyncIterator, Callable

import aiohttp

from bot.signing import DEV_ACCOUNT, Credentials, NotConfigured, XmlInvalid, event_message, text_message
from core.settings import Settings

PROMPT = "我："
COMMANDS = ("/menu KEY   点击菜单（如 /menu MENU_GUIDE）\n"
            "/subscribe  关注公众号\n"
            "/help       显示本说明\n"
            "Ctrl-D      退出")


class Chat:
    """One citizen's conversation with the webhook at `url`."""

    def __init__(self, http: aiohttp.ClientSession, url: str, credentials: Credentials, openid: str,
                 account: str = DEV_ACCOUNT, clock: Callable[[], float] = time.time):
        self.http, self.url = http, url.rstrip("/") + "/wechat"
        self.credentials, self.openid, self.account = credentials, openid, account
        self.clock = clock  # Unix seconds, as WeChat stamps its messages
        # MsgIds unique across runs: milliseconds since the epoch, then a counter.
        self._ids = itertools.count(int(time.time() * 1000) * 1000)

    def message(self, line: str) -> str | None:
        """The XML WeChat would post for what the user typed; None for a command handled here."""
        now = int(self.clock())
        if line.startswith("/menu"):
            key = line.removeprefix("/menu").strip()
            return event_message(self.openid, self.account, "CLICK", create_time=now, event_key=key) if key else None
        if line == "/subscribe":
            return event_message(self.openid, self.account, "subscribe", create_time=now)
        if line.startswith("/"):
            return None
        return text_message(self.openid, self.account, line, msg_id=next(self._ids), create_time=now)

    async def send(self, xml: str) -> str:
        """Post one message; what the user would see."""
        query, body = self.credentials.sign(xml, timestamp=int(self.clock()), openid=self.openid)
        async with self.http.post(self.url, params=query, data=body,
                                  headers={"Content-Type": "text/xml; charset=utf-8"}) as response:
            raw = await response.read()
            if response.status != 200:
                return f"〔服务拒绝了消息：HTTP {response.status} {raw.decode(errors='replace')[:200]}〕"
        try:
            fields = self.credentials.open_reply(raw)
        except (XmlInvalid, ValueError) as exc:
            return f"〔无法读取的回复：{exc}〕"
        if fields is None:
            return "〔无回复〕"
        if fields.get("MsgType") == "transfer_customer_service":
            return "〔已转接人工客服，请等候客服消息〕"
        return fields.get("Content", f"〔{fields.get('MsgType', '未知')}类型的回复〕")

    async def run(self, lines: AsyncIterator[str], write: Callable[[str], None]) -> None:
        """Send every line, write every reply, until the lines end."""
        async for line in lines:
            line = line.strip()
            if not line:
                continue
            xml = self.message(line)
            if xml is None:
                write(COMMANDS)
                continue
            write("政务掌上办：" + await self.send(xml))


async def _stdin_lines() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    while True:
        print(PROMPT, end="", flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:  # Ctrl-D
            print()
            return
        yield line


async def _main(credentials: Credentials, url: str, openid: str) -> int:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        chat = Chat(http, url, credentials, openid)
        try:
            await chat.run(_stdin_lines(), print)
        except aiohttp.ClientConnectionError as exc:
            print(f"无法连接 {url}：{exc}（服务是否已用 python server.py 启动？）", file=sys.stderr)
            return 1
    return 0


def main(settings: Settings, argv: list[str] | None = None) -> int:
    """`server.py chat`: parse the options, then chat until Ctrl-D."""
    parser = argparse.ArgumentParser(prog="server.py chat", description="在终端里像微信用户一样与公众号对话")
    parser.add_argument("--url", default=f"http://127.0.0.1:{settings.port}", help="a running service")
    parser.add_argument("--openid", default="demo-openid-citizen", help="who you are (the demo citizen by default)")
    args = parser.parse_args(argv)
    try:
        credentials = Credentials.from_settings(settings)
    except NotConfigured as exc:
        print(f"{exc}（chat 用服务的同一配置签名消息）", file=sys.stderr)
        return 2
    mode = "安全模式（加密）" if credentials.safe_mode else "明文模式"
    print(f"已连接 {args.url}/wechat，{mode}，身份 {args.openid}。输入 /help 查看命令，Ctrl-D 退出。")
    try:
        return asyncio.run(_main(credentials, args.url, args.openid))
    except KeyboardInterrupt:
        print()
        return 0
