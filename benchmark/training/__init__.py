"""Training: the run session, the trainer (ID loss, CAL's two-step update), losses, loaders, run folders."""
from .checkpoint import evaluate_checkpoint, load_checkpoint
from .rundir import CheckpointError
from .session import Session, evaluate_model, resume, run
from .trainer import TrainingDiverged

__all__ = ["CheckpointError", "Session", "TrainingDiverged", "evaluate_checkpoint", "evaluate_model",
           "load_checkpoint", "resume", "run"]
