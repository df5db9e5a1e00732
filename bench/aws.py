"""AWS deliveries: what checking one costs in the receiver, SNS signatures (versions 1 and 2, certificate cached)
next to the EventBridge API-key check (a hashed secret compared), the baseline measured in the same run.

``python -m bench aws [--quick]``. Pure CPU: no database, no network (the certificate source is an in-memory one,
as the receiver's cache is after the first delivery).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changetrack.settings")


def _per_call(label: str, call: Callable[[], None], n: int, baseline: float | None = None) -> float:
    call()  # warm
    started = time.perf_counter()
    for _ in range(n):
        call()
    each = (time.perf_counter() - started) / n
    ratio = f"  ({each / baseline:.1f}x the baseline)" if baseline else "  (baseline)"
    print(f"{label:<46} {each * 1e6:9.1f} µs/delivery{ratio}", flush=True)
    return each


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench aws", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 deliveries per case instead of 5000")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    n = 500 if args.quick else 5000

    import django

    django.setup()
    from changetrack.models.deliveries import SecretStore, hash_secret
    from integrations.aws import AwsIntegration, sns
    from tests.integrations.aws.sns_server import TOPIC, FakeSns, body_of, headers_of

    aws = AwsIntegration()
    body = (Path(__file__).resolve().parent.parent / "tests/integrations/aws/fixtures/put_parameter.json").read_bytes()
    store = SecretStore({}, {"api_key": hash_secret("bench-key")})
    fake = FakeSns(Path(tempfile.mkdtemp(prefix="ct-bench-aws-")))
    try:
        sns.use_certificates(lambda url: fake.certificate, lambda url: None)
        config = {"sns_topic_arns": TOPIC}
        base = _per_call(
            "EventBridge API key (hashed, constant time)",
            lambda: aws.verify_request({"x-api-key": "bench-key"}, body, store, {}),
            n,
        )
        for version in ("1", "2"):
            message = fake.message("Notification", body.decode(), version=version)
            raw, headers = body_of(message), headers_of(message)
            _per_call(
                f"SNS signature version {version} (cached certificate)",
                lambda raw=raw, headers=headers: aws.verify_request(headers, raw, store, config),
                n,
                base,
            )
    finally:
        fake.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
