"""Self-describing JSON run records: config, seed, versions, git commit, metrics, timings."""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
from importlib import metadata
from typing import Any, Dict, List, Optional

RECORD_FORMAT = "ccreid-bench/run-record/1"
PACKAGES = ("ccreid-bench", "torch", "torchvision", "decord", "pytorchvideo", "numpy", "einops", "pillow", "av")


def package_versions() -> Dict[str, Optional[str]]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state(path: Optional[str] = None) -> Dict[str, Any]:
    path = path or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True,
                                timeout=5).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path,
                                    capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty if commit else None}


def machine() -> Dict[str, Any]:
    import torch

    info: Dict[str, Any] = {"platform": platform.platform(), "processor": platform.processor() or None,
                            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                            "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def new_run_id(cfg_dict: Dict[str, Any]) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    tag = f"{cfg_dict['model']}{'-cal' if cfg_dict.get('cal') else ''}-{cfg_dict['dataset']}-s{cfg_dict['seed']}"
    return f"{stamp}-{tag}"


def write_record(record: Dict[str, Any], run_dir: str) -> str:
    """Write ``record.json`` atomically into ``run_dir`` and return its path."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, "record.json")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)
    return path


def load_records(paths: List[str]) -> List[Dict[str, Any]]:
    """Records from files or folders (searched recursively for ``record.json``)."""
    out = []
    for p in paths:
        files = [p] if os.path.isfile(p) else sorted(
            os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs if f == "record.json")
        for f in files:
            with open(f, encoding="utf-8") as fh:
                try:
                    rec = json.load(fh)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{f}: not a JSON run record ({e.msg} at line {e.lineno})") from None
            if rec.get("format") != RECORD_FORMAT:
                raise ValueError(f"{f}: not a run record of format {RECORD_FORMAT}")
            rec["_path"] = f
            out.append(rec)
    return out
