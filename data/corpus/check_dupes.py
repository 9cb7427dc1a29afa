"""Near-duplicate check for the corpus source files (character-3-gram Jaccard > 0.8).

Usage: .venv/bin/python data/corpus/check_dupes.py
Prints counts per label and every near-duplicate pair; exit status 1 when any pair is found.
The same check runs in the test suite (tests/classifier/test_corpus.py).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from classifier.corpus import (  # noqa: E402
    NEAR_DUPLICATE_JACCARD,
    label_counts,
    load_corpus,
    near_duplicates,
)


def main() -> int:
    examples = load_corpus()
    for label, count in label_counts(examples).items():
        print(f"{label:<15} {count:5}")
    print(f"{'total':<15} {len(examples):5}")
    pairs = near_duplicates(examples)
    for jaccard, a, b in pairs:
        print(
            f"NEAR-DUPLICATE {jaccard:.2f}\n  {a.source} {a.text[:80]}\n  {b.source} {b.text[:80]}"
        )
    print(f"{len(pairs)} near-duplicate pairs (Jaccard > {NEAR_DUPLICATE_JACCARD})")
    return 1 if pairs else 0


if __name__ == "__main__":
    sys.exit(main())
