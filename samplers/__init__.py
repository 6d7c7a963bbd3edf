"""Records to clip tensors: clip rules, frame readers (PIL folders, decord videos), samplers, frames in memory,
JPEG batches decoded on the training device."""
from .clips import (TEST_VARIANTS, chunk_clip_indices, dense_pieces, eval_clip_indices, tile_clip_indices,
                    train_clip_indices, variant_clip_indices)
from .datasets import WholeVideos, TrainClips, collate_videos, normalize_clips
from .encoded import EncodedClips, check_encodable, collate_clips
from .identity import IdentitySampler
from .memory import CACHE_MODES, MEMORY_BUDGET, MemoryFrames, cache_mode, memory_plan
from .readers import FolderReader, FrameReader, VideoFileReader, reader_for, tracklet_length

__all__ = [
    "TEST_VARIANTS", "variant_clip_indices", "chunk_clip_indices", "dense_pieces", "eval_clip_indices",
    "tile_clip_indices", "train_clip_indices",
    "WholeVideos", "TrainClips", "collate_videos", "normalize_clips", "IdentitySampler", "FolderReader",
    "FrameReader", "VideoFileReader", "reader_for", "tracklet_length", "CACHE_MODES", "MEMORY_BUDGET",
    "MemoryFrames", "cache_mode", "memory_plan", "EncodedClips", "check_encodable", "collate_clips",
]
