"""What any ranker could reach on the correlation scenarios: a reference for the engine's figures.

    python -m bench correlation --dump=/tmp/candidates.jsonl          # the project's venv
    python -m venv /tmp/ceiling && /tmp/ceiling/bin/pip install numpy scikit-learn lightgbm
    /tmp/ceiling/bin/python bench/_ceiling.py /tmp/candidates.jsonl    # that venv: not a project dependency

From the dump (every labelled and sampled no-change alert's top 40 candidates, on the fit seeds and the
evaluation seeds), it fits on the fit seeds and scores on the evaluation seeds, as ``--fit`` and the benchmark do:

- gradient-boosted trees (LightGBM; binary and lambdarank) over every feature the engine computes and what they
  were made of (minutes, hops, direction, kind, the magnitude notes, the failed and health evidence): a flexible
  ranker with nothing hidden from it;
- the same trees fitted on the evaluation seeds themselves (in-sample: an optimistic bound, not a result);
- the share of labelled alerts whose cause is among the candidates at all (no ranker over the candidates can
  place a cause it never sees in the top 3);
- abstention: the AUC of the trees' top score, and of an alert-level logistic regression over the top scores.

Printed next to the engine's own P@1 and AUC on the same candidates.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from typing import Any

import lightgbm as lgb  # type: ignore[import-not-found]
import numpy as np  # type: ignore[import-not-found]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-not-found]
from sklearn.metrics import roc_auc_score  # type: ignore[import-not-found]

KINDS = "deploy rollback config secret feature_flag scale autoscale ci commit infra db_migration custom".split()
DIRECTIONS = ["self", "down", "up", "mixed", "none"]
NOTES = ("major version", "minor version", "patch version", "version downgraded", "image changed", "cut)", "keys")
COMPONENTS = ("time", "fresh", "early", "graph", "risk", "path", "failed", "health")


def features(row: dict[str, Any]) -> list[float]:
    notes = " ".join(row["magnitude"])
    c = row["components"]
    return [
        row["minutes"],
        float(row["hops"]),
        float(DIRECTIONS.index(row["direction"])),
        float(KINDS.index(row["kind"]) if row["kind"] in KINDS else len(KINDS)),
        *(float(c.get(name, 0.0)) for name in COMPONENTS),
        *(float(n in notes) for n in NOTES),
    ]


Key = tuple[int, int]  # (seed, alert)


def read(path: str) -> tuple[dict[Key, list[dict[str, Any]]], dict[Key, tuple[bool, bool]]]:
    """Each alert's candidates, and whether it is on a fit seed and change-caused."""
    groups: dict[Key, list[dict[str, Any]]] = defaultdict(list)
    meta: dict[Key, tuple[bool, bool]] = {}
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            key = (row["seed"], row["alert"])
            meta[key] = (row["fit"], row["caused"])
            if not row.get("empty"):
                groups[key].append(row)
    return groups, meta


def precision(groups: dict, keys: list, score: Any, k: int = 1) -> float:
    hits = 0
    for key in keys:
        rows = groups[key]
        if rows:
            order = np.argsort(-np.asarray(score(rows)), kind="stable")[:k]
            hits += any(rows[i]["y"] for i in order)
    return hits / max(1, len(keys))


def main(path: str) -> None:
    groups, meta = read(path)
    fit_keys = [k for k in meta if meta[k][0]]
    eval_keys = [k for k in meta if not meta[k][0]]
    labelled = [k for k in eval_keys if meta[k][1]]

    def matrix(keys: list) -> tuple[Any, Any, list[int]]:
        rows = [r for k in keys for r in groups[k]]
        return (
            np.array([features(r) for r in rows]),
            np.array([r["y"] for r in rows]),
            [len(groups[k]) for k in keys if groups[k]],
        )

    engine = lambda rows: [r["score"] for r in rows]  # noqa: E731
    found = sum(any(r["y"] for r in groups[k]) for k in labelled) / len(labelled)
    print(f"labelled alerts (evaluation seeds): {len(labelled)}; cause among the top 40 candidates: {found:.3f}")
    print(f"engine: P@1 {precision(groups, labelled, engine):.3f}, P@3 {precision(groups, labelled, engine, 3):.3f}")
    cats = [2, 3]
    x, y, sizes = matrix(fit_keys)
    models = {
        "trees (binary), fitted on other seeds": lgb.LGBMClassifier(
            verbose=-1, n_estimators=300, learning_rate=0.05, num_leaves=15, min_child_samples=20
        ).fit(x, y, categorical_feature=cats),
        "trees (lambdarank), fitted on other seeds": lgb.LGBMRanker(
            verbose=-1, n_estimators=300, learning_rate=0.05, num_leaves=15
        ).fit(x, y, group=sizes, categorical_feature=cats),
    }
    xe, ye, _ = matrix([k for k in labelled if groups[k]])
    models["trees (binary), fitted on the evaluation seeds (in-sample, optimistic)"] = lgb.LGBMClassifier(
        verbose=-1, n_estimators=300, learning_rate=0.05, num_leaves=15, min_child_samples=20
    ).fit(xe, ye, categorical_feature=cats)
    for name, model in models.items():

        def score(rows: list, model: Any = model) -> Any:
            x = np.array([features(r) for r in rows])
            return model.predict_proba(x)[:, 1] if hasattr(model, "predict_proba") else model.predict(x)

        print(f"{name}: P@1 {precision(groups, labelled, score):.3f}, P@3 {precision(groups, labelled, score, 3):.3f}")
    trees = models["trees (binary), fitted on other seeds"]

    def tops(keys: list, score: Any) -> Any:
        out = []
        for k in keys:
            p = np.sort(np.asarray(score(groups[k]))) if groups[k] else np.zeros(1)
            out.append([p[-1], p[-2] if len(p) > 1 else 0.0, p[-5:].sum()])
        return np.array(out)

    tree_score = lambda rows: trees.predict_proba(np.array([features(r) for r in rows]))[:, 1]  # noqa: E731
    caused_eval = np.array([meta[k][1] for k in eval_keys])
    for name, score in (("engine", engine), ("trees", tree_score)):
        print(
            f"abstention AUC, top score of the {name}: {roc_auc_score(caused_eval, tops(eval_keys, score)[:, 0]):.3f}"
        )
    alert_level = LogisticRegression(max_iter=1000).fit(
        tops(fit_keys, tree_score), np.array([meta[k][1] for k in fit_keys])
    )
    auc = roc_auc_score(caused_eval, alert_level.decision_function(tops(eval_keys, tree_score)))
    print(f"abstention AUC, alert-level regression over the trees' top scores: {auc:.3f}")


if __name__ == "__main__":
    main(sys.argv[1])
