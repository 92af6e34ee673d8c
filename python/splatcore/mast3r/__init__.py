"""MASt3R: checkpoint loading (``weights``) and, when built, the model (``Model``)."""
from .weights import (  # noqa: F401
    FILENAME,
    FULL_CONFIG,
    HF_REPO,
    WeightsReport,
    add_tied_aliases,
    check_weights,
    download,
    expected_shapes,
    find_weights,
    load_weights,
)
from .._core import SafetensorsFile  # noqa: F401

try:  # the model lives in .model; this package stays importable without it
    from .model import Model  # noqa: F401
except ImportError as _e:  # pragma: no cover - depends on what is built
    _model_import_error = _e
