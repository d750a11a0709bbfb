"""dnahlm-rag: ask natural-language questions about DNA.

A GPT-2 pretrained here on DNA and English (one byte-level BPE tokenizer), instruction-tuned on
DNA tasks, used as the generator of a retrieval-augmented pipeline over annotated genomes.

Coordinates inside the code are 0-based, half-open ``[start, end)`` unless a docstring says
otherwise. Nothing is downloaded from a model hub at run time: the hub is switched off here.
"""
import os as _os

# Offline by design: no model or data hub is contacted at run time.
_os.environ.setdefault("HF_HUB_OFFLINE", "1")
_os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
_os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
