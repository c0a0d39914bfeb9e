"""gradcheck: tells you whether your hand-written backprop is right, and if not, where and why."""

from .backprop import backprop, forward
from .check import assert_network, check_network
from .compare import ATOL, RTOL, CheckResult, ElementBlame, TensorCheck
from .errors import GradcheckError, ImplError, SpecError
from .numeric import numeric_gradient
from .shapes import trace_shapes
from .spec import Spec, load_spec

__version__ = "0.1.0"

__all__ = [
    "load_spec", "Spec", "trace_shapes", "forward", "backprop", "numeric_gradient",
    "check_network", "assert_network", "CheckResult", "TensorCheck", "ElementBlame",
    "RTOL", "ATOL", "GradcheckError", "SpecError", "ImplError", "__version__",
]
