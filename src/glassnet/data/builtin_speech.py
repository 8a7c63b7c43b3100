"""`builtin:spoken-digits`: digit strings and short commands spoken by Debian's espeak-ng
in many voices, accents, speeds and pitches, with noise; the test split is spoken in
accents never heard in training.

Written as the `transcripts.csv` layout a user would supply (FLAC clips at 16 kHz), in
`train/` and `test/`. Needs the `espeak-ng` program (`sudo apt-get install espeak-ng`):
nothing is downloaded.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from glassnet.data.builtin import BuiltinDataset, register_dataset
from glassnet.errors import DataError

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
TRAIN_ACCENTS = ("en", "en-us", "en-gb-x-rp", "en-029", "en-gb-x-gbclan")
TEST_ACCENTS = ("en-gb-scotland", "en-gb-x-gbcwmd", "en-us-nyc")  # never heard in training
# voice variants (espeak-ng's +name): timbre and gender. "en-gb+VARIANT" ignores the
# variant (shared/notes/espeak-ng.md), so plain "en" stands for British English here.
VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")


def espeak() -> str:
    found = shutil.which("espeak-ng")
    if found is None:
        raise DataError(
            "builtin:spoken-digits is synthesised with espeak-ng, which is not installed",
            fix="Install it (Debian/Ubuntu: sudo apt-get install espeak-ng), or train on your "
            "own recordings",
        )
    return found


def _sentence(rng: np.random.Generator) -> str:
    if rng.random() < 0.7:
        return " ".join(DIGITS[int(d)] for d in rng.integers(0, 10, int(rng.integers(1, 6))))
    return " ".join(COMMANDS[int(c)] for c in rng.integers(0, 10, int(rng.integers(1, 3))))


def _speak(program: str, text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    import soundfile as sf
    from scipy.signal import resample_poly

    wav = subprocess.run(
        [program, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    samples, rate = sf.read(io.BytesIO(wav), dtype="float32")
    g = np.gcd(int(rate), 16_000)
    return resample_poly(samples, 16_000 // g, int(rate) // g).astype(np.float32)


def make_spoken_digits(directory: str | Path, n: int = 3000, seed: int = 0) -> Path:
    """Write n utterances: 80 % in the training accents (train/), 20 % in the held-out
    accents (test/), each folder with its transcripts.csv."""
    directory = Path(directory)
    import soundfile as sf

    program = espeak()
    rng = np.random.default_rng(seed)
    jobs = []
    for i in range(n):
        held_out = i >= int(0.8 * n)
        accents = TEST_ACCENTS if held_out else TRAIN_ACCENTS
        accent = accents[int(rng.integers(len(accents)))]
        variant = VARIANTS[int(rng.integers(len(VARIANTS)))]
        jobs.append(
            {
                "split": "test" if held_out else "train",
                "name": f"{i:05d}.flac",
                "text": _sentence(rng),
                "voice": accent + (f"+{variant}" if variant else ""),
                "speed": int(rng.integers(120, 210)),
                "pitch": int(rng.integers(20, 80)),
                "gain": float(rng.uniform(0.3, 1.0)),
                "snr_db": float(rng.uniform(15, 40)),
                "pad": (int(rng.integers(0, 4000)), int(rng.integers(0, 4000))),
                "noise_seed": int(rng.integers(2**31)),
            }
        )

    def render(job: dict) -> np.ndarray:
        clean = _speak(program, job["text"], job["voice"], job["speed"], job["pitch"])
        clean = np.pad(clean, job["pad"]) * job["gain"]
        power = float(np.mean(clean**2)) or 1e-8
        noise = np.random.default_rng(job["noise_seed"]).normal(
            0, np.sqrt(power / 10 ** (job["snr_db"] / 10)), clean.shape
        )
        return np.clip(clean + noise, -1, 1).astype(np.float32)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        clips = list(pool.map(render, jobs))  # espeak-ng runs as processes: threads suffice
    rows: dict[str, list[str]] = {"train": [], "test": []}
    for job, clip in zip(jobs, clips, strict=True):
        folder = directory / job["split"]
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / job["name"], clip, 16_000, format="FLAC")
        rows[job["split"]].append(f"{job['name']},{job['text']},{job['voice']}")
    for split, lines in rows.items():
        (directory / split / "transcripts.csv").write_text(
            "path,text,voice\n" + "\n".join(lines) + "\n", encoding="utf-8"
        )
    return directory


register_dataset(
    BuiltinDataset(
        "spoken-digits",
        "speech",
        "3 000 digit strings and commands spoken by espeak-ng (needs espeak-ng); the test "
        "split's accents are never heard in training",
        make_spoken_digits,
    )
)
