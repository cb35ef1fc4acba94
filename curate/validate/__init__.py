"""Validation: train a CLIP with open_clip on exported shards, evaluate it zero-shot and by
retrieval, and compare curated data against random subsets (the DataComp protocol)."""
