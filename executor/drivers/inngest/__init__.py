"""Inngest's HTTP protocol, pure: what the Go executor and dev server send to an SDK app and how they
read its replies, so the HTTP driver and the dev-server endpoints only move bytes.

- ``request``: an ``InvocationRequest`` as the JCS body, headers and URL of one execution request.
- ``response``: an SDK's reply (200, 206 ops, 201 streamed, errors) as an ``InvocationResult``.
- ``wire``: header names, limits, one op off the wire (``op_from_wire``).
- ``signing``: request/response signatures, key normalisation, Bearer tokens.
- ``sync``: a ``/fn/register`` body as an ``AppSync`` of function specs; the reply.
- ``inband``: server-initiated syncs (in-band or out of band) and introspection GETs.
- ``canonical``: RFC 8785 JSON, the form bodies are sent and signed in.

Nothing here does I/O, reads a clock or touches the engine: times come in as arguments.
"""

from executor.drivers.inngest.canonical import canonical_json
from executor.drivers.inngest.inband import (Introspection, SyncReply, introspection_request, parse_introspection,
                                             parse_sync_reply, sync_request)
from executor.drivers.inngest.request import (EncodedRequest, build_request_body, encode_request, request_headers,
                                              request_url)
from executor.drivers.inngest.response import parse_response, parse_retry_after, unwrap_stream
from executor.drivers.inngest.signing import (SignatureError, bearer_token_valid, hash_signing_key,
                                              normalize_signing_key, sign_request, verify_response_signature,
                                              verify_signature)
from executor.drivers.inngest.sync import (AppSync, SyncedFunction, SyncError, app_uuid, parse_register_body,
                                           register_reply, server_kind_mismatch)
from executor.drivers.inngest.wire import WireError, op_from_wire

__all__ = [
    "AppSync", "EncodedRequest", "Introspection", "SignatureError", "SyncError", "SyncReply", "SyncedFunction",
    "WireError", "app_uuid", "bearer_token_valid", "build_request_body", "canonical_json", "encode_request",
    "hash_signing_key", "introspection_request", "normalize_signing_key", "op_from_wire", "parse_introspection",
    "parse_register_body", "parse_response", "parse_retry_after", "parse_sync_reply", "register_reply",
    "request_headers", "request_url", "server_kind_mismatch", "sign_request", "sync_request", "unwrap_stream",
    "verify_response_signature", "verify_signature",
]
