"""A fake API server reached the way a pod reaches its cluster: HTTPS signed by the cluster CA, a ServiceAccount
token, CA and namespace files laid out as the kubelet mounts them, KUBERNETES_SERVICE_HOST/PORT set."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.kubernetes.fakeapi import FakeCluster, serve
from tests.tls import self_signed_certificate


@contextmanager
def in_cluster_api(
    tmp_path: Path, monkeypatch: Any, token: str, role_namespaces: frozenset[str] | None = None
) -> Iterator[tuple[FakeCluster, Path]]:
    """The fake cluster (requests must carry ``token``; with ``role_namespaces``, 403 outside them) and the
    ServiceAccount directory to give ``collect_kubernetes --service-account-dir``."""
    cert, key = self_signed_certificate(tmp_path, "kube-apiserver")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    cluster = FakeCluster(bookmark_interval=0.3)
    cluster.token = token
    cluster.role_namespaces = role_namespaces
    server = serve(cluster, tls=tls)
    try:
        sa = tmp_path / "serviceaccount"
        sa.mkdir()
        (sa / "token").write_text(token)
        (sa / "ca.crt").write_bytes(cert.read_bytes())
        (sa / "namespace").write_text("changetrack")
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.server_address[1]))
        yield cluster, sa
    finally:
        server.shutdown()
        server.server_close()
