"""Values checked as Kubernetes and Istio check them, so a mistake is refused before anything is applied.

Each function returns "" for a good value, or the problem and a hint as "problem; hint"
(the form a pydantic validator's message is split on).
"""
from __future__ import annotations

import ipaddress
import re

MAX_INT32 = 2**31 - 1
MAX_ANNOTATIONS_BYTES = 256 * 1024  # the API server's limit on all of an object's annotations

_QUANTITY = re.compile(r"^(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
# The image reference grammar: [host[:port]/]path[:tag][@digest], path components lower case.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?|\[[0-9a-fA-F:]+\](?::\d+)?)"
_IMAGE = re.compile(rf"^(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
                    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_HOST_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def quantity(value: str) -> str:
    if _QUANTITY.match(value):
        return ""
    return (f"'{value[:40]}' is not a Kubernetes quantity; write a number with an optional unit, "
            "like 500m or 0.5 (CPU), 256Mi or 1Gi (memory)")


def image(value: str) -> str:
    if _IMAGE.match(value):
        return ""
    why = "is empty" if not value else "holds a space" if any(c.isspace() for c in value) else "is not an image reference"
    return (f"'{value[:60]}' {why}; write it like registry.example.com/team/app:1.2.3 "
            "(lower-case path, an optional tag or @sha256 digest)")


def env_name(value: str) -> str:
    if value and "=" not in value and value.isprintable() and value.isascii():
        return ""
    return (f"'{value[:40]}' is not an environment variable name; a name has no '=' (the value goes in value), "
            "printable ASCII only")


def dns_label(value: str, what: str) -> str:
    if _DNS_LABEL.match(value) and len(value) <= 63:
        return ""
    return f"{what} '{value[:70]}' is not valid; use lower-case letters, digits and '-', at most 63 characters"


def dns_subdomain(value: str, what: str) -> str:
    """Names of most objects (a ServiceAccount, a Secret) and of a host: dot-separated DNS labels."""
    if len(value) <= 253 and all(_DNS_LABEL.match(part) for part in value.split(".")):
        return ""
    return (f"{what} '{value[:70]}' is not valid; use lower-case letters, digits, '-' and '.', "
            "at most 253 characters")


def label_value(value: str) -> str:
    if value == "" or (len(value) <= 63 and _LABEL_VALUE.match(value)):
        return ""
    return f"'{value[:70]}' is not a valid label value; use letters, digits, '-', '_' and '.', at most 63 characters"


def config_key(value: str) -> str:
    """A key of a Secret or ConfigMap."""
    if len(value) <= 253 and _CONFIG_KEY.match(value) and value not in (".", ".."):
        return ""
    return (f"'{value[:60]}' is not a Secret or ConfigMap key; use letters, digits, '-', '_' and '.', "
            "at most 253 characters")


def ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return ""
    except ValueError:
        return f"'{value[:60]}' is not an IP address; write one like 10.0.0.12 or fd00::12"


def port_name(value: str) -> str:
    """IANA service names, as Kubernetes checks container and Service port names."""
    if (len(value) <= 15 and _PORT_NAME.match(value) and "--" not in value and any(c.isalpha() for c in value)):
        return ""
    return (f"port name '{value[:40]}' is not valid; at most 15 lower-case letters, digits and '-', "
            "with a letter, no '--' and no '-' at either end")


def file_mode(value: int) -> str:
    if 0 <= value <= 0o777:
        return ""
    return f"{value} is not a file mode; use 0 to 511 (0777 in octal), like 420 for 0644"


def relative_path(value: str) -> str:
    if value and not value.startswith("/") and ".." not in value.split("/"):
        return ""
    return f"'{value[:60]}' must be a relative path without '..'; it is placed under the volume's mountPath"


def sub_path(value: str) -> str:
    if not value.startswith("/") and ".." not in value.split("/"):
        return ""
    return f"'{value[:60]}' must be a relative path without '..' (Kubernetes refuses an absolute subPath)"


def absolute_path(value: str) -> str:
    if value.startswith("/"):
        return ""
    return f"'{value[:60]}' must be an absolute path, like /data"


def istio_host(value: str) -> str:
    """A Gateway or VirtualService host: a DNS name, '*' or a leading '*.' wildcard; no scheme, no port."""
    if value == "*":
        return ""
    name = value[2:] if value.startswith("*.") else value
    hint = "write a host name like shop.example.com, '*.example.com' or '*' (no scheme, port or path)"
    if "://" in value or "/" in value or ":" in value:
        return f"host '{value[:60]}' is not a host name; {hint}"
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_HOST_LABEL.match(label) and len(label) <= 63 for label in labels):
        return f"host '{value[:60]}' is not valid: '*' may only stand alone or as the first label; {hint}"
    return ""


def checked(rule, *args):
    """A pydantic AfterValidator that applies ``rule`` (value -> "" or "problem; hint")."""
    def check(value):
        problem = rule(value, *args)
        if problem:
            raise ValueError(problem)
        return value
    return check
