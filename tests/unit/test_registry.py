import pytest

from ptb.registry import Registry, UnknownNameError


def test_unknown_name_suggests_and_lists() -> None:
    reg = Registry("widget", {"alpha": "json:dumps", "beta": "json:loads"})
    with pytest.raises(UnknownNameError) as err:
        reg.path("alpah")
    assert "Did you mean 'alpha'?" in str(err.value)
    assert "alpha, beta" in str(err.value)


def test_load_imports_the_object() -> None:
    import json

    assert Registry("w", {"d": "json:dumps"}).load("d") is json.dumps
