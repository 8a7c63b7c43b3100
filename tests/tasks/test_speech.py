"""Speech: log-mel features equal a formula written out here; CTC decoding of hand-made
frame scores gives the known strings; every bad-audio case says which file; a short run
on spoken digits (espeak-ng) clears a bar; predict / evaluate / explain / serve."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import glassnet
from glassnet.data.audio import log_mel
from glassnet.data.speech_sets import check_audio, read_speech
from glassnet.errors import DataError
from glassnet.tasks.ctc import greedy, prefix_beam

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (sudo apt-get install espeak-ng); `make test` installs "
    "it where apt is available",
)


def test_log_mel_equals_the_formula() -> None:
    """librosa-style: reflect-padded frames, periodic Hann window, |rfft|^2, HTK-scale
    triangular filters from 0 Hz to Nyquist (peaks 1, no area normalisation), log(x+1e-6)."""
    t = np.arange(32_000) / 16_000
    rng = np.random.default_rng(0)
    x = 0.3 * np.sin(2 * np.pi * (200 + 400 * t) * t) + 0.05 * rng.normal(size=t.shape)
    ours = log_mel(torch.from_numpy(x.astype(np.float32)), 64).numpy()
    n_fft, hop, rate, n_mels = 400, 160, 16_000, 64
    padded = np.pad(x, n_fft // 2, mode="reflect")
    count = 1 + (len(padded) - n_fft) // hop
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.stack([padded[i * hop : i * hop + n_fft] * window for i in range(count)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2

    def mel(f: np.ndarray) -> np.ndarray:
        return 2595 * np.log10(1 + f / 700)

    def hz(m: np.ndarray) -> np.ndarray:
        return 700 * (10 ** (m / 2595) - 1)

    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    e = hz(np.linspace(mel(np.array(0.0)), mel(np.array(rate / 2)), n_mels + 2))
    bank = np.maximum(
        0,
        np.minimum(
            (freqs - e[:-2, None]) / (e[1:-1, None] - e[:-2, None]),
            (e[2:, None] - freqs) / (e[2:, None] - e[1:-1, None]),
        ),
    )
    reference = np.log(power @ bank.T + 1e-6)
    assert ours.shape == reference.shape == (201, 64)
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_ctc_decoding_of_a_hand_made_posteriorgram() -> None:
    # classes: 0 blank, 1 'a', 2 'b'; frames spell "a a _ a b b" -> "aab"
    frames = [1, 1, 0, 1, 2, 2]
    logp = np.full((len(frames), 3), np.log(0.05))
    for t, c in enumerate(frames):
        logp[t, c] = np.log(0.9)
    assert greedy(logp) == [1, 1, 2]
    assert prefix_beam(logp, beam=4) == [1, 1, 2]


def test_beam_search_finds_what_greedy_misses() -> None:
    """Two frames where the best single path is blank-blank (0.36), yet 'a' spelt three
    ways (a_, _a, aa) adds up to 0.64: greedy says nothing, the beam says 'a'."""
    p = np.array([[0.6, 0.4], [0.6, 0.4]])
    assert greedy(np.log(p)) == []
    assert prefix_beam(np.log(p), beam=3) == [1]


def _wav(path: Path, seconds: float = 0.5, rate: int = 16_000, channels: int = 1) -> Path:
    samples = np.random.default_rng(0).normal(0, 0.1, (int(seconds * rate), channels))
    sf.write(path, samples.astype(np.float32), rate)
    return path


def test_bad_audio_is_named(tmp_path: Path) -> None:
    d = tmp_path / "clips"
    d.mkdir()
    _wav(d / "good.wav")
    _wav(d / "long.wav", seconds=3.0)
    (d / "fake.wav").write_text("not audio")
    sf.write(d / "empty.wav", np.zeros((0, 1), np.float32), 16_000)
    _wav(d / "stereo44.wav", rate=44_100, channels=2)
    _wav(d / "orphan.wav")
    (d / "transcripts.csv").write_text(
        "path,text\ngood.wav,one\nlong.wav,two\nfake.wav,three\nempty.wav,four\n"
        "stereo44.wav,five\n",
        encoding="utf-8",
    )
    data = read_speech(d)["all"]
    assert any("orphan.wav" in n for n in data.notes)  # audio without a transcript
    with pytest.raises(DataError) as failed:
        check_audio(data.items, data.source, max_seconds=2.0, skip_bad=False)
    message = str(failed.value)
    assert "fake.wav: not audio" in message and "empty.wav: empty" in message
    assert "long.wav: 3.0 s, longer than --max-seconds 2" in message
    check = check_audio(data.items, data.source, max_seconds=2.0, skip_bad=True)
    assert len(check.good) == 2
    notes = " ".join(check.notes)
    assert "44100 Hz x1" in notes and "mixed down to mono" in notes and "skipped 3 clip" in notes
    (d / "transcripts.csv").write_text("path,text\ngone.wav,six\n", encoding="utf-8")
    with pytest.raises(DataError, match="gone.wav"):
        read_speech(d)


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from glassnet.data.builtin_speech import make_spoken_digits

    return make_spoken_digits(tmp_path_factory.mktemp("speech") / "digits", n=900, seed=3)


@pytest.fixture(scope="session")
def heard(digits: Path, tmp_path_factory: pytest.TempPathFactory) -> glassnet.api.Run:
    out = tmp_path_factory.mktemp("asr") / "run"
    return glassnet.train("speech", str(digits), epochs=12, batch_size=16, quiet=True, out=out)


pytestmark = pytest.mark.xdist_group("speech")


@needs_espeak
def test_a_short_run_hears_digits_in_unheard_accents(heard: glassnet.api.Run) -> None:
    test = heard.metrics["test"]  # the test folder: accents never heard in training
    assert test["cer"] < 0.5 and test["wer"] < 0.8, test


@needs_espeak
def test_predict_evaluate_explain_serve(heard: glassnet.api.Run, digits: Path) -> None:
    clips = sorted((digits / "test").glob("*.flac"))[:3]
    said = heard.predict([str(c) for c in clips])
    assert list(said.columns) == ["source", "transcript"] and len(said) == 3
    beamed = heard.predict([str(c) for c in clips], beam=4)
    assert len(beamed) == 3
    scores = heard.evaluate(str(digits), report=True)
    assert {"wer", "cer"} <= set(scores) and scores["n"] == 180
    worst = scores["report"]["worst"]  # the utterances to listen to first
    assert len(worst) == 10 and [w["cer"] for w in worst] == sorted(
        (w["cer"] for w in worst), reverse=True
    )
    assert {"clip", "reference", "hypothesis"} <= set(worst[0]) and worst[0]["clip"].endswith(
        ".flac"
    )
    views = {v.name: v for v in heard.explain(str(clips[0]), sanity="weights").views}
    assert {"asr-alignment", "asr-memory", "asr-saliency"} <= set(views)
    assert "trustworthy" in views["asr-saliency"].checks
    from fastapi.testclient import TestClient

    from glassnet.serve import create_app

    client = TestClient(create_app({"asr": heard}))
    answer = client.post(
        "/v1/models/asr/predict", files=[("files", ("c.flac", clips[0].read_bytes(), "audio/flac"))]
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["transcript"] == said["transcript"].iloc[0]


def test_the_data_set_says_how_to_get_espeak(monkeypatch: pytest.MonkeyPatch) -> None:
    from glassnet.data import builtin_speech

    monkeypatch.setattr(builtin_speech.shutil, "which", lambda name: None)
    with pytest.raises(DataError, match="apt-get install espeak-ng"):
        builtin_speech.espeak()


def test_cli_help_lists_the_beam(workdir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "glassnet", "predict", "--help"], capture_output=True, text=True
    )
    assert "--beam" in done.stdout and "speech" in done.stdout


def test_a_character_prior_settles_what_the_sound_leaves_open() -> None:
    """Frames say 'a', then 'b' or 'c' (c slightly louder), then 'c'. Alone, the search hears
    'ac'; with a trigram prior fitted on transcripts that always say 'abc', it hears 'abc'."""
    from glassnet.tasks.ctc import CharNgram, prefix_beam

    def frame(probs: dict[int, float]) -> list[float]:
        row = [1e-4] * 4
        for k, v in probs.items():
            row[k] = v
        return row

    logp = np.log(np.array([frame({1: 0.98}), frame({2: 0.45, 3: 0.53}), frame({3: 0.98})]))
    assert prefix_beam(logp, 8) == [1, 3]
    prior = CharNgram.fit([[1, 2, 3]] * 20, classes=4)
    assert prior.logp((1,), 2) > prior.logp((1,), 3)
    again = CharNgram.from_state(json.loads(json.dumps(prior.to_state())))  # plain JSON
    assert prefix_beam(logp, 8, prior=again, weight=1.0) == [1, 2, 3]


@needs_espeak
def test_evaluate_decodes_with_the_options_it_is_given(
    heard: glassnet.api.Run, digits: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recogniser searches when it decodes, after the forward pass: evaluate must still be
    inside its decode options then (`--beam` was once silently ignored there)."""
    seen: list[tuple[int, float]] = []
    original = heard.task.transcripts

    def spy(outputs: dict) -> list[str]:
        seen.append((heard.task.decoding.beam, heard.task.decoding.prior))
        return original(outputs)

    monkeypatch.setattr(heard.task, "transcripts", spy)
    heard.evaluate(str(digits / "test"), beam=3, prior=0.2)
    assert seen and set(seen) == {(3, 0.2)}
