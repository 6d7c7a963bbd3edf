"""Losses: identity cross-entropy, the Clothes-based Adversarial Loss (CAL), batch-hard triplet."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def cal_loss(cos_logits: torch.Tensor, clothes: torch.Tensor, pos_mask: torch.Tensor,
             scale: float = 16.0, epsilon: float = 0.1) -> torch.Tensor:
    """Clothes-based Adversarial Loss (paper Eq. 3 and 5; docs/reference-facts.md, C).

    ``cos_logits``: (B, C) cosines between features and clothes prototypes.
    ``pos_mask``: (B, C) 1 for the clothes classes of the sample's identity (P).
    z = scale * cos; log p_j = z_j - log(e^{z_j} + sum_{k in N} e^{z_k}) with N the
    clothes of other identities; q = (1 - eps) onehot(y) + eps / |P| on P.
    Returns -sum_j q_j log p_j averaged over the batch.
    """
    z = scale * cos_logits
    neg = pos_mask <= 0
    lse_neg = torch.logsumexp(z.masked_fill(~neg, float("-inf")), dim=1, keepdim=True)
    log_p = z - torch.logaddexp(z, lse_neg)
    pos = pos_mask.to(z.dtype)
    q = epsilon * pos / pos.sum(dim=1, keepdim=True)
    q = q + (1.0 - epsilon) * F.one_hot(clothes, z.shape[1]).to(z.dtype)
    return -(q * log_p).sum(dim=1).mean()


def triplet_loss(features: torch.Tensor, pids: torch.Tensor, margin: float = 0.3,
                 distance: str = "cosine", mining: str = "hard") -> torch.Tensor:
    """Triplet loss on a batch of (B, d) features.

    ``distance``: ``cosine`` (1 - cos, the reference CAL / TCLNet codes) or ``euclidean``.
    ``mining``: ``hard`` (batch-hard: the hardest positive and negative per anchor,
    averaged over anchors) or ``all`` (every (anchor, positive, negative) triplet,
    the sum divided by the number of triplets with a non-zero loss, GaitSet's
    "full loss, mean over non-zero"; positives exclude the anchor itself).
    """
    if distance == "cosine":
        f = F.normalize(features, dim=1)
        dist = 1.0 - f @ f.t()
    elif distance == "euclidean":
        dist = _euclidean(features)
    else:
        raise ValueError(f"triplet distance: expected cosine or euclidean, got {distance!r}")
    same = pids[:, None] == pids[None, :]
    if mining == "hard":
        hardest_pos = dist.masked_fill(~same, float("-inf")).amax(dim=1)
        hardest_neg = dist.masked_fill(same, float("inf")).amin(dim=1)
        return F.relu(hardest_pos - hardest_neg + margin).mean()
    if mining != "all":
        raise ValueError(f"triplet mining: expected hard or all, got {mining!r}")
    eye = torch.eye(len(pids), dtype=torch.bool, device=pids.device)
    valid = (same & ~eye)[:, :, None] & ~same[:, None, :]  # (anchor, positive, negative)
    losses = F.relu(dist[:, :, None] - dist[:, None, :] + margin) * valid
    return losses.sum() / (losses > 0).sum().clamp(min=1)


def _euclidean(x: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances with a finite gradient at zero distance (the diagonal)."""
    sq = (x * x).sum(dim=1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * x @ x.t()).clamp(min=0.0)
    return torch.sqrt(d2 + 1e-12)


def within_identity_clothes_accuracy(cos_logits: torch.Tensor, clothes: torch.Tensor,
                                     pos_mask: torch.Tensor) -> float:
    """Accuracy of the clothes classifier restricted to the suits of the sample's own identity.

    A diagnostic: CAL aims to make suits of one identity indistinguishable, which lowers it.
    """
    masked = cos_logits.masked_fill(pos_mask <= 0, float("-inf"))
    return (masked.argmax(dim=1) == clothes).float().mean().item()
