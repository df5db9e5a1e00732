"""The one scrubber: credentials become keyed hashes before anything is stored, whatever the source.

A value is replaced by ``hmac-sha256:<16 hex>`` (``keyed_hash``), so the same secret always hashes the same and a
rotated one shows up as a change with a diff, while nothing is recoverable without the key. What counts as a
credential:

- the value of a key whose name looks like one (``password``, ``DB_PASSWD``, ``apiKey``, ``AWS_SECRET_ACCESS_KEY``,
  ``client-secret``, ``auth``, ``dsn``...: case- and separator-insensitive), and the ``value``/``before``/``after``
  of a ``{"name": <such a name>, ...}`` pair (Kubernetes env entries, Jenkins parameters, diff entries);
- inside any string: URL userinfo (``postgres://app:<hash>@db/app``), ``NAME=value`` and ``name: value`` pairs
  with such a name (env values, query strings, ``application.properties``, ``.env``, YAML, JSON bodies in a
  ConfigMap), ``--flag=value`` and ``--flag value`` container arguments, and ``Bearer``/``Basic`` credentials;
- inside any string, whatever surrounds them, credentials known by their shape: AWS access key ids
  (``AKIA``/``ASIA``), GitHub (``ghp_``, ``gho_``, ``github_pat_``...) and GitLab (``glpat-``) tokens, Slack tokens
  (``xoxb-``...), JWTs, private key PEM blocks, Google API keys (``AIza``), Stripe secret keys (``sk_live_``), Slack
  and Discord incoming-webhook URLs (their path); and
  ``-H 'X-Api-Key: value'`` header arguments;
- in a list of arguments, the item after a credential-named ``--flag``; in a ``[name, value]`` pair (headers as a
  list of pairs), the value when the name is a credential's header-style name (``X-Api-Key``, ``Authorization``).

Hand-written rather than detect-secrets' plugins: those detect (a line at a time, under process-wide settings)
rather than replace, their entropy plugins flag git SHAs and image digests (which must stay readable), and the
token formats they know are the one-line patterns below.

Pure (no Django): integrations' translation can use it, and ``changetrack.ingest.scrubbing`` applies it to every
record and raw delivery with a key derived from ``SECRET_KEY``. Scrubbing is idempotent (a hash is never hashed
again), and it returns the very same object when nothing needed scrubbing, so the common case costs one walk.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from functools import lru_cache
from typing import Any

HASH_PREFIX = "hmac-sha256:"
_HASH = re.compile(r"hmac-sha256:[0-9a-f]{16}")


def keyed_hash(value: str | bytes, key: bytes) -> str:
    """``hmac-sha256:<16 hex>``: equal values compare equal, nothing is recoverable without the key."""
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    return HASH_PREFIX + hmac.new(key, data, hashlib.sha256).hexdigest()[:16]


# --- which names are credentials ----------------------------------------------------------------------------

_WORDS = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_SECRET_WORDS = frozenset(
    {
        "pass", "passwd", "password", "passwords", "pwd", "passphrase", "secret", "secrets", "token", "tokens",
        "auth", "authorization", "credential", "credentials", "creds", "dsn", "cookie", "apikey", "privatekey",
        "accesskey", "secretkey", "signingkey", "sessionkey", "bearer",
    }
)  # fmt: skip
_SECRET_PAIRS = frozenset(
    {
        ("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"), ("signing", "key"),
        ("session", "key"), ("webhook", "key"), ("master", "key"), ("encryption", "key"), ("account", "key"),
        ("client", "secret"), ("shared", "key"), ("license", "key"), ("deploy", "key"), ("ssh", "key"),
        ("routing", "key"), ("integration", "key"),
    }
)  # fmt: skip
_SECRET_PARTS = ("password", "passwd", "secret", "credential", "apikey", "privatekey", "accesskey")
#: a name ending in one of these describes a credential (its name, where it is, when it expires), not its value:
#: ``secretKeyRef``, ``token_url``, ``password_changed_at``, ``secret_name`` stay readable
_ABOUT_WORDS = frozenset(
    {
        "name", "names", "ref", "refs", "id", "ids", "url", "uri", "urls", "path", "paths", "file", "type", "kind",
        "count", "length", "expiry", "expires", "expiration", "at", "enabled", "set", "hash", "version", "header",
        "scope", "scopes", "rotated", "rotation", "prefix", "policy", "field", "required", "provider", "endpoint",
        "ttl", "age", "mode", "method", "source", "sources", "hint", "format", "store", "backend", "arn",
    }
)  # fmt: skip


@lru_cache(maxsize=4096)  # a few hundred distinct names in practice; bounded against a sender inventing names
def is_credential_name(name: str) -> bool:
    """Whether a key/parameter/header/flag named ``name`` holds a credential."""
    words = [w.lower() for w in _WORDS.split(name) if w]
    if not words or words[-1] in _ABOUT_WORDS:
        return False
    if any(w in _SECRET_WORDS for w in words) or any(p in _SECRET_PAIRS for p in zip(words, words[1:], strict=False)):
        return True
    joined = "".join(words)
    return any(part in joined for part in _SECRET_PARTS)


def _kept_as_is(value: str) -> bool:
    """Values that are no secret: empty, already a hash, a reference (``${DB_PASSWORD}``, ``{{ .token }}``), a
    placeholder (``<redacted>``, ``****``, ``(set)``)."""
    v = value.strip()
    return (
        not v
        or bool(_HASH.fullmatch(v))
        or v[0] in "$<"
        or v.startswith("{{")
        or set(v) == {"*"}
        or (v[0] == "(" and v[-1] == ")")
    )


def _hash_value(value: str, key: bytes) -> str:
    return value if _kept_as_is(value) else keyed_hash(value, key)


# --- credentials inside strings -------------------------------------------------------------------------------

#: cheap first look: a string with none of these cannot hold anything the patterns below replace (substring tests
#: of the lowered text: several times faster than one case-insensitive regex, and most strings stop here)
_HINTS = ("pass", "pwd", "secret", "token", "key", "auth", "cred", "dsn", "cookie", "bearer", "basic", "@")
#: the token formats' prefixes (``_TOKEN``): one search of a string at least as long as the shortest of them (a
#: Slack token's 15 characters) is the cheap first look for those
_TOKEN_HINT = re.compile(
    r"AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|xox|eyJ|-----BEGIN|AIza|k_live_|k_test_|hooks\.slack|/api/webhooks/"
)
SHORTEST_TOKEN = 15
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^\s/?#@:\"'<>]*)(?::([^\s/?#@\"'<>]*))?@")
_VALUE = r"""(?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|(?:Bearer|Basic|Token)\s+[^\s&;,"']+|[^\s&;,"'{}\[\]]+)"""
#: NAME=value, --flag=value, ?token=value&
_ASSIGN = re.compile(r"(?<![\w.\-])-{0,2}(?P<name>[A-Za-z_][\w.\-]*)=" + _VALUE)
#: "name": "value" (JSON)
_QUOTED_PAIR = re.compile(r"""(?P<q>["'])(?P<name>[A-Za-z_][\w.\-]*)(?P=q)[ \t]*:[ \t]*""" + _VALUE)
#: name: value starting a line (YAML, properties, headers). At a line start only, so prose such as "Deploy auth: v2"
#: keeps its words; the space after the colon is required, so LaunchDarkly's actor "token:deploy-bot" (a token's
#: name) is not taken for a token
_COLON = re.compile(r"(?m)^[ \t]*(?:-[ \t]+)?(?P<name>[A-Za-z_][\w.\-]*)[ \t]*:[ \t]+" + _VALUE)
#: --flag value
_FLAG = re.compile(r"""(?<![\w-])--(?P<name>[A-Za-z][\w.\-]*)[ \t]+(?P<value>"[^"]*"|'[^']*'|[^\s\-"'][^\s]*)""")
#: curl's -H 'X-Api-Key: value' (a header in an argument, not at a line start)
_HEADER_ARG = re.compile(
    r"""(?:^|\s)(?:-H|--header)[ \t]*=?[ \t]*["']?(?P<name>[A-Za-z][\w.\-]*)[ \t]*:[ \t]*"""
    r"""(?P<value>(?:(?:Bearer|Basic|Token)[ \t]+)?[^\s"']+)"""
)
#: credentials known by their shape, wherever they sit (each vendor's documented format)
_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(?:A(?:KIA|SIA)[A-Z0-9]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}"  # GitHub
    r"|glpat-[A-Za-z0-9_\-]{20,}"  # GitLab personal access token
    r"|xox[abeprs]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"  # JWT: base64url '{"' header and payload
    r"|AIza[0-9A-Za-z_\-]{35}"  # Google API key
    r"|[sr]k_(?:live|test)_[0-9A-Za-z]{16,}"  # Stripe secret and restricted keys
    # incoming-webhook URLs are credentials (whoever has one posts to the channel): the path after the host
    r"|(?<=hooks\.slack\.com/services/)T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]{16,}"  # Slack
    r"|(?<=hooks\.slack\.com/workflows/)[A-Za-z0-9]+/[A-Za-z0-9]+/[0-9]+/[A-Za-z0-9]{16,}"  # Slack workflows
    r"|(?<=/api/webhooks/)[0-9]{15,}/[A-Za-z0-9_\-]{30,})"  # Discord
    r"(?![A-Za-z0-9])"
    # a private key's body (the BEGIN/END lines stay, to say what was there); a cut-off block to the end
    r"|(?<=-----BEGIN )(?P<pem>(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)(?P<body>.*?)(?=-----END |\Z)",
    re.DOTALL,
)
_BEARER = re.compile(r"\b(?P<scheme>Bearer|Basic)[ \t]+(?P<value>[A-Za-z0-9._~+/:\-]{8,}=*)")
#: a user with no password in a URL is a token when it is this long (``https://<token>@github.com``)
TOKEN_USER_LENGTH = 20


def scrub_text(text: str, key: bytes) -> str:
    """``text`` with every credential it carries (see the module docstring) replaced by its keyed hash."""
    if not _may_hold_credential(text):
        return text if not _may_hold_token(text) else _TOKEN.sub(lambda m: _token(m, key), text)
    stripped = text.strip()
    if stripped[:1] in "{[" and len(stripped) > 1:
        embedded = _scrub_embedded_json(text, key)
        if embedded is not None:
            return embedded
    out = _USERINFO.sub(lambda m: _userinfo(m, key), text)
    for pattern in (_ASSIGN, _QUOTED_PAIR, _COLON, _FLAG):
        out = pattern.sub(lambda m: _named(m, key), out)
    if "-H" in out or "--header" in out:
        out = _HEADER_ARG.sub(lambda m: _named(m, key), out)
    out = _BEARER.sub(lambda m: f"{m['scheme']} {_hash_value(m['value'], key)}", out)
    return _TOKEN.sub(lambda m: _token(m, key), out) if _may_hold_token(out) else out


def _may_hold_credential(text: str) -> bool:
    lowered = text.lower()
    for hint in _HINTS:  # a loop, not any(<generator>): this runs for every string of every record
        if hint in lowered:
            return True
    return False


def _may_hold_token(text: str) -> bool:
    return len(text) >= SHORTEST_TOKEN and _TOKEN_HINT.search(text) is not None


def _token(m: re.Match[str], key: bytes) -> str:
    if m["pem"] is None:
        return keyed_hash(m[0], key)
    body = m["body"].strip()
    return m["pem"] + (f"\n{_hash_value(body, key)}\n" if body else m["body"])


def _scrub_embedded_json(text: str, key: bytes) -> str | None:
    """A JSON document held in a string (a ConfigMap's ``config.json``): scrubbed as data, None if not JSON."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    scrubbed = scrub_value(parsed, key)
    return text if scrubbed is parsed else json.dumps(scrubbed, indent=2 if "\n" in text else None)


def _userinfo(m: re.Match[str], key: bytes) -> str:
    scheme, user, password = m[1], m[2], m[3]
    if password is not None:
        return f"{scheme}{user}:{_hash_value(password, key)}@" if password else m[0]
    if len(user) >= TOKEN_USER_LENGTH:
        return f"{scheme}{_hash_value(user, key)}@"
    return m[0]


def _named(m: re.Match[str], key: bytes) -> str:
    if not is_credential_name(m["name"]):
        return m[0]
    value = m["value"]
    quote = value[0] if value[:1] in "\"'" and len(value) >= 2 and value[-1] == value[0] else ""
    inner = value[1:-1] if quote else value
    scheme = re.match(r"(Bearer|Basic|Token)\s+", inner)
    if scheme:
        hashed = scheme[0] + _hash_value(inner[scheme.end() :], key)
    else:
        hashed = _hash_value(inner, key)
    start = m.start("value") - m.start()
    return m[0][:start] + quote + hashed + quote


# --- credentials in data ------------------------------------------------------------------------------------

#: ``{"name": "DB_PASSWORD", "value": ...}``: the pair's name says what its value is
_PAIR_NAMES = ("name", "key", "parameter", "param", "path", "variable", "header")
_PAIR_VALUES = ("value", "before", "after", "default", "defaultValue", "old", "new", "from", "to")


def scrub_value(value: Any, key: bytes, secret: bool = False) -> Any:
    """``value`` (decoded JSON: dicts, lists, tuples, strings, numbers) with its credentials replaced by keyed
    hashes. ``secret``: a string (or list of strings) is a credential (it sits under a credential-named key); an
    object there is read by its own keys, since it describes the credential (LaunchDarkly's ``token`` is
    ``{"name": "deploy-bot", ...}``) more often than it is one. Returns ``value`` itself when nothing was replaced."""
    if isinstance(value, str):
        return _hash_value(value, key) if secret else scrub_text(value, key)
    if isinstance(value, dict):
        return _scrub_dict(value, key)
    if isinstance(value, (list, tuple)):
        return _scrub_sequence(value, key, secret)
    return value


def _scrub_dict(value: dict[Any, Any], key: bytes) -> dict[Any, Any]:
    pair_secret = _names_a_credential(value)
    out: dict[Any, Any] | None = None
    for k, v in value.items():
        inner = (isinstance(k, str) and is_credential_name(k)) or (pair_secret and k in _PAIR_VALUES)
        new = scrub_value(v, key, inner)
        if new is not v:
            if out is None:
                out = dict(value)
            out[k] = new
    return value if out is None else out


def _names_a_credential(value: dict[Any, Any]) -> bool:
    for field in _PAIR_NAMES:
        name = value.get(field)
        if isinstance(name, str) and name:
            # a diff entry's path ends in the name: "containers.web.env.DB_PASSWORD"
            return is_credential_name(re.split(r"[./\[\]]", name.rstrip("]"))[-1] or name)
    return False


def _scrub_sequence(value: list[Any] | tuple[Any, ...], key: bytes, secret: bool) -> Any:
    out: list[Any] | None = None
    after_flag = False
    pair = len(value) == 2 and isinstance(value[0], str) and _is_credential_header(value[0])
    for i, item in enumerate(value):
        new = scrub_value(item, key, secret or after_flag or (pair and i == 1))
        after_flag = isinstance(item, str) and _is_credential_flag(item)
        if new is not item:
            if out is None:
                out = list(value)
            out[i] = new
    if out is None:
        return value
    return tuple(out) if isinstance(value, tuple) else out


def _is_credential_flag(arg: str) -> bool:
    """``--db-pass`` (its value is the next argument), not ``--db-pass=x`` (scrubbed as text)."""
    return arg.startswith("-") and "=" not in arg and " " not in arg and is_credential_name(arg.lstrip("-"))


def _is_credential_header(name: str) -> bool:
    """A ``[name, value]`` pair's name that says its value is a credential: header-style (``X-Api-Key``,
    ``Authorization``, ``api_key``), not a lowercase word, which in a two-item list is more often a tag
    (``["auth", "payments"]``) than a name."""
    return not name.startswith("-") and not (name.isalpha() and name.islower()) and is_credential_name(name)
