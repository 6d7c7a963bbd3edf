"""Run configuration: typed sections (schema), files and overrides (compose), checks.

    from benchmark.config import load_config
    cfg = load_config(preset="paper", overrides=["optim.lr=3e-4", "cal.enabled=true"])
"""
from typing import List, Optional, Sequence, Tuple

from .checks import check
from .compose import (CONFIG_DIR, ConfigError, compose, from_dict, make_config, model_loss_recipe, presets,
                      to_yaml)
from .schema import (FLAT_ALIASES, SECTIONS, CALConfig, Config, DataConfig, EvalConfig, LossConfig, ModelConfig,
                     OptimConfig, SystemConfig, dotted_key, flatten, leaf_keys, upgrade_config)


def load_config(preset: Optional[str] = None, config: Optional[str] = None, overrides: Sequence[str] = (),
                recorded: Optional[dict] = None) -> Tuple[Config, List[str]]:
    """Compose and check a run's config; returns (config, warnings to log)."""
    return check(compose(preset, config, overrides, recorded=recorded))


__all__ = ["CONFIG_DIR", "CALConfig", "Config", "ConfigError", "DataConfig", "EvalConfig", "FLAT_ALIASES",
           "LossConfig", "ModelConfig", "OptimConfig", "SECTIONS", "SystemConfig", "check", "compose",
           "dotted_key", "flatten", "from_dict", "leaf_keys", "load_config", "make_config", "model_loss_recipe",
           "presets", "to_yaml", "upgrade_config"]
