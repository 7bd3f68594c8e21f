"""Reading a user's .npz file: every way it can be wrong is one ValueError naming the file and what is wrong."""
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["read_npz"]


def read_npz(path, what, hint):
    """The arrays of the .npz at ``path`` by name. ``what`` names the file in messages ("weights file"), ``hint``
    says what to give instead; no such file, a folder, an empty, truncated or damaged file, another format or
    pickled objects are each one ValueError."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{what} {path} does not exist ({hint})")
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder ({hint})")
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:   # numpy leaks its own file on errors
            return {k: f[k] for k in f.files}
    except (EOFError, OSError, TypeError, ValueError, AttributeError, zipfile.BadZipFile) as e:
        reason = "empty" if path.stat().st_size == 0 else "truncated or damaged" if isinstance(
            e, (EOFError, zipfile.BadZipFile)) else "not an .npz archive"
        raise ValueError(f"{what} {path} is {reason} ({hint})") from None
