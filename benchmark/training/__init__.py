"""Training: the run session, the trainer (ID loss, CAL's two-step update), losses, loaders, run folders."""
from .checkpoint import CheckpointError, evaluate_checkpoint, load_checkpoint
from .session import Session, evaluate_model, run

__all__ = ["CheckpointError", "Session", "evaluate_checkpoint", "evaluate_model", "load_checkpoint", "run"]
