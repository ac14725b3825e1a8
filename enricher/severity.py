"""Severity levels as logs spell them, mapped to four classes: INFO, WARNING, ERROR, CRITICAL."""

from __future__ import annotations

# Level spellings seen in real logs (Loghub's README, syslog, Java/Python/Go loggers).
SEVERITY_ALIASES = {
    "I": "INFO", "D": "INFO", "V": "INFO", "INFO": "INFO", "NOTICE": "INFO", "DEBUG": "INFO",
    "TRACE": "INFO", "VERBOSE": "INFO", "INFORMATION": "INFO", "INFORMATIONAL": "INFO",
    "W": "WARNING", "WARN": "WARNING", "WARNING": "WARNING",
    "E": "ERROR", "ERROR": "ERROR", "ERR": "ERROR", "SEVERE": "ERROR",
    "F": "CRITICAL", "FATAL": "CRITICAL", "CRITICAL": "CRITICAL", "CRIT": "CRITICAL",
    "ALERT": "CRITICAL", "EMERG": "CRITICAL", "EMERGENCY": "CRITICAL", "PANIC": "CRITICAL",
}  # fmt: skip


def normalize_severity(level: str) -> str:
    """Map a level spelling to its class; unknown spellings are returned stripped, so custom label sets pass through."""
    level = level.strip()
    return SEVERITY_ALIASES.get(level.upper(), level)
