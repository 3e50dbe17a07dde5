"""Settings of the messengers: Telegram, WeCom / 政务微信, DingTalk, Feishu / Lark
(JIANXUE_TELEGRAM__*, JIANXUE_WECOM__*, JIANXUE_DINGTALK__*, JIANXUE_FEISHU__*)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from assistant.config_base import Section
from assistant.errors import ConfigError


class TelegramSettings(Section):
    token: SecretStr | None = Field(None, description="The bot's token from @BotFather.")
    base_url: str = Field(
        "https://api.telegram.org/bot",
        description="Bot API base URL, the token appended (a local Bot API server or a test double otherwise).",
    )
    webhook_url: str | None = Field(
        None, description="Public HTTPS URL Telegram posts updates to; empty polls for updates instead."
    )
    webhook_secret: SecretStr | None = Field(
        None, description="secret_token Telegram sends with every webhook update; required with webhook_url."
    )
    listen: str = Field("127.0.0.1", description="Address the webhook server listens on (behind your proxy).")
    port: int = Field(8443, ge=1, le=65535, description="Port the webhook server listens on.")
    edit_interval_s: float = Field(
        1.5, ge=0.5, le=30, description="Seconds between edits of a message while a model writes the answer."
    )
    pairing_hours: float = Field(72, gt=0, description="How long a pairing code made by `jianxue bot pair` stays valid.")
    nudge_hours: float = Field(
        24, ge=0, description="Members with reviews due are reminded at most this often; 0 never reminds."
    )


class WecomSettings(Section):
    """The WeCom (企业微信) or 政务微信 self-built application: every value as the admin console shows it."""

    corp_id: str = Field("", description="The organisation's CorpID (我的企业 → 企业信息 → 企业ID); also the "
                         "receive id inside every callback.")
    agent_id: int = Field(0, ge=0, description="The self-built application's AgentId (应用管理 → 自建 → the application).")
    secret: SecretStr | None = Field(None, description="The application's Secret, exchanged for the access token.")
    token: SecretStr | None = Field(None, description="Token of the callback (接收消息 → 设置API接收); signs every callback.")
    aes_key: SecretStr | None = Field(
        None, description="EncodingAESKey of the callback: the 43 characters the console shows.")
    api_base_url: str = Field(
        "https://qyapi.weixin.qq.com",
        description="Where the server API lives: WeCom's public API, or the address of a private deployment such "
        "as 政务微信 (its /cgi-bin/... paths are appended).")
    listen: str = Field("127.0.0.1", description="Address the callback server listens on (behind your HTTPS proxy).")
    port: int = Field(8090, ge=1, le=65535, description="Port the callback server listens on.")
    path: str = Field("/wecom", description="URL path of the callback; the console's URL is "
                      "https://<your host><path>.")
    max_clock_skew_s: int = Field(
        300, ge=30, le=3600, description="A callback whose timestamp is further than this from our clock is refused.")
    timeout_s: float = Field(10, gt=0, le=120, description="Seconds before one API request is given up.")
    max_retries: int = Field(3, ge=0, le=8, description="Retries of an API call that failed for a passing reason "
                             "(busy, 5xx, rate limit, network), with backoff.")
    directory_cache_s: int = Field(600, ge=0, description="How long a member's department ids read from the "
                                   "directory (user/get) are reused; 0 reads them for every message.")
    markdown: bool = Field(False, description="Send answers as markdown messages; off because the WeChat plugin "
                           "(微信插件) cannot show markdown.")
    workers: int = Field(8, ge=1, le=64, description="Messages handled at once (one chat's in the order they came); "
                         "the callback itself is answered at once anyway.")
    nudge_hours: float = Field(
        24, ge=0, description="Members with reviews due are reminded at most this often; 0 never reminds.")

    @field_validator("path")
    @classmethod
    def _path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("the callback path starts with '/', e.g. /wecom")
        return value

    @field_validator("api_base_url")
    @classmethod
    def _api_is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("the API address starts with http:// or https://")
        return value.rstrip("/")

class DingtalkSettings(Section):
    """The DingTalk (钉钉) robot in Stream mode; values from the developer console (open-dev.dingtalk.com)."""

    client_id: str = Field("", description="The application's Client ID (formerly AppKey), 凭证与基础信息 page.")
    client_secret: SecretStr | None = Field(None, description="The application's Client Secret (formerly AppSecret).")
    endpoint: str = Field(
        "https://api.dingtalk.com", description="The OpenAPI address (Stream gateway, access token, robot and card "
        "APIs): DingTalk's public one or a private deployment's; the SDK gets it through DINGTALK_OPENAPI_ENDPOINT.")
    oapi_endpoint: str = Field(
        "https://oapi.dingtalk.com", description="The older server API address (public or a private deployment's), "
        "where a member's department ids are read (topapi/v2/user/get).")
    robot_code: str = Field("", description="The robot's RobotCode; empty uses the Client ID, which it is for an "
                            "organisation's own (企业内部) application.")
    card_template_id: str = Field(
        "", description="Id of an interactive card template (卡片平台, callbacks over Stream) for buttons and quiz "
        "options: string variables 'title' and 'markdown', and 'buttons', a JSON list of {\"text\", \"action\"} "
        "whose button sends its 'action' as a request parameter. Empty: quiz options as lettered text, other "
        "buttons as links that send '#<action>'.")
    text_limit: int = Field(3800, ge=100, le=20000, description="Characters in one text message (a cautious "
                            "figure); longer replies are split at sentence ends, [n] labels kept with their sentence.")
    webhook_margin_s: float = Field(60, ge=0, le=3600, description="Replies go through the delivery's "
                                    "sessionWebhook unless it expires within this; then through the robot API.")
    max_delivery_age_s: int = Field(3600, ge=60, description="A robot message created longer ago is ignored as stale.")
    directory_departments: bool = Field(True, description="Read each sender's department ids from the directory "
                                        "(needs 通讯录 read permission): what `jianxue bot map-dept` maps.")
    directory_cache_s: int = Field(600, ge=0, description="Seconds a member's department ids are reused; 0 reads "
                                   "them for every message.")
    timeout_s: float = Field(10, gt=0, le=120, description="Seconds before one API request is given up.")
    max_retries: int = Field(3, ge=0, le=8, description="Retries of an API call failing for a passing reason (5xx, "
                             "rate limit, busy, network).")
    retry_base_s: float = Field(0.5, gt=0, le=30, description="First backoff between retries; doubled each time.")
    workers: int = Field(8, ge=1, le=64, description="Deliveries handled at once (one chat's always in turn).")
    nudge_hours: float = Field(24, ge=0, description="Members with reviews due are reminded at most this often; "
                               "0 never reminds.")

    @field_validator("endpoint", "oapi_endpoint")
    @classmethod
    def _is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("the address starts with http:// or https://")
        return value.rstrip("/")

    @property
    def robot(self) -> str:
        return self.robot_code or self.client_id

    def check(self) -> None:
        """Names the setting to fix before anything starts."""
        missing = [name for name, value in (("CLIENT_ID", self.client_id.strip()), ("CLIENT_SECRET", (
            self.client_secret.get_secret_value().strip() if self.client_secret else ""))) if not value]
        if missing:
            raise ConfigError(f"set {' and '.join('JIANXUE_DINGTALK__' + m for m in missing)} (the application's "
                              "凭证与基础信息 page in the DingTalk developer console)")


FEISHU_DOMAINS = {"feishu": "https://open.feishu.cn", "lark": "https://open.larksuite.com"}


class FeishuSettings(Section):
    """The Feishu (飞书) / Lark self-built application's bot; values from the developer console
    (open.feishu.cn/app, or open.larksuite.com/app for Lark)."""

    app_id: str = Field("", description="The application's App ID (凭证与基础信息 page), cli_...")
    app_secret: SecretStr | None = Field(None, description="The application's App Secret, exchanged for the "
                                         "tenant_access_token.")
    domain: str = Field("feishu", description="Where the open platform lives: 'feishu' (open.feishu.cn), 'lark' "
                        "(open.larksuite.com) or the https:// address of a private deployment (its /open-apis/... "
                        "paths are appended).")
    mode: Literal["webhook", "ws"] = Field("webhook", description="How events arrive: 'webhook' (Feishu posts to "
                                           "https://<your host><path>) or 'ws' (the long connection the application "
                                           "opens itself; no public URL needed).")
    encrypt_key: SecretStr | None = Field(None, description="Encrypt Key of 事件与回调 → 加密策略: events arrive "
                                          "AES-encrypted and signed (X-Lark-Signature); required for webhook mode.")
    verification_token: SecretStr | None = Field(None, description="Verification Token of 事件与回调 → 加密策略: "
                                                 "every webhook event carries it; required for webhook mode.")
    listen: str = Field("127.0.0.1", description="Address the webhook server listens on (behind your HTTPS proxy).")
    port: int = Field(8091, ge=1, le=65535, description="Port the webhook server listens on.")
    path: str = Field("/feishu", description="URL path of the webhook; the console's request URL (事件配置 and "
                      "回调配置) is https://<your host><path>.")
    text_limit: int = Field(4000, ge=100, le=30000, description="Characters in one text message (Feishu takes up to "
                            "150 KB of request body; shorter reads better); longer replies are split at sentence ends, "
                            "[n] labels kept with their sentence.")
    max_event_age_s: int = Field(3600, ge=60, description="A message event created longer ago is ignored as stale.")
    directory_departments: bool = Field(True, description="Read each sender's department ids from the contact API "
                                        "(needs contact:user.department:readonly): what `jianxue bot map-dept` maps.")
    directory_cache_s: int = Field(600, ge=0, description="Seconds a member's department ids are reused; 0 reads "
                                   "them for every message.")
    department_id_type: Literal["department_id", "open_department_id"] = Field(
        "department_id", description="Which department ids `jianxue bot map-dept --channel feishu` maps: "
        "department_id (the 部门ID of 管理后台 → 组织架构) or open_department_id (od-...).")
    timeout_s: float = Field(10, gt=0, le=120, description="Seconds before one API request is given up.")
    max_retries: int = Field(3, ge=0, le=8, description="Retries of an API call failing for a passing reason (5xx, "
                             "rate limit, busy, network), with backoff.")
    retry_base_s: float = Field(0.5, gt=0, le=30, description="First backoff between retries; doubled each time.")
    workers: int = Field(8, ge=1, le=64, description="Deliveries handled at once (one chat's always in turn).")
    nudge_hours: float = Field(24, ge=0, description="Members with reviews due are reminded at most this often; "
                               "0 never reminds.")

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in FEISHU_DOMAINS:
            return value.lower()
        if not value.startswith(("http://", "https://")):
            raise ValueError("the domain is 'feishu', 'lark' or an address starting with http:// or https://")
        return value.rstrip("/")

    @field_validator("path")
    @classmethod
    def _path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("the webhook path starts with '/', e.g. /feishu")
        return value

    @property
    def base_url(self) -> str:
        """The open platform's address, as lark-oapi takes it as ``domain``."""
        return FEISHU_DOMAINS.get(self.domain, self.domain)

    def check(self) -> None:
        """Names every setting to fix before anything starts."""
        given = {"APP_ID": self.app_id.strip(), "APP_SECRET": _secret(self.app_secret)}
        if self.mode == "webhook":
            given |= {"ENCRYPT_KEY": _secret(self.encrypt_key), "VERIFICATION_TOKEN": _secret(self.verification_token)}
        missing = [f"JIANXUE_FEISHU__{name}" for name, value in given.items() if not value]
        if missing:
            raise ConfigError(f"set {', '.join(missing)}: the application's values from the Feishu developer console "
                              "(see the README's Feishu section)")


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value().strip() if value is not None else ""
