"""Near-duplicate check for the corpus source files (character 3-gram Jaccard).

Usage: python data/corpus/check_dupes.py data/corpus/src/*.tsv
Prints counts per label and every pair with Jaccard > 0.8; exit 1 when any pair is found.
"""

import sys
import unicodedata
from collections import Counter, defaultdict


def shingles(text: str) -> frozenset[str]:
    t = unicodedata.normalize("NFKC", text).replace("\\n", "").replace(" ", "")
    return frozenset(t[i : i + 3] for i in range(max(1, len(t) - 2)))


def main(paths: list[str]) -> int:
    rows: list[tuple[str, str, str]] = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.rstrip("\n")
                if lineno == 1 and line.startswith("label\t"):
                    continue
                if not line.strip():
                    continue
                label, _, text = line.partition("\t")
                if not text:
                    print(f"{path}:{lineno}: no TAB / empty text")
                    continue
                rows.append((f"{path}:{lineno}", label, text))
    print(Counter(r[1] for r in rows))
    sh = [shingles(r[2]) for r in rows]
    # candidate pairs via an inverted index on shingles (cheap enough for a few thousand texts)
    index: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sh):
        for g in s:
            index[g].append(i)
    bad = 0
    seen: set[tuple[int, int]] = set()
    for i, s in enumerate(sh):
        overlap: Counter[int] = Counter()
        for g in s:
            for j in index[g]:
                if j > i:
                    overlap[j] += 1
        for j, inter in overlap.items():
            union = len(s) + len(sh[j]) - inter
            if union and inter / union > 0.8 and (i, j) not in seen:
                seen.add((i, j))
                bad += 1
                print(f"NEAR-DUP {inter/union:.2f}\n  {rows[i][0]} {rows[i][2][:80]}\n  {rows[j][0]} {rows[j][2][:80]}")
    print(f"{len(rows)} texts, {bad} near-duplicate pairs")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
