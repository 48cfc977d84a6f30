"""Scale-out settings: the shard range from SHARD_IDS or CLUSTER_ID/CLUSTER_COUNT, each
mistake refused with one sentence, several model server URLs, the metrics port."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.cli import run
from bot.settings import Settings, cluster_shards

NAMES = ("SHARD_IDS", "SHARD_COUNT", "CLUSTER_ID", "CLUSTER_COUNT", "METRICS_PORT")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env from the work tree


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_cluster_ranges_cover_every_shard_once() -> None:
    """CLUSTER_ID of CLUSTER_COUNT gives contiguous ranges that cover 0..N-1 exactly once,
    the first processes taking one more when N does not divide."""
    assert [cluster_shards(10, i, 3) for i in range(3)] == [
        [0, 1, 2, 3],
        [4, 5, 6],
        [7, 8, 9],
    ]
    for count in range(1, 13):
        for clusters in range(1, count + 1):
            ranges = [cluster_shards(count, i, clusters) for i in range(clusters)]
            assert [shard for part in ranges for shard in part] == list(range(count))


def test_cluster_settings_become_shard_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLUSTER_ID=1 CLUSTER_COUNT=2 SHARD_COUNT=4 from the environment runs shards 2 and 3."""
    monkeypatch.setenv("SHARD_COUNT", "4")
    monkeypatch.setenv("CLUSTER_ID", "1")
    monkeypatch.setenv("CLUSTER_COUNT", "2")
    loaded = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (loaded.shard_count, loaded.shard_ids) == (4, [2, 3])


def test_shard_ids_with_shard_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """SHARD_IDS=1,3 with SHARD_COUNT=4 is taken as given; a single id from the
    environment (SHARD_IDS=3) too."""
    assert settings(shard_count=4, shard_ids="1,3").shard_ids == [1, 3]
    assert settings().shard_ids is None
    monkeypatch.setenv("SHARD_COUNT", "4")
    for raw, ids in (("3", [3]), ("0,1", [0, 1]), ("[2, 3]", [2, 3])):
        monkeypatch.setenv("SHARD_IDS", raw)
        assert Settings(_env_file=None).shard_ids == ids  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("values", "sentence"),
    [
        ({"shard_ids": "0,1"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"shard_count": 2, "shard_ids": "0,2"}, "SHARD_IDS has 2, but with SHARD_COUNT 2"),
        ({"shard_count": 4, "shard_ids": "1,1"}, "SHARD_IDS lists 1 twice"),
        ({"shard_count": 4, "shard_ids": " "}, "SHARD_IDS is empty"),
        ({"cluster_id": 0}, "CLUSTER_ID and CLUSTER_COUNT go together"),
        ({"cluster_id": 0, "cluster_count": 2}, "need SHARD_COUNT"),
        ({"shard_count": 4, "cluster_id": 2, "cluster_count": 2}, "CLUSTER_ID 2 is not below"),
        ({"shard_count": 2, "cluster_id": 0, "cluster_count": 3}, "CLUSTER_COUNT 3 is more"),
        (
            {"shard_count": 4, "shard_ids": "0", "cluster_id": 0, "cluster_count": 2},
            "not both",
        ),
    ],
)
def test_bad_shard_settings_are_refused(values: dict[str, object], sentence: str) -> None:
    """Each inconsistent combination is refused with a sentence saying what to set."""
    with pytest.raises(ValidationError, match=sentence):
        settings(**values)


def test_couplet_run_says_one_sentence_for_a_bad_shard_range(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`couplet run` with SHARD_IDS beyond SHARD_COUNT exits 2 with that one sentence."""
    monkeypatch.setenv("SHARD_COUNT", "2")
    monkeypatch.setenv("SHARD_IDS", "0,5")
    code = run.handle(argparse.Namespace(require_token=True))
    assert code == 2
    err = capsys.readouterr().err
    assert err == "SHARD_IDS has 5, but with SHARD_COUNT 2 shard ids go from 0 to 1.\n"


def test_couplet_run_names_a_shard_list_that_is_not_numbers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SHARD_IDS=a,b is named with the value and what it should look like."""
    monkeypatch.setenv("SHARD_IDS", "a,b")
    assert run.handle(argparse.Namespace(require_token=True)) == 2
    assert capsys.readouterr().err == (
        "SHARD_IDS is not valid: 'a,b' is not a list of shard numbers such as 0,1.\n"
    )


def test_several_base_urls_and_the_metrics_port() -> None:
    """COMPLETIONS_BASE_URL takes several URLs separated by commas; METRICS_PORT is off
    unless set, and must be a port."""
    loaded = settings(completions_base_url="http://a:1/v1, http://b:2/v1/")
    assert loaded.completions_base_urls == ["http://a:1/v1", "http://b:2/v1"]
    assert settings(completions_base_url="http://a:1/v1").completions_base_urls == ["http://a:1/v1"]
    assert settings().metrics_port is None
    assert settings(metrics_port=9100).metrics_port == 9100
    with pytest.raises(ValidationError):
        settings(metrics_port=70000)
