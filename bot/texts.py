"""What the bot says that is not specific to one flow, and fitting text into WeChat's limit."""

from __future__ import annotations

from knowledge_base.text import fold

MAX_BYTES = 2000  # WeChat's passive text reply holds 2,048 bytes of UTF-8; keep a margin
MINIAPP = "完整内容请在“政务掌上办”小程序查看。"

WELCOME = ("您好，欢迎使用政务掌上办！我可以帮您：\n"
           "1. 办事指南：如“我要开饭店需要什么材料”\n"
           "2. 查办件进度：如“查询办件SX20261105000123”\n"
           "3. 12345投诉建议：如“我要投诉小区噪音扰民”\n"
           "4. 查工单进度：如“GD20261118000042办得怎么样了”\n"
           "5. 我的证照：如“我的证照”\n"
           "6. 评价办理结果、转人工客服\n"
           "办理中回复“取消”可随时退出。")
HELP = WELCOME
CANCELLED = "好的，已退出当前办理。还有什么可以帮您？"
NOT_UNDERSTOOD = ("抱歉，我没太明白您的意思。您可以这样问：\n"
                  "“我要开饭店需要什么材料”“查询办件进度”“我要投诉”“转人工”")
UNSUPPORTED = {
    "image": "收到您的图片。目前我只能读懂文字，请用文字描述您要办理或反映的事情。",
    "voice": "抱歉，暂时没能识别这段语音，请改用文字告诉我。",
    "video": "收到您的视频。目前我只能读懂文字，请用文字描述您要办理或反映的事情。",
    "shortvideo": "收到您的视频。目前我只能读懂文字，请用文字描述您要办理或反映的事情。",
    "location": "收到您的位置。如需反映问题，请先发送“我要投诉”，再按提示发送位置。",
    "link": "收到您的链接。目前我只能读懂文字，请用文字告诉我您要办理的事情。",
}
NEED_BINDING = "该功能需要先实名认证：请在“政务掌上办”小程序“我的”页面完成实名绑定后再试。"


def fit(text: str, limit: int = MAX_BYTES) -> str:
    """The text if it fits; otherwise as many whole lines as fit, then a pointer to the mini-program."""
    if len(text.encode()) <= limit:
        return text
    tail = "\n……\n" + MINIAPP
    budget = limit - len(tail.encode())
    kept, used = [], 0
    for line in text.split("\n"):
        size = len(line.encode()) + 1
        if used + size > budget:
            break
        kept.append(line)
        used += size
    return "\n".join(kept) + tail


def numbered(options: list[str]) -> str:
    return "\n".join(f"{i}. {option}" for i, option in enumerate(options, 1))


AGREE = {"1", "是", "是的", "好", "好的", "对", "对的", "确认", "确定", "可以", "可以的", "行", "没问题", "嗯", "嗯嗯", "ok"}


def agrees(text: str) -> bool:
    """Whether a reply says yes to a confirmation ("1", "好的", "确认"…)."""
    return fold(text).strip().rstrip("。.!~") in AGREE


def choice(text: str, options: list[str]) -> int | None:
    """Which option a reply picks: its number (1-based, any width), its exact label, or else the
    one option whose label contains the reply ("满意" picks "满意", never "非常满意"; "匿名" is in
    both anonymity options and so picks neither)."""
    answer, labels = fold(text).strip().rstrip("。.、"), [fold(option) for option in options]  # any width, either script
    if answer.isascii() and answer.isdigit() and 1 <= int(answer) <= len(options):
        return int(answer) - 1
    if answer in labels:
        return labels.index(answer)
    containing = [index for index, label in enumerate(labels) if len(answer) >= 2 and answer in label]
    return containing[0] if len(containing) == 1 else None
