"""The one contract every implementation follows: the phases the benchmarks time, weights in and out in one
shared layout, and which function performs each layer transition (for the line profiler).

Every implementation's train step does the same work: forward, the batch loss (kept for the loss curve),
backward, update. Batches come from :func:`impl.batching.epoch_batches` and are reshuffled every epoch.
"""

from __future__ import annotations

import functools
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from impl.batching import epoch_batches, initial_weights
from impl.config import TrainConfig
from impl.errors import ConfigError, UnavailableError
from impl.phases import PHASE_TABLE

if TYPE_CHECKING:
    from impl.data import Dataset

#: Phases a benchmark can time (the table in :mod:`impl.phases`, which also says which methods each calls). An
#: implementation lists the ones it can time on its own in ``phases``; a phase it does not list needs none of
#: its methods: :class:`Trainer` checks this once, when a named class is defined.
PHASES = tuple(PHASE_TABLE)
#: What :class:`Trainer`'s own compositions call: an implementation that keeps one needs these in turn.
DEFAULT_NEEDS: dict[str, tuple[str, ...]] = {
    "train_step": ("prepare_batch", "forward", "batch_loss", "backward", "update"),
    "forward_backward": ("forward", "backward"),
    "fit": ("train_step",),
}


def _placeholder(method: Callable[..., Any]) -> Callable[..., Any]:
    """A phase method an implementation defines only where it lists a phase that needs it; calling the
    placeholder says which phases this implementation times instead."""
    @functools.wraps(method)
    def refuse(self: Trainer, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{self.name} has no {method.__name__}(): it times only "
                                  f"{', '.join(self.phases)}")
    refuse.placeholder = True  # type: ignore[attr-defined]
    return refuse


@dataclass(frozen=True)
class Transition:
    """The function performing one layer transition. ``layer`` is the value of its first argument that selects
    this transition when one function serves every layer (so the profiler counts only those calls)."""

    function: Callable[..., Any]
    layer: int | None = None


class Reason(str):
    """Why an implementation cannot run here: the full text (with the fix), plus a short form for one-line
    listings (``no GPU``, ``needs extra: torch``). A plain ``str`` is a valid reason too; its short form is
    then its first clause."""

    short: str

    def __new__(cls, text: str, short: str) -> Reason:
        reason = super().__new__(cls, text)
        reason.short = short
        return reason


def needs_extra(extra: str, text: str) -> Reason:
    """A missing optional dependency, installed with the project's extra ``extra``."""
    return Reason(text, f"needs extra: {extra}")


def no_gpu(text: str) -> Reason:
    """No usable GPU; ``text`` says what was checked."""
    return Reason(text, "no GPU")


#: Longest short reason :meth:`Trainer.short_unavailable_reason` derives from a plain string.
SHORT_REASON_MAX = 40


def shorten(reason: str) -> str:
    """The short form of a reason: its own when it has one, else its first clause, cut to fit one line."""
    short = getattr(reason, "short", None)
    if short:
        return short
    first = re.split(r"[;:(]", reason, maxsplit=1)[0].strip() or reason.strip()
    return first if len(first) <= SHORT_REASON_MAX else first[:SHORT_REASON_MAX - 3].rstrip() + "..."


@dataclass
class FitResult:
    """What a training run returns: per-epoch wall times (training work only) and the loss curve."""

    per_epoch_seconds: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)  # mean batch loss of each epoch
    final_learn_rate: float = float("nan")
    #: The framework's own training accuracy of each epoch, as its progress bar prints it (Keras ``fit``: the
    #: running average over the epoch's batches); empty where a trainer does not report one.
    epoch_accuracies: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return float(sum(self.per_epoch_seconds))


