import pytest
import torch

from ganaug.selection import k_center_greedy, select_diverse


def test_k_center_spreads_over_clusters_before_repeating_one():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    pts = torch.cat([c + 0.1 * torch.randn(20, 2, generator=g) for c in centres])
    chosen = k_center_greedy(pts, 3)
    assert sorted((chosen // 20).tolist()) == [0, 1, 2]  # one point from each cluster
    assert len(set(k_center_greedy(pts, 60).tolist())) == 60  # a permutation when asked for all


def test_anchors_push_selection_away_from_real_images():
    g = torch.Generator().manual_seed(0)
    near = 0.01 * torch.randn(10, 2, generator=g)  # near-copies of the real image at the origin
    far = torch.tensor([[5.0, 0.0], [0.0, 5.0], [-5.0, 0.0]])
    chosen = k_center_greedy(torch.cat([near, far]), 3, anchors=torch.zeros(1, 2))
    assert sorted(chosen.tolist()) == [10, 11, 12]


def test_select_diverse_respects_confidence_gate_and_tops_up():
    feats = torch.arange(10, dtype=torch.float32).unsqueeze(1)
    conf = torch.tensor([0.95, 0.2, 0.99, 0.1, 0.97, 0.3, 0.91, 0.0, 0.5, 0.6])
    chosen = select_diverse(feats, conf, 3, min_confidence=0.9)
    assert set(chosen.tolist()) <= {0, 2, 4, 6} and len(set(chosen.tolist())) == 3
    # only 4 pass the gate; asking for 5 adds the most confident of the rest (0.6 at index 9)
    assert set(select_diverse(feats, conf, 5, min_confidence=0.9).tolist()) == {0, 2, 4, 6, 9}


def test_bad_requests_are_refused():
    with pytest.raises(ValueError, match="cannot choose 5 of 3"):
        k_center_greedy(torch.zeros(3, 2), 5)
    with pytest.raises(ValueError, match="3 feature rows but 2 confidences"):
        select_diverse(torch.zeros(3, 2), torch.zeros(2), 1)
