"""The results stage: FPS from the per-iteration metrics, results.json, the comparison table, progress."""
