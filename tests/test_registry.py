import pytest

from deployprof.errors import ConfigError
from deployprof.registry import Registry


def test_duplicate_and_unknown_keys():
    r = Registry("thing")
    r.add("a", 1)
    with pytest.raises(ValueError):
        r.add("a", 2)
    with pytest.raises(ConfigError, match="unknown thing 'b'; expected one of: a"):
        r.get("b")
    assert r.get("a") == 1 and "a" in r and list(r) == ["a"]
