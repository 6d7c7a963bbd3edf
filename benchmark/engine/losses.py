"""The loss maths: the Clothes-based Adversarial Loss (CAL) and its memory-bank form, triplet, the clothes diagnostic.

Pure functions of tensors; :mod:`.objectives` names them as the terms a run optimises."""
from __future__ import annotations

import torch
import torch.nn.functional as F

TRIPLET_DISTANCES = ("cosine", "euclidean")
TRIPLET_MININGS = ("hard", "all")
# how memory-bank CAL writes a batch into its clothes memory (cal.memory_write; update_clothes_memory)
MEMORY_WRITES = ("last", "mean")


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



@torch.no_grad()
def update_clothes_memory(memory: torch.Tensor, filled: torch.Tensor, features: torch.Tensor,
                          clothes: torch.Tensor, momentum: float = 0.0, write: str = "last") -> None:
    """Write a batch into the clothes memory of memory-bank CAL, in place (docs/reference-facts.md, C).

    ``memory``: (C, d) one feature per clothes class; ``filled``: (C,) bool, the classes written at
    least once. While some class is still unfilled, written classes are overwritten; once every class
    is filled, writes are momentum updates (momentum 0: overwrite). ``write`` (:data:`MEMORY_WRITES`):

    - ``last``, the reference's: every sample of the batch is written on its own, in batch order, as
      its raw (detached) feature, so with momentum 0 the last sample of a class wins and with momentum
      m a class's n samples x_1..x_n give m^n old + (1 - m) sum_i m^(n-i) x_i. (The reference groups the
      batch by label in a dict keyed by tensors, which hash by identity: each sample is its own group.)
    - ``mean``: one write per class present, the mean of its L2-normalised features, and the written
      rows re-normalised (the memory holds unit vectors).

    The loss normalises the memory when it takes the cosine, so the norm a row is kept at does not
    change the loss.
    """
    if write not in MEMORY_WRITES:
        raise ValueError(f"memory write must be one of {', '.join(MEMORY_WRITES)}, got {write!r}")
    m = momentum if bool(filled.all()) else 0.0
    if write == "last":
        f = features.detach().to(memory.dtype)
        same = clothes[:, None] == clothes[None, :]
        later = torch.triu(same, diagonal=1).sum(dim=1)  # samples of the same class after this one
        weights = (1.0 - m) * torch.pow(torch.full_like(later, m, dtype=f.dtype), later.to(f.dtype))
        present, inverse = torch.unique(clothes, return_inverse=True)
        counts = torch.bincount(inverse, minlength=len(present)).to(f.dtype)
        sums = torch.zeros(len(present), f.shape[1], dtype=f.dtype, device=f.device)
        sums.index_add_(0, inverse, weights[:, None] * f)
        memory[present] = torch.pow(torch.full_like(counts, m), counts)[:, None] * memory[present] + sums
    else:
        f = F.normalize(features.detach().to(memory.dtype), dim=1)
        present, inverse = torch.unique(clothes, return_inverse=True)
        sums = torch.zeros(len(present), f.shape[1], dtype=f.dtype, device=f.device).index_add_(0, inverse, f)
        counts = torch.bincount(inverse, minlength=len(present)).to(f.dtype)
        means = m * memory[present] + (1.0 - m) * sums / counts[:, None]
        memory[present] = F.normalize(means, dim=1)
    filled[present] = True


def memory_cal_loss(features: torch.Tensor, clothes: torch.Tensor, pos_mask: torch.Tensor,
                    memory: torch.Tensor, filled: torch.Tensor, scale: float = 16.0,
                    epsilon: float = 0.1) -> torch.Tensor:
    """CAL against a clothes memory instead of a clothes classifier (docs/reference-facts.md, C).

    The :func:`cal_loss` form with z_j = scale * cos(f, memory_j); ``memory`` (C, d) is
    detached here. Classes not yet ``filled`` are left out of both P and N: their columns
    are dropped and the labels renumbered over the filled ones. Every sample's own class
    must be filled, which holds when the batch was written with
    :func:`update_clothes_memory` before the loss (the reference's order).
    """
    if not bool(filled[clothes].all()):
        raise ValueError("memory_cal_loss: a sample's own clothes class is not in the memory yet; "
                         "write the batch with update_clothes_memory first")
    keep = filled.nonzero().flatten()
    cos = F.normalize(features, dim=1) @ F.normalize(memory.detach()[keep], dim=1).t()
    new_label = torch.cumsum(filled.long(), 0) - 1
    return cal_loss(cos, new_label[clothes], pos_mask[:, keep], scale, epsilon)


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
        raise ValueError(f"triplet distance: expected {' or '.join(TRIPLET_DISTANCES)}, got {distance!r}")
    same = pids[:, None] == pids[None, :]
    if mining == "hard":
        hardest_pos = dist.masked_fill(~same, float("-inf")).amax(dim=1)
        hardest_neg = dist.masked_fill(same, float("inf")).amin(dim=1)
        return F.relu(hardest_pos - hardest_neg + margin).mean()
    if mining != "all":
        raise ValueError(f"triplet mining: expected {' or '.join(TRIPLET_MININGS)}, got {mining!r}")
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
