"""How right are the rewriters on real training code nobody tuned for? Rewrites right / wrong / missed per repo.

    python benchmarks/rewriter_corpus.py                      # corpus in /work/corpus (NPUPORT_CORPUS)
    python benchmarks/rewriter_corpus.py --extract /work/.mirror   # first build it from git mirrors

The corpus is three public codebases at pinned commits (benchmarks/data/corpus_expectations.json: repos), never
committed here: pytorch/examples' ImageNet trainer, facebookresearch/detr and CSAILVision's
semantic-segmentation-pytorch. `--extract ROOT` writes each one's tree at its commit from a bare mirror
ROOT/<owner>+<name>/repo (what the session's fetch tool makes) with `git archive`, .py / .yaml / .json only.

Each site in the expectations was read by hand: a rewrite `npuport port` makes is `right` (same meaning on
cuda, npu and cpu) or `wrong`; a place the rules should find and do not is `missed`; a hand-checked report
(a site for a hand) is `right` when it points at a real problem. The run compares what port/scan do today:
a rewrite with no expectation is `unchecked`, an expected site that is gone is `lost`, a `missed` site that is
now found is `now found` (update the file). tests/test_rewriter_corpus.py runs the same check.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from npuport.commands.scan import port, scan  # noqa: E402

EXPECTATIONS = Path(__file__).resolve().parent / "data" / "corpus_expectations.json"
DEFAULT_CORPUS = Path(os.environ.get("NPUPORT_CORPUS", "/work/corpus"))
MARKER = ".npuport-corpus-commit"


def load(path: Path = EXPECTATIONS) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def tree(corpus: Path, repo: dict) -> Path:
    """Where a repo's tree lies in the corpus (its subdir, when only part of it is the benchmark)."""
    return corpus / repo["dir"] / repo.get("subdir", "")


def present(corpus: Path, repo: dict) -> bool:
    """The repo is extracted at the expected commit."""
    marker = corpus / repo["dir"] / MARKER
    return marker.is_file() and marker.read_text().strip() == repo["commit"]


def extract(corpus: Path, mirrors: Path, repo: dict) -> None:
    """The repo's .py / .yaml / .json files at its commit, from a bare mirror, through `git archive`."""
    git_dir = mirrors / repo["dir"] / "repo"
    names = subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", repo["commit"]],
                           check=True, capture_output=True, text=True).stdout.split("\n")
    wanted = [n for n in names if n.endswith((".py", ".yaml", ".yml", ".json"))]
    archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", repo["commit"], "--", *wanted],
                             check=True, capture_output=True).stdout
    target = corpus / repo["dir"]
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    (target / MARKER).write_text(repo["commit"] + "\n")


def evaluate(corpus: Path, data: dict) -> dict[str, tuple[Counter, list]]:
    """Per repo: counts of right / wrong / missed (as expected today) and unchecked / lost / now found (the file
    is out of date), and the unchecked rewrites (file, line, rule)."""
    results: dict[str, tuple[Counter, list]] = {}
    for repo in data["repos"]:
        root = tree(corpus, repo)
        expected = {(e["file"], e["line"], e["rule"]): e for e in data["sites"] if e["repo"] == repo["name"]}
        fixes = {(c.file, c.line, c.rule) for c in port(root, workers=1).changes if c.fixable}
        found = {(s.file, s.line, s.rule) for s in scan(root, workers=1).sites}
        count: Counter = Counter()
        unchecked = sorted(key for key in fixes if key not in expected)
        count["unchecked"] = len(unchecked)
        for key in fixes - set(unchecked):
            count[expected[key]["expected"]] += 1
        for key, entry in expected.items():
            if entry["expected"] == "missed":
                count["now found" if key in found else "missed"] += 1
            elif entry["kind"] == "report":
                count[f"report {entry['expected']}" if key in found and key not in fixes else "lost"] += 1
            elif key not in fixes:
                count["lost"] += 1
        results[repo["name"]] = (count, unchecked)
    return results


def stale(results: dict[str, tuple[Counter, list]]) -> list[str]:
    """What makes the expectations out of date (empty when today's rules do what the file says)."""
    return [f"{name}: {n} {what}" for name, (count, _) in results.items()
            for what in ("unchecked", "lost", "now found") if (n := count.get(what, 0))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--extract", type=Path, metavar="MIRRORS", help="first extract the repos from bare mirrors")
    args = parser.parse_args()
    data = load()
    for repo in data["repos"]:
        if args.extract:
            extract(args.corpus, args.extract, repo)
        if not present(args.corpus, repo):
            sys.exit(f"{args.corpus / repo['dir']}: {repo['name']} at {repo['commit'][:12]} is not there; "
                     "run with --extract MIRRORS (bare git mirrors) first")
    results = evaluate(args.corpus, data)
    print(f"{'repo':48}{'right':>7}{'wrong':>7}{'missed':>8}{'reports ok':>12}{'unchecked':>11}")
    for repo in data["repos"]:
        c = results[repo["name"]][0]
        label = repo["name"] + (f" ({repo['subdir']})" if repo.get("subdir") else "")
        print(f"{label:48}{c['right']:7}{c['wrong']:7}{c['missed']:8}{c['report right']:12}{c['unchecked']:11}")
    for line in stale(results):
        print(f"out of date: {line}")
    for name, (_, unchecked) in results.items():
        for key in unchecked:
            print(f"unchecked: {name} {key}")
    sys.exit(1 if stale(results) else 0)


if __name__ == "__main__":
    main()