class Trainer(ABC):
    """Base class of every implementation. Subclasses with a ``name`` register themselves."""

    name: ClassVar[str] = ""
    workload: ClassVar[str] = "mlp"
    description: ClassVar[str] = ""
    dtype: ClassVar[str] = "float32"
    backend: ClassVar[str] = "numpy"
    device: ClassVar[str] = "cpu"
    #: False where transitions run compiled (a framework, numba): the profiler then refuses with this reason.
    line_profile_refusal: ClassVar[str | None] = None
    #: Set where only the backward transitions are out of reach (autograd's engine runs them): the profiler
    #: refuses ``bw:N`` with this reason and still profiles ``fw:N``.
    backward_profile_refusal: ClassVar[str | None] = None
    #: Phases this implementation can time on its own; the harness reports nothing for the others.
    phases: ClassVar[tuple[str, ...]] = PHASES
    #: Rounds of a full-run benchmark when the user does not choose (None: the harness default, 3); the
    #: slowest variants lower it to keep the default run short.
    full_run_rounds: ClassVar[int | None] = None
    #: False for implementations that use a framework's own training loop and shuffling.
    shared_batch_order: ClassVar[bool] = True
    #: False keeps an implementation out of the default benchmark run (which must fit 15 minutes on 2 cores);
    #: `--impl NAME` or `--full` still selects it.
    in_default_run: ClassVar[bool] = True
    #: Keys of :meth:`run_facts` that are run-time choices changing the work itself (a sigmoid form, a chunk
    #: size): two results whose choices differ measured different work, so `mlp-bench compare` does not pair them.
    identity_facts: ClassVar[tuple[str, ...]] = ()

    registry: ClassVar[dict[str, type[Trainer]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            missing = cls.missing_phase_methods()
            if missing:
                needs = "; ".join(f"{phase} needs {', '.join(methods)}" for phase, methods in missing.items())
                raise TypeError(f"{cls.__name__} ({cls.name}) lists phases whose methods it does not define: {needs}")
            Trainer.registry[cls.name] = cls

    @classmethod
    def missing_phase_methods(cls) -> dict[str, list[str]]:
        """For each listed phase, the methods it needs that neither this class nor a base defines."""
        def provided(method: str) -> bool:
            return not getattr(getattr(cls, method), "placeholder", False)

        def needs(method: str) -> set[str]:
            found = {method}
            if getattr(cls, method) is getattr(Trainer, method):  # Trainer's own composition
                for inner in DEFAULT_NEEDS.get(method, ()):
                    found |= needs(inner)
            return found

        unknown = [phase for phase in cls.phases if phase not in PHASE_TABLE]
        if unknown:
            raise TypeError(f"{cls.__name__} lists unknown phases {unknown}; the phase table has {list(PHASE_TABLE)}")
        missing = {}
        for phase in cls.phases:
            methods = set().union(*(needs(m) for m in PHASE_TABLE[phase].methods))
            absent = sorted(m for m in methods if not provided(m))
            if absent:
                missing[phase] = absent
        return missing

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the implementation can run here, else why not (and how to fix it). Return a
        :class:`Reason` (e.g. :func:`needs_extra`, :func:`no_gpu`) to choose the short form ``mlp-bench list``
        shows; a plain string is shortened to its first clause."""
        return None

    @classmethod
    def layers_refusal(cls, layers: tuple[int, ...]) -> str | None:
        """None when the implementation trains a model of these widths (input, hidden..., output), else why not:
        the benchmark suite skips its cases with the reason. Every MLP here takes any widths and depths; a
        workload with a fixed model (the CNN) is never asked."""
        return None

    @classmethod
    def model_text(cls) -> str:
        """What ``mlp-bench list`` shows of the model it trains: ``--layers`` where the widths are a setting."""
        from impl.workloads import get_workload

        return "--layers" if get_workload(cls.workload).sized else "fixed"

    # -- backends: a framework that runs on several (Keras) is measured on each in its own process ----------
    @classmethod
    def current_backend(cls) -> str:
        """The backend this process would run the implementation on."""
        return cls.backend

    @classmethod
    def default_backend(cls) -> str:
        """The backend results are labelled without a suffix (others read ``name@backend``), whatever this
        process's configuration: ids must be the same in every worker."""
        return cls.backend

    @classmethod
    def backend_choices(cls) -> tuple[str, ...]:
        """Every backend the implementation can be measured on (one process each); most have one."""
        return (cls.current_backend(),)

    @classmethod
    def backend_environment(cls, backend: str) -> dict[str, str]:
        """Environment variables that make a fresh process run the implementation on ``backend``."""
        return {}

    @classmethod
    def unavailable_reason_on(cls, backend: str) -> str | None:
        """Like :meth:`unavailable_reason`, for a process started with ``backend_environment(backend)``."""
        return cls.unavailable_reason()

    @classmethod
    def require_available(cls) -> None:
        """Raise the one-line "is not available here" error when :meth:`unavailable_reason` says why."""
        reason = cls.unavailable_reason()
        if reason:
            raise UnavailableError(f"{cls.name} is not available here: {reason}")

    @classmethod
    def short_unavailable_reason(cls) -> str | None:
        """None when available, else a few words for one line of ``mlp-bench list`` (``--long``: the full one)."""
        reason = cls.unavailable_reason()
        return shorten(reason) if reason else None

    def __init__(self, config: TrainConfig, data: Dataset) -> None:
        self.config = config
        self.data = data
        self.n_train = data.n_train
        self.initial_weights = initial_weights(config.layers, config.seed, config.init)
        self.learn_rate = config.learn_rate
        self.epoch = 0
        self.bookkeeping_s = 0.0  # time of fit's before_step in the current epoch (left out of its wall time)

    # -- phases: only those ``phases`` lists need a method (impl.phases says which) ------------------------------
    @_placeholder
    def prepare_batch(self, idx: np.ndarray) -> Any:
        """Gather the shuffled mini-batch (inputs and targets) in the layout the forward pass wants."""
        raise NotImplementedError  # never runs: _placeholder raises, naming the phases timed

    @_placeholder
    def forward(self, batch: Any) -> Any:
        """Forward pass of one mini-batch; returns the state the loss and the backward pass need."""
        raise NotImplementedError  # never runs: _placeholder raises, naming the phases timed

    @_placeholder
    def batch_loss(self, state: Any, batch: Any) -> float:
        """Loss of the mini-batch (summed log loss plus the regularisers), as a Python float."""
        raise NotImplementedError  # never runs: _placeholder raises, naming the phases timed

    @_placeholder
    def backward(self, state: Any, batch: Any) -> Any:
        """Gradients from the cached forward state."""
        raise NotImplementedError  # never runs: _placeholder raises, naming the phases timed

    @_placeholder
    def update(self, grads: Any) -> None:
        """The seed's momentum update with the current learning rate."""
        raise NotImplementedError  # never runs: _placeholder raises, naming the phases timed

    def forward_backward(self, batch: Any) -> Any:
        state = self.forward(batch)
        return self.backward(state, batch)

    def train_step(self, idx: np.ndarray) -> float:
        """One mini-batch: gather, forward, loss, backward, update. Returns the batch loss."""
        batch = self.prepare_batch(idx)
        state = self.forward(batch)
        loss = self.batch_loss(state, batch)
        self.update(self.backward(state, batch))
        return loss

    # -- training ------------------------------------------------------------------------------------------
    def batches(self, epoch: int) -> list[np.ndarray]:
        return epoch_batches(self.config.seed, epoch, self.n_train, self.config.batch_size, self.config.shuffle)

    def run_epoch(self, before_step: Callable[[np.ndarray], None] | None = None) -> float:
        """One epoch: decay the learning rate as the seed does, then every mini-batch. Returns the mean loss.
        ``before_step(idx)`` runs before each mini-batch (bookkeeping); its time is kept in ``bookkeeping_s``."""
        self.learn_rate /= 1.0 + self.config.decrease_rate * self.epoch
        losses = []
        for idx in self.batches(self.epoch):
            if before_step is not None:
                start = time.perf_counter()
                before_step(idx)
                self.bookkeeping_s += time.perf_counter() - start
            losses.append(self.train_step(idx))
        self.epoch += 1
        return float(np.mean(losses))

    def fit(self, epochs: int | None = None, on_epoch: Callable[[int, float, float], None] | None = None,
            before_step: Callable[[np.ndarray], None] | None = None) -> FitResult:
        """Train for ``epochs`` (default: the config's); each epoch's wall time covers training work only (the
        time of ``before_step``, bookkeeping such as the articles' batch accuracy, is left out)."""
        result = FitResult()
        for _ in range(self.config.epochs if epochs is None else epochs):
            self.bookkeeping_s = 0.0
            start = time.perf_counter()
            loss = self.run_epoch(before_step)
            seconds = time.perf_counter() - start - self.bookkeeping_s
            result.per_epoch_seconds.append(seconds)
            result.epoch_losses.append(loss)
            if on_epoch is not None:
                on_epoch(self.epoch, seconds, loss)
        result.final_learn_rate = self.learn_rate
        return result

    def warm_up(self) -> None:
        """One untimed train step (tracing/compilation, first-touch page faults, BLAS threads), then reset.
        The harness times this call by hand and reports it apart from steady state."""
        self.train_step(self.batches(0)[0])
        self.reset()

    def reset(self) -> None:
        """Back to the initial weights, zero momentum, the initial learning rate and epoch 0."""
        self.set_weights(self.initial_weights)
        self.learn_rate = self.config.learn_rate
        self.epoch = 0

    @abstractmethod
    def accuracy(self, split: str) -> float:
        """Accuracy on the whole ``"train"`` or ``"test"`` set (never inside a timed region)."""

    # -- weights in the shared layout ---------------------------------------------------------------------
    @abstractmethod
    def get_weights(self) -> list[np.ndarray]:
        """float64 copies in the seed's layout: W_N of shape (n_{N+1}, n_N + 1), bias in column 0."""

    @abstractmethod
    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Load weights in the seed's layout and zero the momentum."""

    @_placeholder
    def gradients_as_arrays(self, grads: Any) -> list[np.ndarray]:
        """Gradients from :meth:`backward` as float64 arrays in the seed's layout."""
        raise NotImplementedError  # never runs: _placeholder raises, naming the phases timed

    def check_layout(self, weights: list[np.ndarray]) -> None:
        """Weights must come in the seed layout, W_N of shape (n_{N+1}, n_N + 1); else a one-line error."""
        layers = self.config.layers
        expected = [(n_out, n_in + 1) for n_in, n_out in zip(layers[:-1], layers[1:], strict=True)]
        got = [np.shape(W) for W in weights]
        if got != expected:
            raise ConfigError(f"{self.name}: weight shapes {got} do not match the layout {expected}")

    def batch_shapes(self) -> list[np.ndarray]:
        """One batch of each size an epoch has (a smaller last batch is a second shape): what a compiled
        implementation warms up on, so no compilation falls into a timed region."""
        return list({len(b): b for b in self.batches(0)}.values())

    # -- profiling ----------------------------------------------------------------------------------------
    def transitions(self) -> dict[str, Transition]:
        """``fw:N`` (layer N-1 into N, N=1..3) and ``bw:N`` (layer N+1 to N, N=0..2) -> the function doing it
        (no ``bw:N`` where ``backward_profile_refusal`` says why)."""
        return {}

    @classmethod
    def summary(cls) -> dict[str, Any]:
        return {"impl": cls.name, "workload": cls.workload, "dtype": cls.dtype, "backend": cls.backend,
                "device": cls.device, "model": cls.model_text(), "description": cls.description}
