"""System metrics: CPU/RAM always, the process tree's memory, GPU keys only where NVML works."""

from __future__ import annotations

import subprocess
import sys

from tui_mlops.monitoring import system


def test_sample_has_cpu_and_memory_and_gpu_only_with_nvml():
    first = system.sample()
    second = system.sample()
    for values in (first, second):
        assert {"cpu_percent", "ram_mb", "ram_percent", "proc_rss_mb"} <= set(values)
        assert all(isinstance(v, float) for v in values.values())
    assert second["ram_mb"] > 0 and second["proc_rss_mb"] > 0
    gpus = system.gpu_info()
    gpu_keys = {k for k in second if k.startswith("gpu")}
    if gpus is None:  # no NVIDIA driver here (NVMLError_LibraryNotFound): absent, not an error
        assert gpu_keys == set()
    else:
        assert gpus and all("name" in g for g in gpus)
        assert {"gpu_util", "gpu_mem_mb"} <= gpu_keys


def test_sampler_counts_the_children_of_a_job():
    # A parent holding 8 MB whose child holds 80 MB: the job's memory is the sum.
    code = ("import subprocess, sys\n"
            "a = bytearray(8 << 20)\n"
            "c = subprocess.Popen([sys.executable, '-c', "
            "'import sys; a = bytearray(80 << 20); print(1, flush=True); sys.stdin.read()'], "
            "stdin=subprocess.PIPE, stdout=sys.stdout)\n"
            "sys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"1"  # the child has allocated
        with_children = system.Sampler(proc.pid).sample()["proc_rss_mb"]
        alone = system.Sampler(proc.pid, include_children=False).sample()["proc_rss_mb"]
        assert alone >= 8 and with_children >= alone + 80
    finally:
        proc.stdin.close()
        proc.wait(10)


def test_sampler_of_a_gone_process_does_not_raise():
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    values = system.Sampler(int(proc.stdout)).sample()
    assert "proc_rss_mb" not in values and "cpu_percent" in values
