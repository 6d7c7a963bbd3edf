"""TCLNet (Temporal Complementary Learning Network), after docs/reference-facts.md, B.

The paper's Table 5 ran TCLNet from its authors' own code (blue-blue272/VideoReID-TCLNet,
its own training recipe: Adam 3e-4, 150 epochs, seq_len 4, CE + cosine triplet
with margin 0.4 per learner). This is a re-implementation inside this suite's
contract and training loop, so it trains with the suite's recipe; the design:

- per-frame 2-D backbone (layer4 stride as the backbone was built, 1 by default);
- Temporal Saliency Boosting (:class:`TSB`) after layer2's last block;
- layer3 maps are cut into frame pairs (0,1), (2,3), ...; each pair (A, B) goes through
  the same Temporal Saliency Erasing (:class:`TSE`) module: A through the shared layer4
  blocks and learner branch 0, B (erased where A was salient) through the shared
  blocks and learner branch 1. The shared blocks are layer4 minus its last block;
  the branches are two clones of layer4's last block (ResNet-50: 2 shared + 2 x 1;
  a backbone with one block in layer4 has no shared block);
- head per learner: per-frame spatial max, mean over its frames (learner 1 = even
  frames 0, 2, 4, ..., learner 2 = odd frames 1, 3, 5, ...), its own BatchNorm1d.

Output: ``id_features`` = ``triplet_features`` = [learner-1 BN, learner-2 BN];
``features`` = concat of the L2-normalised BN outputs (2 x C, 4096-d for ResNet-50);
``pre_features`` = concat of the two learners' features before their BN. The reference's
test feature of a video (its evaluation code) averages the clips' pre-BN features, then
puts each half through its learner's BN, L2-normalises each and concatenates them:
:meth:`TCLNet.video_features` does the part after the mean, and the harness calls it
with ``eval.feature=model``. With the default ``eval.feature=mean`` a video's feature is
the mean of the clips' ``features`` (BN of each clip, then the mean).

The reference's triplet loss (cosine, margin 0.4, one per learner) is registered as this
model's loss recipe: ``--set loss_recipe=model`` trains with it; the suite's default recipe
has no triplet loss.

Deviations from the reference (besides the training recipe):

- T must be even; T = 8 or 16 gives 4 or 8 pairs with the even / odd learner split
  (the reference trains and tests with T = 4).
- All pairs of a clip go through TSE in one batch (A frames together, then B frames),
  so in train mode the layer4 BatchNorm statistics are over all pairs at once rather
  than one pair at a time.
- A passes the erase step with an all-ones mask; with no saliency score for A, its
  pooled vector is the plain spatial mean (uniform softmax weights). Inferred.
- The erase band is the 3-row window (full windows only, no padding) with the largest
  summed row score; on maps with fewer than 4 rows the band shrinks to h - 1 rows so
  that something is left to pool. conv_erase(pooled) is added at every position of
  the masked map.
- The 1x1 convs in front of a BatchNorm (TSE's conv_erase, TSB's W) have no bias:
  a bias before BatchNorm is cancelled in train mode and gets no gradient.
- TSB's smoothed memory is AvgPool (1,2,2), stride 1, padding 1 (zeros counted), cropped
  to the first h rows and w columns.

Initialisation (``init``): ``"pytorch"`` (default) keeps PyTorch's default draw for TSE's
conv_reduce and conv_erase and for TSB's W conv. ``"reference"`` redraws the weights of
all three from N(0, sqrt(2 / out_channels)) as the reference does (its TSE.__init__ for
conv_reduce and conv_erase; its TSB.__init__ runs the same loop over every Conv2d, W's
included, so TSB's W conv is redrawn too). Both draw after the default one, so the default
path consumes the random numbers it always did. The BatchNorms behind conv_erase and W start
at zero either way: TSB and the erase term start inert.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from einops import rearrange, reduce
from torch import nn

from .backbones import ResNetBackbone
from .base import ModelOutput, TemporalModel
from .heads import bn_neck
from .nonlocal_block import check_init, reference_init_
from .registry import register_model


def _zero_bn(channels: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels)
    nn.init.zeros_(bn.weight)
    nn.init.zeros_(bn.bias)
    return bn


def _block_width(block: nn.Module) -> int:
    return (block.bn3 if hasattr(block, "bn3") else block.bn2).num_features


class TSB(nn.Module):
    """Temporal Saliency Boosting on (B, T, C, H, W): each frame gains what the other frames add."""

    def __init__(self, channels: int, scale: float = 5.0, init: str = "pytorch"):
        super().__init__()
        self.scale = scale
        self.W = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False), _zero_bn(channels))
        if check_init(init) == "reference":
            reference_init_(self.W[0])

    def aggregate(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> (B, T, C): for each frame, the attention-weighted raw features of the others."""
        b, t, c, h, w = x.shape
        if t < 2:
            raise ValueError("TSB needs at least two frames")
        query = F.normalize(reduce(x, "b t c h w -> b t c", "mean"), dim=2)
        smooth = F.avg_pool2d(rearrange(x, "b t c h w -> (b t) c h w"), 2, stride=1, padding=1)[:, :, :h, :w]
        memory = F.normalize(rearrange(smooth, "(b t) c h w -> b (t h w) c", b=b), dim=2)
        sim = self.scale * torch.einsum("bqc,bnc->bqn", query, memory)  # (b, t, t*h*w)
        owner = torch.arange(t, device=x.device).repeat_interleave(h * w)
        own = owner[None, :] == torch.arange(t, device=x.device)[:, None]  # (t, t*h*w)
        attention = torch.softmax(sim.masked_fill(own, float("-inf")), dim=-1)
        return attention @ rearrange(x, "b t c h w -> b (t h w) c")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        gathered = rearrange(self.aggregate(x), "b t c -> (b t) c 1 1")
        boost = rearrange(self.W(gathered), "(b t) c 1 1 -> b t c 1 1", b=b)
        return x + boost


