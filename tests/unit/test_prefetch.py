from pathlib import Path

from hydra import compose, initialize_config_dir

from ptb.config import register_configs
from ptb.prefetch import repos_for

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def _repos(model: str) -> list[tuple[str, str | None]]:
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base=None):
        return repos_for(compose("config", overrides=[f"model={model}"]))


def test_prefetch_lists_base_and_instruct() -> None:
    assert _repos("gemma3_4b") == [("google/gemma-3-4b-pt", None), ("google/gemma-3-4b-it", None)]


def test_local_model_needs_no_download() -> None:
    assert _repos("tiny") == []
