"""The one way an alert leaves the process: a short POST that never holds up a sync.

A Slack incoming webhook (and Mattermost's, Discord's `/slack` endpoint, Teams' workflows)
takes `{"text": ...}`. The URL is itself a secret (it lets anyone post), so it is never logged:
errors name the setting, not the address.
"""

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

import dlt
from dagster import EnvVar

from analytics_assets.defs.resources import TOKEN_ENV
from analytics_assets.gitbook.settings import SOURCE_NAME

ALERT_WEBHOOK_ENV = "ANALYTICS_ALERT_WEBHOOK_URL"
TIMEOUT_SECONDS = 5.0
ATTEMPTS = 2  # the first try and one retry
MAX_TEXT = 3000


def _secrets() -> list[str]:
    """Values an alert must never carry, wherever a message picked them up."""
    values = [EnvVar(TOKEN_ENV).get_value()]
    # No secrets store, or an unreadable one: nothing more to hide.
    with contextlib.suppress(Exception):
        values.append(dlt.secrets.get(f"sources.{SOURCE_NAME}.access_token"))
    return [v for v in values if isinstance(v, str) and len(v) >= 8]


def redact(text: str) -> str:
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text[:MAX_TEXT]


@dataclass
class Webhook:
    """Where alerts go; `from_env()` is None when alerts are off. Once a delivery has failed,
    this object sends nothing more, so a dead receiver costs a run one timeout, not one per
    alert: runs and sensor ticks each make their own."""

    url: str = field(repr=False)
    timeout: float = TIMEOUT_SECONDS
    failed: bool = False

    @classmethod
    def from_env(cls) -> "Webhook | None":
        url = (EnvVar(ALERT_WEBHOOK_ENV).get_value() or "").strip()
        return cls(url) if url else None

    def send(self, text: str, warn: Callable[[str], None]) -> bool:
        """POST `text`; on failure retry once, then `warn` and return False. Never raises."""
        if self.failed:
            return False
        body = json.dumps({"text": redact(text)}).encode()
        problem = ""
        for _ in range(ATTEMPTS):
            request = urllib.request.Request(
                self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    answer.read()
                return True
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
            except (OSError, ValueError) as exc:  # refused, reset, timed out, bad URL
                reason = getattr(exc, "reason", exc)
                problem = type(reason).__name__ if not isinstance(reason, str) else reason
        self.failed = True
        warn(
            f"Alert not delivered: the webhook in {ALERT_WEBHOOK_ENV} failed {ATTEMPTS} times "
            f"({problem}, {self.timeout:.0f} s timeout each); this run sends no further alerts. "
            "The run goes on; check the URL and the receiver."
        )
        return False
