from rldynamics.toy.rl import exact_match_reward
from rldynamics.toy.task import carry_dropped_sum, generate_splits
from rldynamics.toy.tokenizer import build_tokenizer


def test_carry_dropped_sum():
    assert carry_dropped_sum(57, 68) == 15
    assert carry_dropped_sum(12, 34) == 46
    assert carry_dropped_sum(9, 1) == 0


def test_splits_are_disjoint_and_reproducible():
    train, test = generate_splits(2, 300, 50, seed=3)
    assert len(train) == 300 and len(test) == 50
    assert not {i["question"] for i in train} & {i["question"] for i in test}
    assert generate_splits(2, 300, 50, seed=3) == (train, test)
    for item in test:
        a, b = map(int, item["question"].rstrip("=").split("+"))
        assert int(item["answer"]) == a + b


def test_tokenizer_round_trip_is_exact():
    tok = build_tokenizer()
    text = "57+68=125\nWhat is x?"
    assert tok.decode(tok(text)["input_ids"]) == text


def test_reward_is_exact_match_of_first_line():
    assert exact_match_reward(["125", " 125\nfoo", "15", ""], ["125"] * 4) == [1, 1, 0, 0]
