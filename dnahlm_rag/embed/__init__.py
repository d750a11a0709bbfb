"""Embeddings for retrieval: DNA (canonical k-mer profiles, or our GPT-2's hidden states), text
(all-MiniLM-L6-v2), and their fusion into one query vector. See each module's docstring."""
from .fusion import FusedEmbedder, FusionConfig, parse_spec
from .kmer import KmerConfig, KmerEmbedder

__all__ = ["FusedEmbedder", "FusionConfig", "KmerConfig", "KmerEmbedder", "parse_spec"]
