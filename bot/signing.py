"""WeChat's wire format for the official-account webhook, for both ends of the wire.

The service (`bot.webhook`) checks signatures, opens safe-mode envelopes and parses the XML
here; the tests, the benchmark and the terminal chat (`bot.chat`) use the same functions to
speak as WeChat would: build a message, sign it, read the reply.

- Signature (plain and safe mode alike, on the query string): sha1 of the sorted concatenation of
  token, timestamp and nonce. Safe mode (安全模式) adds `msg_signature`, the same over token,
  timestamp, nonce and the `Encrypt` text, which is the message AES-encrypted by wechatpy's
  crypto with the EncodingAESKey; replies go back in the same envelope.
- XML is parsed by expat with any document type declaration refused: without a DTD there are
  no entities to expand (billion laughs) and none to fetch (XXE).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from xml.parsers import expat

from wechatpy.crypto import PrpCrypto, WeChatCrypto

from core.settings import Settings

# The token the embedded default (SQLite, no official account configured) checks signatures
# with, so `python server.py chat` works out of the box. Never used once WECHAT_APP_ID is set
# or with PostgreSQL: a real account must set its own WECHAT_TOKEN.
DEV_TOKEN = "zhangshangban-dev-token"
DEV_ACCOUNT = "gh_zhangshangban_dev"  # ToUserName of messages the chat sends

_TO_USER = re.compile(r"<ToUserName><!\[CDATA\[(.*?)\]\]></ToUserName>")
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class NotConfigured(Exception):
    """The webhook has no usable credentials; the message says what to set."""


class XmlForbidden(ValueError):
    """The XML declares a document type or entities (XML bomb, external entity)."""


class XmlInvalid(ValueError):
    """Not well-formed XML, or not WeChat's `<xml>` message shape."""


def signature(*parts: str) -> str:
    """WeChat's signature: hex sha1 of the parts sorted and concatenated (as wechatpy's signer)."""
    return hashlib.sha1(b"".join(sorted(p.encode() for p in parts))).hexdigest()


def same_signature(expected: str, given: str) -> bool:
    """Constant-time comparison, so timing does not reveal how much of a forgery was right."""
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def _forbid(*_args: object) -> None:
    raise XmlForbidden("document type declarations are not accepted")


def parse_xml(body: bytes) -> dict[str, str]:
    """The text of each child element of the root `<xml>`: WeChat's flat message shape.

    Raises XmlForbidden for any DOCTYPE or ENTITY (checked on the bytes first, and again by
    expat's handler for encodings a byte search would miss), XmlInvalid for anything else wrong.
    """
    head = body.upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise XmlForbidden("document type declarations are not accepted")
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _forbid
    parser.EntityDeclHandler = _forbid
    parser.ExternalEntityRefHandler = _forbid
    parser.buffer_text = True
    fields: dict[str, str] = {}
    path: list[str] = []
    text: list[str] = []

    def start(name: str, _attrs: dict) -> None:
        if not path and name != "xml":
            raise XmlInvalid(f"root element is <{name}>, not <xml>")
        path.append(name)
        if len(path) == 2:
            text.clear()

    def end(name: str) -> None:
        if len(path) == 2:
            fields[name] = "".join(text)
        path.pop()

    def characters(data: str) -> None:
        if len(path) == 2:
            text.append(data)

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise XmlInvalid(str(exc)) from None
    return fields


def _cdata(text: str) -> str:
    text = _INVALID_XML_CHARS.sub("", text)
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(fields: dict[str, str | int]) -> str:
    """WeChat's flat `<xml>`: numbers bare, text in CDATA, in the order given."""
    parts = [f"<{name}>{value}</{name}>" if isinstance(value, int) else f"<{name}>{_cdata(value)}</{name}>"
             for name, value in fields.items()]
    return "<xml>" + "".join(parts) + "</xml>"


def text_message(openid: str, account: str, content: str, *, msg_id: int, create_time: int) -> str:
    """A user's text message as WeChat posts it."""
    return message_xml({"ToUserName": account, "FromUserName": openid, "CreateTime": create_time,
                        "MsgType": "text", "Content": content, "MsgId": msg_id})


