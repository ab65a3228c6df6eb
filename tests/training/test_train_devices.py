"""GPU detection: this machine's real answer never crashes, and the message for each situation
(probe facts as LightGBM's ICD loader and NVML would report them)."""

from __future__ import annotations

from tui_mlops.training.devices import REGISTER_HINT, detect, interpret

POCL = {"name": "Portable Computing Language", "vendor": "The pocl project",
        "devices": [{"name": "pthread-AMD EPYC", "gpu": False}]}
NVIDIA = {"name": "NVIDIA CUDA", "vendor": "NVIDIA Corporation", "devices": [{"name": "NVIDIA H100 80GB HBM3", "gpu": True}]}


def test_detect_on_this_machine_answers_with_a_message():
    info = detect(refresh=True)
    assert isinstance(info.gpu_usable, bool) and info.message
    if not info.gpu_usable:
        assert info.platform_id is None
        assert "GPU" in info.message and "\n" not in info.message
    else:
        assert info.platform_id is not None and info.message.startswith("GPU training available")
    assert detect() is detect()  # cached per process


def test_no_gpu():
    info = interpret({"platforms": [], "nvidia": []})
    assert not info.gpu_usable
    assert info.message.startswith("no GPU found (no NVIDIA driver and no OpenCL GPU platform)")


def test_nvidia_gpu_but_only_pocl_says_how_to_register_the_nvidia_icd():
    info = interpret({"platforms": [POCL], "nvidia": ["NVIDIA H100 80GB HBM3"]})
    assert not info.gpu_usable
    assert "NVIDIA GPU found (NVIDIA H100 80GB HBM3) but OpenCL lists only CPU platform(s)" in info.message
    assert "'Portable Computing Language'" in info.message and info.message.endswith(REGISTER_HINT)
    assert "echo libnvidia-opencl.so.1 | sudo tee /etc/OpenCL/vendors/nvidia.icd" in info.message


def test_nvidia_gpu_and_no_platform_at_all():
    info = interpret({"platforms": [], "nvidia": ["NVIDIA A10"]})
    assert not info.gpu_usable and "no OpenCL platform is registered" in info.message
    assert info.message.endswith(REGISTER_HINT)


def test_nvidia_platform_is_preferred_and_its_index_used():
    info = interpret({"platforms": [POCL, NVIDIA], "nvidia": ["NVIDIA H100 80GB HBM3"]})
    assert info.gpu_usable and (info.platform_id, info.device_id) == (1, 0)
    assert info.message == "GPU training available: OpenCL platform 1 'NVIDIA CUDA', device 'NVIDIA H100 80GB HBM3'"
    assert info.opencl_platforms[0].startswith("0: Portable Computing Language (The pocl project)")


def test_pocl_only_without_nvidia():
    info = interpret({"platforms": [POCL], "nvidia": []})
    assert not info.gpu_usable and info.message.startswith("no GPU found: OpenCL lists only CPU platform(s)")
