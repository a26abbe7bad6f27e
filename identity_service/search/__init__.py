"""Search index adapters: approximate nearest-neighbour search over template codes (faiss)."""
