from urllib.parse import urlsplit


def is_safe_next(target: str | None) -> bool:
    """Only a path on this site: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(char) < 32 for char in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
