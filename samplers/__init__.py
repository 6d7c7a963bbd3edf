"""Records to clip tensors: clip rules, frame readers (PIL folders, decord videos), samplers."""
from .clips import dense_pieces, tile_clip_indices, train_clip_indices
from .datasets import WholeVideos, TrainClips, collate_videos, normalize_clips
from .identity import IdentitySampler
from .readers import FolderReader, FrameReader, VideoFileReader, reader_for, tracklet_length

__all__ = [
    "dense_pieces", "tile_clip_indices", "train_clip_indices", "WholeVideos", "TrainClips",
    "collate_videos", "normalize_clips", "IdentitySampler", "FolderReader", "FrameReader",
    "VideoFileReader", "reader_for", "tracklet_length",
]
