"""(7) Peak memory while ingesting the largest accepted batch, against the batch's own size.

Each measurement runs in a fresh interpreter (``python -m bench.memory --child MODE``): the
function is loaded and warmed with a small batch, the largest batch's event is built, and only
then is memory watched while the handler runs once:

* ``tracemalloc``: the peak of Python allocations during the call, above what was held before;
* ``floor``: the same for base64-decode + gunzip + ``json.loads`` of the same event body;
* ``rss``: growth of the process's resident set during the call (the kernel's high-water mark,
  reset just before it), which also sees zlib's and the JSON parser's C buffers.
"""

from __future__ import annotations

import json
import os
import pickle
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import common
from bench.common import Spread
from lucent_dev import template as tpl

MODES = ("tracemalloc", "rss", "floor")


def _proc_status(field: str) -> int:
    """A memory figure of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _child(mode: str, work: Path) -> dict[str, Any]:
    """Loads the recorded AWS answers and the batch from files: building a 10 MB batch here
    would leave a high-water mark of its own above anything the handler does."""
    import gc
    import tracemalloc

    from bench.ingest_rig import IngestRig

    meta = json.loads((work / "batch.json").read_text())
    body = (work / "body.gz").read_bytes()
    rig = IngestRig()
    rig.answers = pickle.loads((work / "answers.pickle").read_bytes())  # noqa: S301 - our own file
    with rig.warm() as handler:
        event = rig.event(body)
        gc.collect()
        if mode == "floor":  # decode + gunzip + parse of the same bytes, nothing else
            import base64
            import gzip

            tracemalloc.start()
            before, _ = tracemalloc.get_traced_memory()
            parsed = json.loads(gzip.decompress(base64.b64decode(event["body"])))
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            grown = peak - before
            del parsed
            result = {"statusCode": 200}
        elif mode == "tracemalloc":
            tracemalloc.start()
            before, _ = tracemalloc.get_traced_memory()
            result = handler(event, rig.context)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            grown = peak - before
        else:
            # Reset the kernel's high-water mark (VmHWM) to the current RSS, so that only this
            # call can raise it (Linux >= 4.0); ru_maxrss cannot be reset.
            Path("/proc/self/clear_refs").write_text("5")
            before = _proc_status("VmRSS")
            result = handler(event, rig.context)
            grown = _proc_status("VmHWM") - before
        assert result["statusCode"] == 200, result
    return {
        "mode": mode,
        "peak_bytes": grown,
        "process_peak_rss_bytes": _proc_status("VmHWM"),
        "body_bytes": len(body),
        "json_bytes": meta["json_bytes"],
        "events": meta["events"],
    }


def quick_batch() -> Any:
    from bench import payloads
    from bench.ingest_rig import Batch

    raw = payloads.batch_bytes(payloads.rrweb_events(1_000, snapshot_nodes=20_000))
    return Batch("quick", 1_000, payloads.gzipped(raw), len(raw), True)


def run(quick: bool = False) -> dict[str, Any]:
    """Each mode in ``rounds`` fresh processes; spreads over those processes."""
    from bench.ingest_rig import IngestRig, largest_accepted

    rounds = 1 if quick else 3
    env = {**os.environ, "PYTHONPATH": str(tpl.PROJECT_ROOT)}
    # Quick: a 2 MiB stand-in, big enough to move the resident set, a fifth of the tracing time.
    batch = quick_batch() if quick else largest_accepted()
    rig = IngestRig()
    rig.record()
    samples: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "body.gz").write_bytes(batch.body)
        (work / "batch.json").write_text(
            json.dumps({"events": batch.events, "json_bytes": batch.json_bytes})
        )
        (work / "answers.pickle").write_bytes(pickle.dumps(rig.answers))
        # Memory is per process, so the children may run side by side (two at a time: the
        # machine has two cores); each one's figures are its own.
        jobs = [mode for _ in range(rounds) for mode in MODES]
        with ThreadPoolExecutor(max_workers=2) as pool:
            outputs = pool.map(
                lambda mode: common.child_process(
                    [sys.executable, "-m", "bench.memory", "--child", mode, str(work)],
                    what=f"memory, {mode}",
                    timeout=300,
                    env=env,
                    cwd=tpl.PROJECT_ROOT,
                ),
                jobs,
            )
            for mode, stdout in zip(jobs, outputs, strict=True):
                samples[mode].append(json.loads(stdout.strip().splitlines()[-1]))

    def peaks(mode: str) -> list[float]:
        return [float(sample["peak_bytes"]) for sample in samples[mode]]

    traced, rss, floor = peaks("tracemalloc"), peaks("rss"), peaks("floor")
    return {
        "batch": "quick stand-in" if quick else "largest accepted",
        "rounds": rounds,
        "events": batch.events,
        "body_bytes": len(batch.body),
        "json_bytes": batch.json_bytes,
        "tracemalloc_peak_bytes": Spread.of(traced, "peak of Python allocations").as_dict(),
        "floor_peak_bytes": Spread.of(floor, "peak of decode + parse alone").as_dict(),
        "rss_growth_bytes": Spread.of(rss, "RSS growth").as_dict(),
        "process_peak_rss_bytes": Spread.of(
            [float(s["process_peak_rss_bytes"]) for s in samples["rss"]], "process peak RSS"
        ).as_dict(),
        "peak_vs_floor": Spread.of(
            [t / f for t, f in zip(traced, floor, strict=True)], "peak / floor"
        ).as_dict(),
        "peak_vs_json": statistics.median(traced) / batch.json_bytes,
        "peak_vs_body": statistics.median(traced) / len(batch.body),
        "rss_vs_json": statistics.median(rss) / batch.json_bytes,
    }


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        # The handler logs to stdout: print the result last, on a line of its own.
        print(json.dumps(_child(sys.argv[2], Path(sys.argv[3]))))
    else:
        print(json.dumps(run(), indent=2))
