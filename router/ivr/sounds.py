"""Whether the menus' prompts exist as sound files: `router check --sounds DIR`.

Asterisk plays `custom/main-menu` as the first file it finds of `DIR/LANG/custom/main-menu.EXT` and
`DIR/custom/main-menu.EXT` (DIR its sounds folder, /var/lib/asterisk/sounds on Debian; EXT any
format it has a module for); an absolute name is looked up as it is.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from router.core.rules import Problem, RuleSet

FORMATS = frozenset({"wav", "WAV", "wav16", "gsm", "ulaw", "alaw", "ul", "al", "sln", "sln8", "sln16", "sln48",
                     "raw", "g722", "g729", "g723", "g726", "ilbc", "siren7", "siren14", "vox", "ogg", "opus"})
"""File extensions Asterisk's format modules read."""


def _names_in(folder: Path) -> set[str]:
    """Sound names (without extension) of the files directly in `folder`."""
    try:
        return {p.stem for p in folder.iterdir() if p.is_file() and p.suffix[1:] in FORMATS}
    except OSError:
        return set()


def _folders(sounds: Path, sound: str) -> list[Path]:
    """Where Asterisk looks for `sound`: its own folder, and the same under each language folder."""
    relative = Path(sound)
    if relative.is_absolute():
        return [relative.parent]
    try:
        languages = [p for p in sounds.iterdir() if p.is_dir() and len(p.name) <= 6 and p.name.isalpha()]
    except OSError:
        languages = []
    return [sounds / relative.parent, *(lang / relative.parent for lang in languages)]


def missing_sounds(sounds: Path):
    """The check `load_rules(more=…)` runs: one problem per prompt with no sound file, with "did you mean"."""

    def check(rs: RuleSet) -> list[Problem]:
        problems: list[Problem] = []
        for name, menu in rs.menus.items():
            for path, sound in menu.prompt_names():
                stem = Path(sound).name
                folders = _folders(sounds, sound)
                if any(stem in _names_in(f) for f in folders):
                    continue
                near = sorted(set().union(*(_names_in(f) for f in folders)))
                close = difflib.get_close_matches(stem, near, n=1, cutoff=0.6)
                hint = f"; did you mean {str(Path(sound).parent / close[0]).removeprefix('./')!r}?" if close else ""
                problems.append(Problem(("menus", name, *path), f"no sound file {sound}.* under {sounds}{hint}"))
        return problems

    return check
