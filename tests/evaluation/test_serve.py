"""`serve`: our model behind OpenAI's API. `evaluate --model openai:NAME --base-url` against it gives the
predictions of evaluating the RUN dir in process; a real `openai` client call works; bad requests and a
port in use are one line."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time

import pandas as pd
import pytest

from contracts.errors import UserError, run_cli
from evaluation.config import EvalConfig, ServeConfig
from evaluation.run import evaluate


@pytest.fixture(scope="module")
def mirrored_run(tmp_path_factory):
    """A RUN dir of the untrained tiny model, trained (as its config says) with mirrored images."""
    from contracts import run_layout
    from phi3v.loading import load_model

    run = tmp_path_factory.mktemp("serve") / "tiny-run"
    model, processor = load_model("tiny", seed=5)
    model.save_pretrained(run / run_layout.MODEL_DIR)
    processor.save_pretrained(run / run_layout.MODEL_DIR)
    (run / run_layout.CONFIG_FILE).write_text(json.dumps({"train": {"model": "tiny", "mirror": True}}))
    return run


@pytest.fixture
def served(mirrored_run, monkeypatch):
    """`serve --model RUN` on a free loopback port, in a thread of this process."""
    from evaluation.serve import build_server

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = build_server(
        ServeConfig(model=str(mirrored_run), port=0, quiet=True, device="cpu", batch_size=4)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.uvicorn.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield server
    server.stop()
    thread.join(timeout=30)


def _cfg(data, **kw):
    values = {"data": str(data), "baselines": "none", "bootstrap": 50, "wandb": "off", "quiet": True,
              "max_new_tokens": 6, "device": "cpu"}  # fmt: skip
    return EvalConfig(**(values | kw))


@pytest.mark.slow
def test_evaluating_the_server_gives_the_in_process_predictions(eval_dataset, mirrored_run, served, tmp_path):
    """Every row's answer through serve and the openai client equals the answer of the RUN dir evaluated in
    process (mirrored decoding both times, as the run was trained)."""
    here = evaluate(_cfg(eval_dataset, model=(str(mirrored_run),), batch_size=5))
    assert here.document["speed"]["mirror"] is True
    there = evaluate(_cfg(eval_dataset, model=(f"openai:{served.name}",), base_url=served.url, concurrency=6,
                          no_cache=True))  # fmt: skip
    assert served.name == "tiny-run"
    mine = [r["answers"]["tiny-run"] for r in here.rows]
    assert [r["answers"]["openai:tiny-run"] for r in there.rows] == mine
    assert len(set(mine)) > 1, "the random model must answer differently, or equality proves little"
    assert there.document["systems"][0]["answered"] == 12


@pytest.mark.slow
def test_an_openai_client_gets_a_chat_completion(eval_dataset, served):
    """The openai package's own client lists the model and gets an answer in the chat.completion shape."""
    import openai

    from contracts.dataset.reader import read_split

    client = openai.OpenAI(base_url=served.url, api_key="unused")
    assert [m.id for m in client.models.list()] == ["tiny-run"]
    image = open(read_split(eval_dataset, "test")["image_path"][0], "rb").read()  # noqa: SIM115
    url = "data:image/jpeg;base64," + base64.b64encode(image).decode()
    response = client.chat.completions.create(
        model="tiny-run",
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                               {"type": "text", "text": "What is shown in this image?"}]}],
        max_tokens=5,
        temperature=0,
    )  # fmt: skip
    assert response.object == "chat.completion" and response.model == "tiny-run"
    assert (
        isinstance(response.choices[0].message.content, str) and response.choices[0].finish_reason == "stop"
    )
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="other", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="exactly one image_url part"):
        client.chat.completions.create(model="tiny-run", messages=[{"role": "user", "content": "hi"}])
    http = "https://example.com/x.jpg"
    with pytest.raises(openai.BadRequestError, match="base64 data URL"):
        client.chat.completions.create(
            model="tiny-run",
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": http}}]}],
        )
    broken = "data:image/jpeg;base64," + base64.b64encode(b"not an image").decode()
    with pytest.raises(openai.BadRequestError, match="cannot read the image"):
        client.chat.completions.create(
            model="tiny-run",
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": broken}}]}],
        )


def test_serve_on_a_port_in_use_is_one_line_exit_2(capsys):
    """Another process listens on the port: one line naming --port, exit 2, before any model loads."""
    from evaluation.cli_serve import command

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        with pytest.raises(SystemExit) as exc:
            run_cli(command, ["--model", "no-such-preset", "--port", str(port)])
    finally:
        holder.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1
    assert (
        err[0] == f"error: port {port} on 127.0.0.1 is in use: choose another --port (or stop what holds it)"
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "--model is required"),
        ({"model": "oracle"}, "cannot be served"),
        ({"model": "openai:x"}, "an endpoint is served already"),
    ],
)
def test_serve_settings_are_checked(kwargs, match):
    with pytest.raises(UserError, match=match):
        ServeConfig(**kwargs)


def test_a_baseline_is_served_from_the_train_split(eval_dataset):
    """A baseline needs --data: without it one line; with it, it answers like in evaluate."""
    from evaluation.serve import build_server

    with pytest.raises(UserError, match="baseline majority needs a train split"):
        build_server(ServeConfig(model="majority", port=0, quiet=True))
    server = build_server(ServeConfig(model="majority", port=0, quiet=True, data=str(eval_dataset)))
    try:
        from contracts.dataset.reader import read_split
        from evaluation.data import IMAGE_BYTES, EvalSet

        rows = pd.DataFrame({IMAGE_BYTES: [b"x"]})
        train = read_split(eval_dataset, "train")
        answers = server.system.answer(EvalSet(rows=rows, split="requests", train=train))
        expected = evaluate(_cfg(eval_dataset, model=("majority",), limit=1)).rows[0]["answers"]["majority"]
        assert answers.texts == [expected]
    finally:
        server.sock.close()
