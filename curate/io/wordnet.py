"""WordNet 3.0 for NLTK from the installed Debian packages, and its synset names.

NLTK refuses to read Debian's /usr/share/wordnet directly and Debian ships no ``lexnames``
file, and ``nltk.download`` cannot reach the network here. So the dict files are copied into
``<nltk_data>/corpora/wordnet/`` and the project's own ``curate/data/wordnet_lexnames`` (the
standard 45-line lexicographer file list) is written next to them.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from importlib import resources
from pathlib import Path

from curate import paths

PACKAGES = ("wordnet-base", "wordnet-sense-index")  # the second one is optional
# Files NLTK's WordNetCorpusReader opens (index.sense, cntlist*, etc. are copied when present).
REQUIRED = ("data.noun", "data.verb", "data.adj", "data.adv",
            "index.noun", "index.verb", "index.adj", "index.adv",
            "noun.exc", "verb.exc", "adj.exc", "adv.exc")


def wordnet_dir(nltk_data_dir: str | os.PathLike) -> Path:
    return Path(nltk_data_dir) / "corpora" / "wordnet"


def _dict_files() -> list[str]:
    files: list[str] = []
    for package in PACKAGES:
        try:
            files += [f for f in paths.debian_files(package) if f.startswith("/usr/share/wordnet/")
                      and os.path.dirname(f) == "/usr/share/wordnet"]
        except FileNotFoundError:
            if package == PACKAGES[0]:
                raise
    return files


def prepare_wordnet(nltk_data_dir: str | os.PathLike, dict_files: list[str] | None = None) -> Path:
    """Copy the WordNet dict files into ``<nltk_data_dir>/corpora/wordnet`` and write
    ``lexnames``. Idempotent: files already identical are left alone. Returns the folder."""
    files = _dict_files() if dict_files is None else list(dict_files)
    missing = sorted(set(REQUIRED) - {os.path.basename(f) for f in files})
    if missing:
        raise FileNotFoundError(f"WordNet dict files missing: {missing} (apt-get install wordnet-base)")
    target = wordnet_dir(nltk_data_dir)
    target.mkdir(parents=True, exist_ok=True)
    for src in files:
        dst = target / os.path.basename(src)
        if not (dst.is_file() and filecmp.cmp(src, dst, shallow=False)):
            shutil.copyfile(src, dst)  # copies content: NLTK rejects symlinks
    lexnames = resources.files("curate").joinpath("data/wordnet_lexnames").read_bytes()
    dst = target / "lexnames"
    if not (dst.is_file() and dst.read_bytes() == lexnames):
        dst.write_bytes(lexnames)
    return target


def synset_names(nltk_data_dir: str | os.PathLike | None = None) -> list[str]:
    """Every synset's NLTK name (``dog.n.01``), in NLTK's all_synsets order."""
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = wordnet_dir(nltk_data_dir if nltk_data_dir is not None else paths.nltk_data())
    if not (root / "lexnames").is_file():
        raise FileNotFoundError(
            f"WordNet for NLTK not prepared at {root}; run scripts/setup.sh "
            "(curate.ops.wordnet.prepare_wordnet)"
        )
    import nltk

    data_root = str(root.parent.parent.resolve())
    if data_root not in nltk.data.path:
        nltk.data.path.append(data_root)  # NLTK only reads corpora under its data path
    reader = WordNetCorpusReader(str(root.resolve()), None)
    return [s.name() for s in reader.all_synsets()]