class TSE(nn.Module):
    """Temporal Saliency Erasing over frame pairs; returns the layer4 maps of A and B frames."""

    def __init__(self, layer4: nn.Sequential, band: int = 3, init: str = "pytorch"):
        super().__init__()
        blocks = list(layer4)
        self.shared = nn.Sequential(*blocks[:-1])
        self.branches = nn.ModuleList([blocks[-1], copy.deepcopy(blocks[-1])])
        c3 = blocks[0].conv1.in_channels
        c4 = _block_width(blocks[-1])
        self.band = band
        self.reduce = nn.Conv2d(c4, c3, 1, bias=False)
        self.conv_erase = nn.Sequential(nn.Conv2d(c3, c3, 1, bias=False), _zero_bn(c3))
        if check_init(init) == "reference":
            reference_init_(self.reduce)
            reference_init_(self.conv_erase[0])

    def erase(self, x: torch.Tensor, mask: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """x * mask + conv_erase(softmax(scores)-weighted mean of the kept positions), at every position."""
        logits = scores.flatten(1).masked_fill(mask.flatten(1) == 0, float("-inf"))
        weights = torch.softmax(logits, dim=1)
        pooled = torch.einsum("bn,bcn->bc", weights, x.flatten(2))
        return x * mask[:, None] + self.conv_erase(pooled[:, :, None, None])

    def band_mask(self, scores: torch.Tensor) -> torch.Tensor:
        """(N, h, w) saliency -> (N, h, w) mask, 0 on the full-width band of rows with the largest score sum."""
        n, h, w = scores.shape
        band = min(self.band, max(h - 1, 1))
        windows = scores.mean(dim=2).unfold(1, band, 1).sum(dim=2)  # (n, h - band + 1), full windows only
        start = windows.argmax(dim=1)
        rows = torch.arange(h, device=scores.device)[None, :]
        keep = ~((rows >= start[:, None]) & (rows < start[:, None] + band))
        return keep[:, :, None].to(scores.dtype).expand(n, h, w)

    def forward(self, a: torch.Tensor, b: torch.Tensor):
        """a, b: (N, C3, h, w) layer3 maps of the first and second frame of each pair."""
        n, c3, h, w = b.shape
        ones = a.new_ones(n, h, w)
        out_a = self.branches[0](self.shared(self.erase(a, ones, a.new_zeros(n, h, w))))
        context = self.reduce(reduce(out_a.detach(), "n c h w -> n c 1 1", "mean"))
        scores = (context * b).sum(dim=1) / math.sqrt(c3)  # (n, h, w)
        mask = self.band_mask(scores.detach())
        out_b = self.branches[1](self.shared(self.erase(b, mask, scores)))
        return out_a, out_b


class TCLNet(TemporalModel):
    def __init__(self, backbone: ResNetBackbone, init: str = "pytorch"):
        super().__init__()
        check_init(init)
        self.backbone = backbone
        c2 = _block_width(backbone.layer2[-1])
        self.tsb = TSB(c2, init=init)
        self.tse = TSE(backbone.layer4, init=init)
        del self.backbone.layer4  # now lives in tse (shared blocks + branches)
        c = backbone.out_channels
        self.bns = nn.ModuleList([bn_neck(c), bn_neck(c)])
        self.feature_dim = 2 * c
        self.id_feature_dims = [c, c]

    def forward(self, clips: torch.Tensor) -> ModelOutput:
        b, _, t = clips.shape[:3]
        if t % 2:
            raise ValueError(f"TCLNet needs an even number of frames (frame pairs), got T={t}")
        bb = self.backbone
        x = bb.layer2(bb.layer1(bb.stem(rearrange(clips, "b c t h w -> (b t) c h w"))))
        x = self.tsb(rearrange(x, "(b t) c h w -> b t c h w", b=b))
        x = rearrange(bb.layer3(rearrange(x, "b t c h w -> (b t) c h w")), "(b t) c h w -> b t c h w", b=b)
        first = rearrange(x[:, 0::2], "b p c h w -> (b p) c h w")
        second = rearrange(x[:, 1::2], "b p c h w -> (b p) c h w")
        outs = self.tse(first, second)
        pre, learners = [], []
        for bn, maps in zip(self.bns, outs):  # spatial max per frame, mean over the learner's frames
            frames = reduce(maps, "(b p) c h w -> b p c", "max", b=b)
            pre.append(frames.mean(dim=1))
            learners.append(bn(pre[-1]))
        features = torch.cat([F.normalize(f, dim=1) for f in learners], dim=1)
        return ModelOutput(features, learners, triplet_features=learners, pre_features=torch.cat(pre, dim=1))

    def video_features(self, mean_pre: torch.Tensor) -> torch.Tensor:
        """(N, 2C) per-video means of ``pre_features`` -> each half through its learner's BN, L2-normalised,
        concatenated: the reference's test feature (call in eval mode)."""
        halves = mean_pre.split(list(self.id_feature_dims), dim=1)
        return torch.cat([F.normalize(bn(f), dim=1) for bn, f in zip(self.bns, halves)], dim=1)


# TCLNet's own codebase: CE + batch-hard cosine triplet with margin 0.4 on each learner
# (docs/reference-facts.md, B).
@register_model("tclnet", losses=dict(triplet_weight=1.0, triplet_margin=0.4, triplet_distance="cosine",
                                       triplet_mining="hard"))
def build_tclnet(backbone: ResNetBackbone, init: str = "pytorch", **_) -> TCLNet:
    """TCLNet (TSB + TSE, two learners); T must be even. See the module docstring for deviations."""
    return TCLNet(backbone, init=init)
