"""Training: the session of a run (:mod:`.session`), the one builder of its parts (:mod:`.build`), the trainer
(the objectives' two-step update, :mod:`.trainer`), loaders, test time (:mod:`.testing`), run folders, what a run
saves and reads back (:mod:`.checkpoint`), several processes (:mod:`.distributed`)."""
from .checkpoint import evaluate_checkpoint, load_checkpoint
from .rundir import CheckpointError
from .session import Session, resume, run
from .testing import evaluate_model
from .trainer import TrainingDiverged

__all__ = ["CheckpointError", "Session", "TrainingDiverged", "evaluate_checkpoint", "evaluate_model",
           "load_checkpoint", "resume", "run"]
