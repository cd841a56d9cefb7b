"""Fuzz the Q.931 parser and the whole stack behind it (not collected by pytest).

    python3 tests/isdn/fuzz_q931.py --runs 1000000 [--role cpe|network] [--corpus DIR]

Uses atheris (coverage-guided, libFuzzer) when it is installed, else hypothesis at scale.
Seeds come from tests/isdn/corpus/; with atheris, new interesting inputs are written to
`--corpus` (default: a temporary directory); `-merge=1` into tests/isdn/corpus keeps a small
regression set (replayed by tests/isdn/test_fuzz.py). Prints inputs run and elapsed time.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

CORPUS = HERE / "corpus"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--corpus", help="where atheris writes new inputs")
    ap.add_argument("--role", choices=("cpe", "network"), default="cpe", help="our stack's side")
    ap.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    ap.add_argument("libfuzzer_args", nargs="*", help="extra libFuzzer flags (after --)")
    args = ap.parse_args()
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    if engine == "atheris":
        import atheris

        with atheris.instrument_imports(include=["firmware.isdn"]):
            from tests.isdn.fuzz_target import FuzzTarget
    else:
        from tests.isdn.fuzz_target import FuzzTarget
    target = FuzzTarget(args.role)
    t0 = time.perf_counter()

    def report() -> None:
        dt = time.perf_counter() - t0
        print(
            f"fuzz_q931: {target.inputs} inputs in {dt:.1f} s "
            f"({target.inputs / dt:.0f}/s), {target.resets} stack resets, "
            f"counters seen: {len(target.stack.counters)} kinds",
            flush=True,
        )

    if engine == "atheris":
        out = args.corpus or tempfile.mkdtemp(prefix="q931-corpus-")
        atexit.register(report)

        def progress(data: bytes) -> None:
            target(data)
            if target.inputs % 100_000 == 0:
                report()

        argv = [sys.argv[0], f"-runs={args.runs}", "-max_len=300", out, str(CORPUS)]
        argv += args.libfuzzer_args
        print(f"fuzz_q931: atheris, new inputs in {out}", flush=True)
        atheris.Setup(argv, progress)
        atheris.Fuzz()
        return 0
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.isdn.test_fuzz import messages

    @settings(
        max_examples=args.runs,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(messages(), st.binary(max_size=300)))
    def run(data: bytes) -> None:
        target(data)

    for seed in sorted(CORPUS.glob("*")):
        target(seed.read_bytes())
    run()
    report()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
