"""The menus' prompts of the live suite, spoken by espeak-ng and made 8 kHz mono WAV by sox (what Asterisk
plays without transcoding), into the private Asterisk's own sounds folder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PROMPTS = {
    "callrouter-live/menu": "Support, one. New connection, three. Contract number, five.",
    "callrouter-live/contract": "Your contract number, please.",
    "callrouter-live/invalid": "Not in the menu.",
}
"""The sound names tests/live/rules.yaml's menus play, and what each says."""
WHY_NOT = "espeak-ng and sox make the menus' prompts for the live tests: apt-get install -y espeak-ng sox"


def make_prompts(sounds: Path) -> str:
    """Write every prompt under `sounds`; empty when done, else why not."""
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if espeak is None or sox is None:
        return WHY_NOT
    for name, words in PROMPTS.items():
        out = sounds / f"{name}.wav"
        out.parent.mkdir(parents=True, exist_ok=True)
        spoken = out.with_name(out.stem + "-22k.wav")
        subprocess.run([espeak, "-s", "200", "-w", str(spoken), words], check=True, capture_output=True, timeout=30)
        subprocess.run([sox, str(spoken), "-r", "8000", "-c", "1", "-b", "16", str(out)], check=True,
                       capture_output=True, timeout=30)
        spoken.unlink()
    return ""


def private_data(run: Path, prefix: Path) -> Path:
    """An astdatadir of the run's own: the install's folders linked in, and a sounds folder the tests write to."""
    data = run / "data"
    (data / "sounds").mkdir(parents=True, exist_ok=True)
    shared = prefix / "var" / "lib" / "asterisk"
    for entry in shared.iterdir() if shared.is_dir() else ():
        if entry.name != "sounds":
            (data / entry.name).symlink_to(entry)
    for entry in (shared / "sounds").iterdir() if (shared / "sounds").is_dir() else ():
        (data / "sounds" / entry.name).symlink_to(entry)
    return data
