"""PyTorch's CPU fallback for what Apple's MPS lacks: set on macOS before torch loads.

torch reads PYTORCH_ENABLE_MPS_FALLBACK once, when it loads, so charlm sets it (unless the user
did) when charlm is imported, which is before torch unless torch was imported first.
MPS_FALLBACK_SEEN is the value this process's torch read (None: unset); charlm/train.py says it
when a run uses MPS.
"""

import os
import sys

MPS_FALLBACK = "PYTORCH_ENABLE_MPS_FALLBACK"

_preset = os.environ.get(MPS_FALLBACK)
if sys.platform == "darwin" and _preset is None:
    os.environ[MPS_FALLBACK] = "1"
MPS_FALLBACK_SEEN = _preset if "torch" in sys.modules else os.environ.get(MPS_FALLBACK)
