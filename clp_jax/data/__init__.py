"""Input: corpora on disk -> grain pipelines -> batches for the mesh."""