def event_message(openid: str, account: str, event: str, *, create_time: int, event_key: str | None = None) -> str:
    """An event (subscribe, CLICK, …) as WeChat posts it; events carry no MsgId."""
    fields: dict[str, str | int] = {"ToUserName": account, "FromUserName": openid, "CreateTime": create_time,
                                    "MsgType": "event", "Event": event}
    if event_key is not None:
        fields["EventKey"] = event_key
    return message_xml(fields)


def webhook_token(settings: Settings) -> str | None:
    """WECHAT_TOKEN; in the embedded default without an official account, DEV_TOKEN; else None."""
    if settings.wechat_token:
        return settings.wechat_token
    if settings.embedded and not settings.wechat_app_id:
        return DEV_TOKEN
    return None


@dataclass(frozen=True)
class Credentials:
    """What WeChat signs (and in safe mode encrypts) with, and the service checks with."""

    token: str
    aes_key: str | None = None  # EncodingAESKey: safe mode when set
    app_id: str | None = None  # the official account's AppID; safe-mode envelopes name it
    _crypto: WeChatCrypto | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.aes_key:
            if not self.app_id:
                raise NotConfigured("安全模式（WECHAT_AES_KEY）还需要配置 WECHAT_APP_ID")
            object.__setattr__(self, "_crypto", WeChatCrypto(self.token, self.aes_key, self.app_id))

    @classmethod
    def from_settings(cls, settings: Settings) -> Credentials:
        token = webhook_token(settings)
        if token is None:
            raise NotConfigured("未配置公众号令牌 WECHAT_TOKEN，微信消息接口拒绝一切请求")
        return cls(token, settings.wechat_aes_key, settings.wechat_app_id)

    @property
    def safe_mode(self) -> bool:
        return self._crypto is not None

    def check(self, given: str, timestamp: str, nonce: str, *more: str) -> bool:
        """Whether `given` is the signature over token, timestamp, nonce (and `more`)."""
        return same_signature(signature(self.token, timestamp, nonce, *more), given)

    def decrypt(self, encrypt: str) -> bytes:
        """The message inside a safe-mode `Encrypt` (whose msg_signature the caller checked).
        Raises XmlInvalid when it does not open with this key and AppID."""
        try:
            return PrpCrypto(self._crypto.key).decrypt(encrypt, self.app_id).encode()
        except Exception:  # noqa: BLE001 - bad base64, padding, length or AppID: all one answer
            raise XmlInvalid("the Encrypt element does not decrypt with this account's key") from None

    def encrypt(self, xml: str, *, timestamp: str, nonce: str) -> str:
        """The safe-mode envelope (Encrypt, MsgSignature, TimeStamp, Nonce) around `xml`."""
        return self._crypto.encrypt_message(xml, nonce, timestamp)

    # ── WeChat's side: what the tests, the benchmark and the chat send ──

    def sign(self, xml: str, *, timestamp: int, nonce: str | None = None,
             openid: str | None = None) -> tuple[dict[str, str], bytes]:
        """The query string and body WeChat would POST for `xml`."""
        nonce = nonce or secrets.token_hex(8)
        query = {"signature": signature(self.token, str(timestamp), nonce), "timestamp": str(timestamp),
                 "nonce": nonce}
        if openid is not None:
            query["openid"] = openid
        if not self.safe_mode:
            return query, xml.encode()
        envelope = parse_xml(self.encrypt(xml, timestamp=str(timestamp), nonce=nonce).encode())
        encrypt = envelope["Encrypt"]
        query.update(encrypt_type="aes", msg_signature=signature(self.token, str(timestamp), nonce, encrypt))
        to = _TO_USER.search(xml)  # not parsed: tests also sign XML the service must refuse
        body = message_xml({"ToUserName": to.group(1) if to else "", "Encrypt": encrypt})
        return query, body.encode()

    def open_reply(self, body: bytes) -> dict[str, str] | None:
        """The reply's fields (MsgType, Content …), decrypted and signature-checked in safe
        mode; None for WeChat's "nothing to say" (`success` or empty)."""
        if body.strip() in (b"", b"success"):
            return None
        fields = parse_xml(body)
        if not self.safe_mode:
            return fields
        if not self.check(fields.get("MsgSignature", ""), fields.get("TimeStamp", ""), fields.get("Nonce", ""),
                          fields.get("Encrypt", "")):
            raise XmlInvalid("the reply's MsgSignature does not match")
        return parse_xml(self.decrypt(fields.get("Encrypt", "")))
