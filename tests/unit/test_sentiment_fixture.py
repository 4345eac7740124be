"""The tiny sentiment pair of the `fix` tests measures generalisation: no text is repeated anywhere in it."""

from __future__ import annotations

import pytest

from muscle_guard.testing.sentiment import NEW_NEVER_SAW, OLD_NEVER_SAW, sentiment_data


@pytest.mark.parametrize("seed", range(5))
def test_every_text_is_unique_across_adapters_fix_data_and_held_out(seed: int) -> None:
    data = sentiment_data(seed)
    parts = (data.old_adapter, data.new_adapter, data.fix, data.heldout)
    texts = [text for part in parts for text, _ in part]
    assert len(texts) == len(set(texts))  # so one text can move a held-out flip count by 1, never by a copy count
    assert not any(word in text.split() for text, _ in data.old_adapter for word in OLD_NEVER_SAW)
    assert not any(word in text.split() for text, _ in data.new_adapter for word in NEW_NEVER_SAW)
    # The regression's source, the words the new adapter never saw, is well represented in the held-out suite.
    regressed = [text for text, _ in data.heldout if set(text.split()) & set(NEW_NEVER_SAW)]
    assert len(regressed) >= 40


def test_the_data_follows_the_seed() -> None:
    assert sentiment_data(3) == sentiment_data(3)
    assert sentiment_data(3).heldout != sentiment_data(4).heldout
