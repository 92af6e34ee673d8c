"""MASt3R: checkpoint files (``weights``), image preprocessing (``preprocess``) and,
when built, the model (``Model``, ``load``).

    import splatcore.mast3r as m3
    model = m3.load(m3.download(), dtype="float16")   # or m3.load("model.safetensors")
    images = m3.load_images("photos/")                 # dust3r's load_images(size=512)
    out = model.infer_pair(images[0], images[1])       # {"view1": {...}, "view2": {...}}
"""
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
from .preprocess import IMAGE_EXTENSIONS, PreprocessedImage, load_images, preprocess  # noqa: F401
from .._core import SafetensorsFile  # noqa: F401

try:  # the model lives in .model; this package stays importable without it
    from .model import Model, check_state_dict, load, normalize_image  # noqa: F401
except ImportError as _e:  # pragma: no cover - depends on what is built
    _model_import_error = _e
