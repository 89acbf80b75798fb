"""System monitor: samples CPU, memory, disk and GPUs into ``solve/monitor.jsonl`` while the
agent runs (a daemon thread; reads /proc and ``nvidia-smi``, no extra dependencies)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

GPU_QUERY = "index,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw"


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields), idle


def _meminfo() -> dict[str, float]:
    info: dict[str, float] = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("MemTotal", "MemAvailable"):
            info[key] = int(rest.split()[0]) / 2**20  # kB -> GiB
    return info


def gpu_sample(nvidia_smi: str | None) -> list[dict[str, Any]]:
    if nvidia_smi is None:
        return []
    try:
        out = subprocess.run(
            [nvidia_smi, f"--query-gpu={GPU_QUERY}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    keys = GPU_QUERY.split(",")
    return [
        dict(zip(keys, (v.strip() for v in line.split(",")), strict=False))
        for line in out.strip().splitlines()
    ]


class Monitor:
    def __init__(self, out: Path, watch: Path, interval_s: float) -> None:
        self.out, self.watch, self.interval_s = out, watch, max(0.5, interval_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ptb-monitor", daemon=True)
        self._smi = shutil.which("nvidia-smi")
        self._last = _cpu_times()

    def __enter__(self) -> Monitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
        self.sample()  # one closing sample

    def sample(self) -> dict[str, Any]:
        total, idle = _cpu_times()
        d_total, d_idle = total - self._last[0], idle - self._last[1]
        self._last = (total, idle)
        mem = _meminfo()
        disk = shutil.disk_usage(self.watch)
        record = {
            "t": round(time.time(), 1),
            "cpu_pct": round(100 * (1 - d_idle / d_total), 1) if d_total > 0 else None,
            "load1": os.getloadavg()[0],
            "mem_used_gib": round(mem["MemTotal"] - mem["MemAvailable"], 2),
            "mem_total_gib": round(mem["MemTotal"], 2),
            "disk_free_gib": round(disk.free / 2**30, 2),
            "gpus": gpu_sample(self._smi),
        }
        with self.out.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        return record

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sample()
            except OSError:  # a full disk must not kill the run
                continue
