"""`make bench`: run every bench/bench_*.py and print its figures.

Each module has `run() -> list[Figure]`. Workloads are stated in each module's docstring; run on the
machine docs/benchmarks.md names, with the embedded PostgreSQL and Redis that `make bench` starts.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-used-for-anything-real-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# The benchmarks write into throwaway databases (create_test_db); a connection pool stays bound to
# the database it first connected to, so it would write into the development database instead.
# (Web processes started by the benchmarks pool their connections: bench/common.py.)
os.environ["DATABASE_POOL"] = "false"
# A bench-only Fernet key (32 zero bytes): the bench encrypts only the secrets of keys it creates.
os.environ.setdefault("API_KEY_ENCRYPTION_KEYS", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")


def main(argv: list[str]) -> int:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # the benchmarks create their own rows in the dev database
    names = argv or sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py"))
    print(f"# {platform.python_implementation()} {platform.python_version()} on {os.cpu_count()} cores")
    print(f"{'benchmark':<44} {'value':>14}  unit")
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        started = time.perf_counter()
        for figure in module.run():
            print(f"{figure.name:<44} {figure.value:>14,.1f}  {figure.unit}", flush=True)
        print(f"  ({name}: {time.perf_counter() - started:.1f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
