import torch

from samplers.transforms import ERASE_VALUES, random_crop, random_erasing


def _batch(b=16, t=2, h=24, w=12):
    return torch.randn(b, 3, t, h, w, generator=torch.Generator().manual_seed(0))


def test_probability_zero_is_identity_and_one_changes_every_sample():
    x = _batch()
    assert torch.equal(random_crop(x, 0.0), x) and torch.equal(random_erasing(x, 0.0), x)
    crop = random_crop(x, 1.0, torch.Generator().manual_seed(1))
    erased = random_erasing(x, 1.0, torch.Generator().manual_seed(1))
    assert crop.shape == x.shape and erased.shape == x.shape
    for i in range(len(x)):
        assert not torch.equal(crop[i], x[i])
        assert not torch.equal(erased[i], x[i])


def test_same_generator_seed_repeats_and_half_the_samples_change_at_p_half():
    x = _batch(b=200, t=1)
    a = random_erasing(x, 0.5, torch.Generator().manual_seed(3))
    b = random_erasing(x, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    changed = sum(not torch.equal(a[i], x[i]) for i in range(len(x)))
    assert 70 < changed < 130


def test_erasing_fills_one_rectangle_of_the_allowed_area_in_every_frame():
    x = _batch(b=50, t=3)
    out = random_erasing(x, 1.0, torch.Generator().manual_seed(5))
    fill = torch.tensor(ERASE_VALUES).view(3, 1, 1, 1)
    h, w = x.shape[-2:]
    for i in range(len(x)):
        mask = (out[i] == fill).all(dim=0)  # (T, H, W)
        assert torch.equal(mask[0], mask[1]) and torch.equal(mask[0], mask[2])  # one decision per clip
        rows, cols = mask[0].nonzero(as_tuple=True)
        area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert area == mask[0].sum()  # a filled rectangle
        assert 0.02 * h * w * 0.5 <= area <= 0.4 * h * w * 1.5
        # outside the rectangle nothing moved
        assert torch.equal(out[i][:, ~mask], x[i][:, ~mask])


def test_crop_is_a_window_of_the_upscaled_clip():
    x = torch.arange(1 * 3 * 1 * 16 * 8, dtype=torch.float32).view(1, 3, 1, 16, 8)
    out = random_crop(x, 1.0, torch.Generator().manual_seed(0))
    up = torch.nn.functional.interpolate(x[0].transpose(0, 1), size=(18, 9), mode="bilinear", align_corners=False)
    found = any(torch.allclose(out[0].transpose(0, 1), up[:, :, top:top + 16, left:left + 8])
                for top in range(3) for left in range(2))
    assert found
