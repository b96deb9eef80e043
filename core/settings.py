"""One typed settings object, read from the environment and `.env`, built once at startup.

The embedded default needs nothing: an SQLite file under `./data/` and the in-process state
store. Setting `DATABASE_URL` (PostgreSQL) and `REDIS_URL` switches to production mode.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/zhangshangban.db"

INTEGRATION_PUSHES = frozenset({"identity-bindings", "licences", "application-events"})  # /integration/v1/<push>
# A sent reminder's outbox row stops it being sent again: it must outlive the longest reminder
# stage (90 days before expiry) and the planner's 7-day look-back.
MIN_OUTBOX_DAYS = 100
_ASYNC_DRIVERS = {"postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}


class SettingsError(Exception):
    """Settings that cannot be used; `lines` are one human-readable line per problem."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("; ".join(lines))


class Settings(BaseSettings):
    """Every setting the service reads. Field names are the environment variable names."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)

    wechat_token: str | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    wechat_aes_key: str | None = None  # safe mode when set
    wechat_miniapp_id: str | None = None
    wechat_miniapp_secret: str | None = None
    wechat_api_base_url: str = "https://api.weixin.qq.com/"

    integration_clients: Annotated[dict[str, str], NoDecode] = {}
    # Client id → the pushes it may make (identity-bindings, licences, application-events). Unset:
    # every client may push everything; set: only what is listed (a client left out may push nothing).
    integration_scopes: Annotated[dict[str, tuple[str, ...]] | None, NoDecode] = None
    session_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    console_session_ttl_seconds: int = Field(default=8 * 3600, ge=60)  # console staff: one shift
    hotline_datasets_dir: Path = REPO_ROOT.parent / "shared" / "datasets"  # labelled messages for category suggestion
    wechat_templates: Annotated[dict[str, str], NoDecode] = {}  # message kind → subscribe template id
    notify_channel: str = "console"  # console | wechat_subscribe
    run_workers: bool = True  # outbox delivery, reminder planning, ticket escalation, bad-rating follow-up
    bot_concurrency: int = Field(default=16, ge=1, le=1000)  # dialogue turns at once per process; the rest queue
    outbox_poll_seconds: float = Field(default=2.0, gt=0)
    demo_login: bool = False  # POST /api/v1/auth/demo-login as the demo citizen: only when set
    demo_data: bool | None = None  # default: on in embedded mode only
    migrate_on_start: bool | None = None  # default: on in embedded mode only

    # Retention (core/retention.py): days kept, 0 for ever.
    retention_outbox_days: int = Field(default=180, ge=0)  # sent notifications
    retention_handoff_days: int = Field(default=180, ge=0)  # handoffs' transcripts and replies, after the last touch
    retention_access_log_days: int = Field(default=1096, ge=0)  # three years, leap day included

    calendar_file: Path = REPO_ROOT / "config" / "calendar_overrides.yaml"
    calendar_reload_seconds: float = Field(default=30.0, gt=0)
    log_level: str = "INFO"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Reverse proxies whose X-Forwarded-For names the real caller (per-address limits count callers, not the proxy).
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    metrics_token: str | None = None  # bearer token for GET /metrics; unset: loopback only (open when embedded)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value.strip())
        except ArgumentError:
            raise ValueError(f"无法识别的数据库地址 {_without_password(value)!r}，应为 postgresql://用户@主机:端口/库名 或 "
                             "sqlite:///路径") from None
        backend = url.get_backend_name()
        if backend not in _ASYNC_DRIVERS:
            raise ValueError(f"不支持的数据库 {backend!r}，只支持 postgresql 与 sqlite")
        if backend == "postgresql" and not url.database:
            raise ValueError("PostgreSQL 地址缺少数据库名")
        return url.set(drivername=_ASYNC_DRIVERS[backend]).render_as_string(hide_password=False)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"无法识别的 Redis 地址 {_without_password(value)!r}，应为 redis://主机:端口/库号")
        return value.strip()

    @field_validator("wechat_token")
    @classmethod
    def _wechat_token(cls, value: str | None) -> str | None:
        if value and not (3 <= len(value) <= 32 and value.isascii() and value.isprintable() and " " not in value):
            raise ValueError("WECHAT_TOKEN 应为 3–32 个字符的字母、数字或符号，与微信公众平台服务器配置中的 Token 一致")
        return value or None

    @field_validator("wechat_aes_key")
    @classmethod
    def _aes_key(cls, value: str | None) -> str | None:
        if value and len(value) != 43:
            raise ValueError("WECHAT_AES_KEY 应为 43 个字符（微信公众平台的 EncodingAESKey）")
        return value or None

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if len(value.strip()) < 16 or any(c.isspace() for c in value.strip()):
            raise ValueError("METRICS_TOKEN 至少 16 个字符，且不能含空白")
        return value.strip()

    @field_validator("retention_outbox_days")
    @classmethod
    def _outbox_days(cls, value: int) -> int:
        if 0 < value < MIN_OUTBOX_DAYS:
            raise ValueError(f"应为0（永久保存）或不少于{MIN_OUTBOX_DAYS}天：已发提醒的记录用于防止重复提醒，须长于最早的提醒阶段（到期前90天）")
        return value

    @field_validator("wechat_api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("WECHAT_API_BASE_URL 应以 http:// 或 https:// 开头")
        return value if value.endswith("/") else value + "/"

    @field_validator("integration_clients", mode="before")
    @classmethod
    def _clients(cls, value: Any, info: ValidationInfo) -> Any:
        clients = _json_object(value, info, '接入方 → 共享密钥，例如 {"idp": "密钥"}')
        if any(len(str(secret)) < 16 for secret in clients.values()):
            raise ValueError("INTEGRATION_CLIENTS 中每个密钥至少 16 个字符")
        return clients

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return tuple(ip_network(part.strip()) for part in value.split(",") if part.strip())
        except ValueError:
            raise ValueError("TRUSTED_PROXIES 应为逗号分隔的 IP 地址或网段，例如 127.0.0.1,10.0.0.0/8") from None

    @field_validator("integration_scopes", mode="before")
    @classmethod
    def _scopes(cls, value: Any, info: ValidationInfo) -> Any:
        return _json_object(value, info, '接入方 → 可推送的类型列表（identity-bindings、licences、application-events），'
                                         '例如 {"elic": ["licences"]}', entry_ok=_push_list)

    @field_validator("wechat_templates", mode="before")
    @classmethod
    def _templates(cls, value: Any, info: ValidationInfo) -> Any:
        return _json_object(value, info, '消息类型 → 订阅消息模板 ID，例如 {"licence_expiry": "模板ID"}')

    @field_validator("notify_channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if value not in ("console", "wechat_subscribe"):
            raise ValueError("NOTIFY_CHANNEL 应为 console 或 wechat_subscribe")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("LOG_LEVEL 应为 DEBUG、INFO、WARNING 或 ERROR")
        return level

    @model_validator(mode="after")
    def _scoped_clients_exist(self) -> Settings:
        unknown = sorted(set(self.integration_scopes or {}) - set(self.integration_clients))
        if unknown:
            raise ValueError(f"INTEGRATION_SCOPES 中的接入方未在 INTEGRATION_CLIENTS 中登记：{'、'.join(unknown)}")
        return self

    @model_validator(mode="after")
    def _mode_defaults(self) -> Settings:
        # Frozen model: fill the mode-dependent defaults through object.__setattr__ once.
        if self.demo_data is None:
            object.__setattr__(self, "demo_data", self.embedded)
        if self.migrate_on_start is None:
            object.__setattr__(self, "migrate_on_start", self.embedded)
        return self

    @property
    def database(self) -> URL:
        return make_url(self.database_url)

    @property
    def embedded(self) -> bool:
        """True in the embedded default: SQLite file and in-process state."""
        return self.database.get_backend_name() == "sqlite"

    @property
    def safe_mode(self) -> bool:
        return self.wechat_aes_key is not None


def _without_password(url: str) -> str:
    """An address that could not be read, fit to quote in an error: everything between the
    scheme and the last "@" (user and password, whatever characters the password holds) is starred out."""
    if "@" not in url:
        return url
    credentials, _, host = url.rpartition("@")
    scheme, separator, _ = credentials.partition("//")
    return f"{scheme}{separator}***@{host}" if separator else f"***@{host}"


def _json_object(value: Any, info: ValidationInfo, shape: str,
                 entry_ok: Callable[[Any], bool] = lambda _: True) -> Any:
    """A setting that the environment gives as JSON text (code may pass the dict itself): the
    object, or the setting's default when the text is blank. Anything but an object whose values
    pass `entry_ok` is one line naming the setting and its `shape` (what maps to what, an example)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return Settings.model_fields[info.field_name].default
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    if not isinstance(value, dict) or not all(entry_ok(entry) for entry in value.values()):
        raise ValueError(f"{info.field_name.upper()} 应为 JSON 对象，{shape}")
    return value


def _push_list(pushes: Any) -> bool:
    return isinstance(pushes, list) and all(isinstance(push, str) and push in INTEGRATION_PUSHES for push in pushes)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; raise SettingsError with one line per bad value."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]).upper() or "SETTINGS"
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"配置错误 {name}: {message}")
        raise SettingsError(lines) from None
