import pytest

from curate import config as cfg


def test_yaml_round_trip(tmp_path):
    c = cfg.from_dict({"input": "pool.parquet", "output": "out", "stages": {"ingest": {"max_text_chars": 100}}})
    p = tmp_path / "c.yaml"
    p.write_text(cfg.dump(c))
    assert cfg.load(str(p)) == c


@pytest.mark.parametrize(
    "d, message",
    [
        ({"input": "p", "output": "o", "stages": {"nope": {}}}, "unknown stage"),
        ({"input": "p", "output": "o", "stages": {"ingest": {"max_text_char": 1}}}, "unknown keys"),
        ({"input": "p", "output": "o", "stages": {"ingest": {"max_text_chars": 0}}}, "max_text_chars must be >= 1"),
        ({"input": "p", "output": "o", "rows_per_shard": 0}, "rows_per_shard"),
        ({"input": "p", "output": "o", "bogus": 1}, "unknown top-level keys"),
        ({"input": "p", "output": "o", "stages": {"dedup_text": {"max_cluster_size": -1}}}, "dedup_text.max_cluster_size must be >= 0"),
        ({"input": "p", "output": "o", "stages": {"dedup_images": {"other_captions": "drop"}}}, "dedup_images.other_captions must be exact, remove or keep"),
    ],
)
def test_bad_configs_name_the_field(d, message):
    with pytest.raises(ValueError, match=message):
        cfg.from_dict(d)
