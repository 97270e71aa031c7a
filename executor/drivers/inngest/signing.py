"""Inngest's request and response signatures, and the Bearer tokens SDKs derive from a signing key.

A signature header is ``t=<unix seconds>&s=<hex HMAC-SHA256(key, payload + str(t))>``. For a
request the payload is the JCS-canonical body (SDKs re-canonicalise before checking, so the bytes on
the wire may be any JSON form of the same value); for a response it is the body exactly as sent.
The HMAC key is the signing key with its ``signkey-<env>-`` prefix removed, used as text — not
hex-decoded. The Bearer token an SDK sends to the API is ``sha256(hex-decoded key)`` in hex:
inngest-py sends it bare, the TypeScript and Go SDKs put the ``signkey-<env>-`` prefix back in front,
so ``bearer_token_valid`` accepts every form, as Go's server does (also the plain key itself).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from urllib.parse import parse_qs

from executor.drivers.inngest.canonical import canonicalize_bytes
from executor.errors import DurableError

_PREFIX = re.compile(r"^signkey-\w+-")
#: How old a signature may be: the Go and TypeScript SDKs allow five minutes (inngest-py does not check).
MAX_SIGNATURE_AGE_S = 300


class SignatureError(DurableError, ValueError):
    """A signature header is missing, malformed, too old, or signed with none of the keys."""


def normalize_signing_key(key: str) -> str:
    """The key without its ``signkey-<env>-`` prefix: the text every HMAC is keyed with."""
    return _PREFIX.sub("", key.strip(), count=1)


def sign_request(body: bytes, signing_key: str, now_s: int) -> str:
    """The ``X-Inngest-Signature`` value for a request body (canonicalised first when it is JSON)."""
    return sign_canonical(_canonical_or_raw(body), signing_key, now_s)


def sign_canonical(canonical_body: bytes, signing_key: str, now_s: int) -> str:
    """The same, for a body already in canonical form (what ``encode_request`` produces)."""
    return f"t={now_s}&s={_mac(signing_key, canonical_body, now_s)}"


def sign_response(body: bytes, signing_key: str, now_s: int) -> str:
    """The signature an SDK puts on its reply: over the body exactly as sent."""
    return f"t={now_s}&s={_mac(signing_key, body, now_s)}"


def verify_signature(header: str | None, body: bytes, keys: Sequence[str], *, now_s: int | None = None,
                     max_age_s: int | None = MAX_SIGNATURE_AGE_S) -> str:
    """Check a signed request; returns the key that signed it (the fallback key, maybe).

    The age is checked only when ``now_s`` is given (and ``max_age_s`` is not None); a timestamp in
    the future is accepted, as the SDKs do.
    """
    return _verify(header, _canonical_or_raw(body), keys, now_s=now_s, max_age_s=max_age_s)


def verify_response_signature(header: str | None, body: bytes, keys: Sequence[str], *, now_s: int | None = None,
                              max_age_s: int | None = MAX_SIGNATURE_AGE_S) -> str:
    """Check an SDK's signed reply: the HMAC covers the raw body (one trailing newline ignored, as Go
    does, for encoders that add one)."""
    return _verify(header, body.removesuffix(b"\n"), keys, now_s=now_s, max_age_s=max_age_s)


def hash_signing_key(key: str, *, keep_prefix: bool = False) -> str:
    """The Bearer token for SDK → API calls: sha256 of the hex-decoded key, hex; ``keep_prefix`` puts
    ``signkey-<env>-`` back in front as the TypeScript and Go SDKs send it."""
    bare = normalize_signing_key(key)
    try:
        decoded = bytes.fromhex(bare)
    except ValueError:
        raise SignatureError("a signing key must be hex after its 'signkey-<env>-' prefix "
                             f"({len(bare)} characters given); copy it from the Inngest dashboard") from None
    digest = hashlib.sha256(decoded).hexdigest()
    prefix = _PREFIX.match(key.strip())
    return (prefix.group(0) if keep_prefix and prefix else "") + digest


def bearer_token_valid(authorization: str | None, keys: Sequence[str]) -> bool:
    """Does an ``Authorization: Bearer …`` header carry one of ``keys`` (plain or hashed, with or
    without its prefix)? Compared in constant time."""
    if not authorization or not authorization.startswith("Bearer "):
        return False
    token = normalize_signing_key(authorization[len("Bearer "):])
    if not token:
        return False
    found = False
    for key in keys:
        bare = normalize_signing_key(key)
        candidates = [bare]
        try:
            candidates.append(hash_signing_key(bare))
        except SignatureError:
            pass        # a key that is not hex can only match in plain form
        for candidate in candidates:
            found |= hmac.compare_digest(token.encode(), candidate.encode())
    return found


def _mac(key: str, payload: bytes, ts: int) -> str:
    mac = hmac.new(normalize_signing_key(key).encode(), payload, hashlib.sha256)
    mac.update(str(ts).encode())
    return mac.hexdigest()


def _canonical_or_raw(body: bytes) -> bytes:
    """Inngest signs a JSON body in canonical form; an empty or non-JSON body is signed as is."""
    if not body:
        return body
    try:
        return canonicalize_bytes(body)
    except ValueError:
        return body


def _verify(header: str | None, payload: bytes, keys: Sequence[str], *, now_s: int | None,
            max_age_s: int | None) -> str:
    if not header:
        raise SignatureError("no X-Inngest-Signature header: the request is not signed")
    fields = parse_qs(header)
    stamp, signature = fields.get("t", [""])[0], fields.get("s", [""])[0]
    if not stamp or not signature:
        raise SignatureError(f"malformed X-Inngest-Signature {header!r}: expected 't=<unix seconds>&s=<hex>'")
    try:
        ts = int(stamp)
    except ValueError:
        raise SignatureError(f"malformed X-Inngest-Signature timestamp {stamp!r}: expected unix seconds") from None
    if now_s is not None and max_age_s is not None and now_s - ts > max_age_s:
        raise SignatureError(f"the signature is {now_s - ts} s old; at most {max_age_s} s is accepted "
                             "(check both clocks)")
    usable = [k for k in keys if k]
    if not usable:
        raise SignatureError("no signing key to check the signature with")
    for key in usable:
        if hmac.compare_digest(signature.encode(), _mac(key, payload, ts).encode()):
            return key
    raise SignatureError("the signature matches none of the signing keys (is the app's signing key the server's?)")
