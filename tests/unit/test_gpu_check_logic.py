from ptb.sandbox.gpu_check import _problem, check

H100 = {"index": 0, "name": "NVIDIA H100 80GB HBM3", "used_gib": 0.5, "total_gib": 79.1}


def test_expected_gpus_pass() -> None:
    assert _problem([H100], 1, "h100", 2.0) is None


def test_each_failure_names_its_reason() -> None:
    assert _problem([], 1, None, 2.0) == "expected 1 GPU(s), found 0"
    assert "expected a100" in str(_problem([H100], 1, "a100", 2.0))
    busy = {**H100, "used_gib": 40.0}
    assert "busy: 40.0 GiB" in str(_problem([busy], 1, "h100", 2.0))


def test_without_cuda_the_check_fails_cleanly() -> None:
    import torch

    if torch.cuda.is_available():
        return
    report = check(1, "h100", 2.0)
    assert report == {"ok": False, "reason": "CUDA is not available inside the sandbox", "gpus": []}
