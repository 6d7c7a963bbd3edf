"""Records to tables: leaderboards generated only from run records."""
from .tables import cal_gain_rows, leaderboard_rows, render

__all__ = ["cal_gain_rows", "leaderboard_rows", "render"]
