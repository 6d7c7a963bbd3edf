"""The shared base: one user-error class, the "did you mean" hint, the registry with entry points."""
import pytest

from ccvid.base import Registry, UnknownNameError, UserError, did_you_mean


def test_did_you_mean_quotes_close_names_and_is_empty_otherwise():
    assert did_you_mean("basline", ["baseline", "i3d"]) == "; did you mean 'baseline'?"
    assert did_you_mean("LTC", ["ltcc", "prcc"]) == "; did you mean 'ltcc'?"  # case folded when nothing is close
    assert did_you_mean("ap3d_n", ["ap3d", "ap3d_nl", "i3d"], n=2) == "; did you mean 'ap3d_nl', 'ap3d'?"
    assert did_you_mean("zzz", ["ltcc"]) == ""


def test_register_get_names_info_and_duplicates():
    reg = Registry("thing")

    @reg.register("b", colour="red")
    def b():
        return 2

    reg.register("a")(lambda: 1)
    assert reg.get("b") is b and reg.names() == ["b", "a"]  # registration order
    assert reg.info("b") == {"colour": "red"} and reg.info("a") == {}
    assert "a" in reg and "c" not in reg and len(reg) == 2 and list(reg) == ["b", "a"]
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(lambda: 3)
    reg.register("a", override=True)(lambda: 4)
    assert reg.get("a")() == 4


def test_unknown_names_are_user_errors_with_a_hint_or_the_known_names():
    reg = Registry("thing")
    reg.register("alpha")(lambda: 1)
    with pytest.raises(UnknownNameError, match=r"^unknown thing 'alpah'; did you mean 'alpha'\?$") as e:
        reg.get("alpah")
    assert isinstance(e.value, UserError) and isinstance(e.value, KeyError)
    with pytest.raises(UnknownNameError, match=r"^unknown thing 'zzz' \(known: alpha\)$"):
        reg.get("zzz")


def test_a_broken_plugin_is_named_when_asked_for(monkeypatch):
    class EntryPoint:
        name = "broken"

        def load(self):
            raise ImportError("no module named 'nothing'")

    from importlib import metadata
    monkeypatch.setattr(metadata, "entry_points", lambda group: [EntryPoint()] if group == "g" else [])
    reg = Registry("thing", "g")
    assert reg.names() == [] and "broken" in reg.plugin_errors
    with pytest.raises(UnknownNameError, match=r"its plugin failed to load \(ImportError: no module named"):
        reg.get("broken")


def test_every_error_of_the_suite_that_a_user_can_fix_is_a_user_error():
    from benchmark.cli.common import CLIError
    from benchmark.config import ConfigError
    from benchmark.records import RecordError
    from benchmark.tools.ranklist import RankListError
    from benchmark.training import CheckpointError, TrainingDiverged
    from ccvid import DatasetError
    from leaderboards.published import PublishedError
    from temporal_models import WeightsError
    for cls in (CLIError, ConfigError, RecordError, RankListError, CheckpointError, TrainingDiverged, DatasetError,
                PublishedError, WeightsError, UnknownNameError):
        assert issubclass(cls, UserError), cls
