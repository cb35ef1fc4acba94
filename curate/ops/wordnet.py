"""WordNet synset head names for the query list (MetaCLIP ``build_metadata.wordnet_synsets``)."""

from __future__ import annotations

from curate.io.wordnet import prepare_wordnet, synset_names

__all__ = ["head_name", "head_names", "prepare_wordnet", "synset_names"]


def head_name(synset_name: str) -> str:
    """``"hot_dog.n.01"`` -> ``"hot dog"``: the text before the first ".", "_" -> " "."""
    dot = synset_name.find(".")
    return (synset_name if dot < 0 else synset_name[:dot]).replace("_", " ")


def head_names(names) -> list[str]:
    """Distinct head names, sorted."""
    return sorted({head_name(n) for n in names})
