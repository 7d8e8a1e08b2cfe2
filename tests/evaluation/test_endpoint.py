"""`--model openai:NAME --base-url URL` against a local server that answers, waits and fails on purpose:
images as data URLs, requests in flight, retries, unanswered rows with their reasons, the response cache, and
one line for a server that cannot be used."""

from __future__ import annotations

import json

import pytest

from benchmarks.local_endpoint import FakeEndpoint, answer_for, image_digest
from contracts.errors import UserError, run_cli
from contracts.task import FOREIGN_PROMPT
from evaluation.cli import group
from evaluation.config import EvalConfig
from evaluation.run import evaluate

MODEL = "openai:fake-vlm"


def _cfg(data, server, tmp_path, **kw):
    values = {
        "model": (MODEL,),
        "data": str(data),
        "base_url": server.url if server else "http://127.0.0.1:9/v1",
        "baselines": "none",
        "bootstrap": 50,
        "wandb": "off",
        "quiet": True,
        "retries": 2,
        "cache_dir": str(tmp_path / "cache"),
    }
    return EvalConfig(**(values | kw))


@pytest.fixture
def server(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with FakeEndpoint() as s:
        yield s


def test_every_row_is_one_request_with_the_image_as_a_data_url(eval_dataset, server, tmp_path):
    """Each row: one chat completion with the row's image bytes as a base64 data URL, then the prompt;
    temperature 0 and a token limit; the server's answers land in predictions.jsonl, in row order."""
    from contracts.dataset.reader import read_split

    result = evaluate(_cfg(eval_dataset, server, tmp_path, report=str(tmp_path / "r"), max_new_tokens=40))
    assert server.behaviour.requests == 12
    body = server.behaviour.bodies[0]
    assert body["temperature"] == 0 and body["max_tokens"] == 40 and body["model"] == "fake-vlm"
    image, text = body["messages"][0]["content"]
    assert image["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert text == {"type": "text", "text": FOREIGN_PROMPT}
    split = read_split(eval_dataset, "test")
    assert image_digest(image["image_url"]["url"]) in {image_digest_of(eval_dataset, i) for i in range(12)}
    for i, row in enumerate(result.rows):
        assert row["answers"][MODEL] == answer_for(image_digest_of(eval_dataset, i))
    assert len(split) == 12
    system = result.document["systems"][0]
    assert system["kind"] == "endpoint" and system["base_url"] == server.url and system["answered"] == 12
    assert result.document["metrics"]["parse_rate"]["value"] == 1.0


def test_requests_in_flight_follow_concurrency(eval_dataset, server, tmp_path):
    """--concurrency 4 keeps up to 4 requests in flight, never more."""
    server.behaviour.delay_s = 0.05
    evaluate(_cfg(eval_dataset, server, tmp_path, concurrency=4))
    assert server.behaviour.max_in_flight == 4


def test_429s_and_5xx_are_retried_with_backoff(eval_dataset, server, tmp_path):
    """Every image's first two attempts get a 429 (then a 503): the client retries, every row is answered."""
    server.behaviour.fail_first = 2
    result = evaluate(_cfg(eval_dataset, server, tmp_path, retries=2))
    assert all(n == 3 for n in server.behaviour.attempts.values()) and len(server.behaviour.attempts) == 12
    assert result.document["systems"][0]["unanswered"] == 0
    server.behaviour.attempts.clear()
    server.behaviour.fail_status = 503
    result = evaluate(_cfg(eval_dataset, server, tmp_path, retries=2, no_cache=True))
    assert result.document["systems"][0]["unanswered"] == 0


def test_a_row_whose_retries_run_out_is_unanswered_with_its_reason(eval_dataset, server, tmp_path):
    """Rows that keep failing count as unanswered (scored as wrong), each with its reason in
    predictions.jsonl; the run goes on and a note says how many."""
    server.behaviour.delay_s = 0.0
    result = evaluate(_cfg(eval_dataset, server, tmp_path, report=str(tmp_path / "r")))
    failing = {image_digest_of(eval_dataset, i) for i in (1, 4)}
    server.behaviour.always_fail, server.behaviour.fail_status = frozenset(failing), 500
    result = evaluate(
        _cfg(eval_dataset, server, tmp_path, report=str(tmp_path / "r2"), no_cache=True, retries=1)
    )
    rows = [json.loads(line) for line in (tmp_path / "r2" / "predictions.jsonl").read_text().splitlines()]
    assert [r["index"] for r in rows if r["answers"][MODEL] is None] == [1, 4]
    assert rows[1]["unanswered"][MODEL].startswith("HTTP 500: ") and "unanswered" not in rows[0]
    assert (
        result.document["systems"][0]["unanswered"] == 2 and result.document["systems"][0]["answered"] == 10
    )
    assert any("left 2 of 12 rows unanswered" in n for n in result.document["notes"])
    assert rows[1]["scores"][MODEL]["category_correct"] is False


def image_digest_of(data, i):
    import hashlib
    from pathlib import Path

    from contracts.dataset.reader import read_split

    return hashlib.sha256(Path(read_split(data, "test")["image_path"][i]).read_bytes()).hexdigest()[:12]


def test_no_row_answered_is_an_error_and_nothing_is_written(eval_dataset, server, tmp_path):
    server.behaviour.fail_first, server.behaviour.fail_status = 100, 500
    with pytest.raises(UserError, match="openai:fake-vlm answered none of the 12 rows \\(HTTP 500"):
        evaluate(_cfg(eval_dataset, server, tmp_path, retries=0, report=str(tmp_path / "r")))
    assert not (tmp_path / "r").exists()


def test_the_cache_asks_only_what_is_missing(eval_dataset, server, tmp_path):
    """Answers are stored as they arrive: after a run that left rows unanswered (a dying server), the next run
    asks only those; a rerun asks nothing; --no-cache asks everything again."""
    server.behaviour.always_fail = frozenset(image_digest_of(eval_dataset, i) for i in (0, 2, 3))
    server.behaviour.fail_status = 502
    first = evaluate(_cfg(eval_dataset, server, tmp_path, retries=0))
    assert first.document["systems"][0]["unanswered"] == 3 and server.behaviour.requests == 12
    server.behaviour.always_fail, server.behaviour.requests = frozenset(), 0
    second = evaluate(_cfg(eval_dataset, server, tmp_path))
    assert server.behaviour.requests == 3 and second.document["systems"][0]["unanswered"] == 0
    assert second.document["systems"][0]["speed"]["cached"] == 9
    server.behaviour.requests = 0
    third = evaluate(_cfg(eval_dataset, server, tmp_path))
    assert server.behaviour.requests == 0 and [r["answers"] for r in third.rows] == [
        r["answers"] for r in second.rows
    ]
    evaluate(_cfg(eval_dataset, server, tmp_path, no_cache=True))
    assert server.behaviour.requests == 12


def test_a_torn_last_cache_line_is_asked_again(eval_dataset, server, tmp_path):
    """A run killed while writing its last cache line: that row is asked again, the others are not."""
    evaluate(_cfg(eval_dataset, server, tmp_path))
    (cache,) = (tmp_path / "cache").glob("*.jsonl")
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    server.behaviour.requests = 0
    evaluate(_cfg(eval_dataset, server, tmp_path))
    assert server.behaviour.requests == 1


def test_the_key_comes_from_openai_api_key(eval_dataset, server, tmp_path, monkeypatch):
    """A server that wants a key: OPENAI_API_KEY is sent; without it (or with a wrong one), one line naming
    the variable, before any row is sent."""
    server.behaviour.key = "sk-test"
    with pytest.raises(UserError, match="401 Unauthorized\\): set OPENAI_API_KEY$"):
        evaluate(_cfg(eval_dataset, server, tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    with pytest.raises(UserError, match="set OPENAI_API_KEY to a key it accepts"):
        evaluate(_cfg(eval_dataset, server, tmp_path))
    assert server.behaviour.requests == 0
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert evaluate(_cfg(eval_dataset, server, tmp_path)).document["systems"][0]["answered"] == 12


def test_an_unknown_model_name_is_one_line_before_any_row(eval_dataset, server, tmp_path):
    with pytest.raises(UserError, match="serves no model 'other' \\(it serves: fake-vlm\\): fix --model"):
        evaluate(_cfg(eval_dataset, server, tmp_path, model=("openai:other",), report=str(tmp_path / "r")))
    assert server.behaviour.requests == 0 and not (tmp_path / "r").exists()


def test_a_server_without_a_model_list_is_used_with_a_note(eval_dataset, server, tmp_path):
    server.behaviour.list_models = False
    result = evaluate(_cfg(eval_dataset, server, tmp_path))
    assert result.document["systems"][0]["answered"] == 12
    assert any("lists no models" in n for n in result.document["notes"])


def test_an_unreachable_base_url_is_one_line_exit_2(eval_dataset, tmp_path, capsys):
    """Nothing listens there: one line naming --base-url, exit 2, no report."""
    argv = [
        "--model",
        MODEL,
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--data",
        str(eval_dataset),
        "--baselines",
        "none",
        "--no-wandb",
        "--report",
        str(tmp_path / "r"),
        "--cache-dir",
        str(tmp_path / "c"),
    ]
    with pytest.raises(SystemExit) as exc:
        run_cli(group, argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1
    assert (
        err[0].startswith("error: cannot reach --base-url http://127.0.0.1:9/v1")
        and "start the server" in err[0]
    )
    assert not (tmp_path / "r").exists()


def test_base_url_without_an_openai_model_is_refused(eval_dataset):
    with pytest.raises(UserError, match="--base-url cannot apply"):
        evaluate(EvalConfig(model=("majority",), data=str(eval_dataset), base_url="http://x/v1", wandb="off"))
