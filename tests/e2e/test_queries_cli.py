import bz2
import os

import pytest

from curate.cli import main
from curate.io.wiki import DumpError, iter_articles

gensim = pytest.importorskip("gensim")
DUMP = os.path.join(os.path.dirname(gensim.__file__), "test", "test_data",
                    "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
LOCAL = ["--runner=fnapi", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
PAGE = ("<page><title>T</title><ns>0</ns><id>1</id><revision><text>Hello world</text>"
        "</revision></page>")


def _write(path, data):
    path.write_bytes(data)
    return str(path)


def test_broken_dumps_raise_naming_the_file(tmp_path):
    good = open(DUMP, "rb").read()
    cases = {
        "truncated.xml.bz2": (good[: len(good) // 2], "truncated"),
        "corrupt.xml.bz2": (b"BZh9" + bytes(range(256)) * 8, "corrupt"),
        "malformed.xml.bz2": (bz2.compress(f"<mediawiki>{PAGE}<page><title>x</titl>".encode()), "malformed XML"),
        "unclosed.xml.bz2": (bz2.compress(f"<mediawiki>{PAGE}".encode()), "malformed XML"),
        "notadump.xml": (b"<html><body/></html>", "not a MediaWiki"),
    }
    for name, (data, what) in cases.items():
        path = _write(tmp_path / name, data)
        with pytest.raises(DumpError, match=what) as e:
            list(iter_articles(path))
        assert path in str(e.value)


def test_multistream_dump_reads_every_stream(tmp_path):
    streams = [f"<mediawiki>{PAGE}".encode(), PAGE.replace("T<", "U<").encode(), b"</mediawiki>"]
    path = _write(tmp_path / "multi.xml.bz2", b"".join(bz2.compress(s) for s in streams))
    assert [t for t, _ in iter_articles(path)] == ["T", "U"]


def test_cli_truncated_dump_fails_with_file_name_and_writes_nothing(tmp_path, capsys):
    good = open(DUMP, "rb").read()
    path = _write(tmp_path / "enwiki-part.xml.bz2", good[: len(good) // 3])
    out = tmp_path / "out"
    rc = main(["queries", "build", "--name", "x", "--output", str(out), "--no-wordnet",
               "--wiki-dump", path, *LOCAL])
    err = capsys.readouterr().err
    assert rc == 2 and path in err and "truncated" in err
    assert not (out / "entries.txt").exists()


def test_cli_stats_of_checked_in_sample(capsys):
    folder = os.path.join(os.path.dirname(__file__), "..", "..", "queries", "sample")
    assert main(["queries", "stats", folder]) == 0
    out = capsys.readouterr().out
    assert "wordnet" in out and "wiki_title" in out and "never match" in out
