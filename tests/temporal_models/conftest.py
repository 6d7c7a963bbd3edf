import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny workloads: one thread is as fast and does not thrash when other processes share the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
