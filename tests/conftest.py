"""Test-wide settings: nothing reaches beyond 127.0.0.1 (no hub downloads, no update checks,
no runner-binary downloads), and Beam runs in-process unless a test asks otherwise."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_DISABLED", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from curate.runner import in_process_args  # noqa: E402


@pytest.fixture
def beam_args():
    """Flags for a fast, single-process local Beam run."""
    return in_process_args()
