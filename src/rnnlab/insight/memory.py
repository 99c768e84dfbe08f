"""Long-memory tasks, generated on the fly: where a vanilla RNN forgets and gated cells hold.

**Adding** (Hochreiter & Schmidhuber 1997; the form of Le, Jaitly & Hinton 2015): each of T steps
reads two numbers, a value u_t ~ U[0, 1) and a marker m_t in {0, 1}; exactly two steps are
marked, one in the first half and one in the second. After the last step the network must output
the sum of the two marked values. Always answering 1.0 (the mean of the sum) gives MSE
Var(u + u') = 2/12 ≈ 0.167: the trivial baseline.

**Copy** (Hochreiter & Schmidhuber 1997; Arjovsky, Shah & Bengio 2016): the network reads S = 10
symbols from K = 8, then T blanks, the last of which is a "go" marker, then S more blanks, and
must output the S symbols, in order, during those last S steps. Only the recall steps are scored
(cross-entropy in nats); a network without memory can do no better than guessing, ln K ≈ 2.079.

A run trains one network with Adam and gradient-norm clipping on fresh random batches, scores it
on a fixed held-out set of sequences, and stops when the time budget is spent or the task is
solved: loss at most :data:`SOLVED` times the baseline. It "beats the baseline" at a loss below
:data:`BEATEN` times the baseline. A non-finite loss or gradient norm stops it before the update
(it "diverged"), so its score is that of the last finite weights.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.checkpoint import write_json
from rnnlab.checks import check_choice
from rnnlab.insight.networks import NetworkSettings, NetworkSpec
from rnnlab.limits import GRAPH_BYTES_PER_UNIT_STEP, require_memory
from rnnlab.modes import evaluating
from rnnlab.plots import line_plot
from rnnlab.settings import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    RunSettings,
    setting,
    task_settings,
)
from rnnlab.training.loop import Diverged, Loop

SOLVED = 0.1  # fraction of the baseline loss at or below which a task counts as solved
BEATEN = 0.9  # fraction of the baseline loss below which a run beats the baseline
LENGTHS = (10, 25, 50, 100, 200)  # the default ladder of --sweep


class AddingTask:
    """Inputs (B, T, 2): value and marker; target (B,): the sum of the two marked values."""

    name = "adding"
    input_size, output_size = 2, 1
    baseline = 1.0 / 6.0  # MSE of always answering 1.0
    unit = "MSE"

    def batch(self, size: int, length: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        if length < 2:
            raise ValueError(f"the adding task needs length >= 2, got {length}")
        values = torch.rand(size, length, generator=generator)
        half = length // 2
        first = torch.randint(0, half, (size,), generator=generator)
        second = torch.randint(half, length, (size,), generator=generator)
        markers = torch.zeros(size, length)
        rows = torch.arange(size)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        target = values[rows, first] + values[rows, second]
        return torch.stack([values, markers], dim=-1), target

    def readout(self, output: Tensor) -> Tensor:
        """The hidden state after the last step, (B, 1, H)."""
        return output[:, -1:]

    def loss(self, prediction: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(prediction.reshape(-1), target)

    def accuracy(self, prediction: Tensor, target: Tensor) -> float | None:
        return None


class CopyTask:
    """Inputs (B, S+T+S, K+2) one-hot: S symbols, T-1 blanks, "go", S blanks; targets (B, S)."""

    name = "copy"
    unit = "nats"

    def __init__(self, symbols: int = 8, count: int = 10) -> None:
        self.symbols, self.count = symbols, count
        self.input_size, self.output_size = symbols + 2, symbols
        self.baseline = math.log(symbols)

    def batch(self, size: int, length: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        if length < 1:
            raise ValueError(f"the copy task needs length >= 1, got {length}")
        blank, go, S = self.symbols, self.symbols + 1, self.count
        data = torch.randint(0, self.symbols, (size, S), generator=generator)
        ids = torch.full((size, S + length + S), blank, dtype=torch.long)
        ids[:, :S] = data
        ids[:, S + length - 1] = go
        return F.one_hot(ids, self.input_size).float(), data

    def readout(self, output: Tensor) -> Tensor:
        """The hidden states of the S recall steps, (B, S, H)."""
        return output[:, -self.count :]

    def loss(self, prediction: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(prediction.reshape(-1, self.output_size), target.reshape(-1))

    def accuracy(self, prediction: Tensor, target: Tensor) -> float | None:
        return float((prediction.argmax(-1) == target).float().mean())


TASKS = {"adding": AddingTask, "copy": CopyTask}


def make_task(name: str) -> AddingTask | CopyTask:
    check_choice("task", name, TASKS)
    return TASKS[name]()


class MemoryNet(nn.Module):
    """A recurrent layer and a linear read-out at the steps the task scores."""

    def __init__(self, task, spec: NetworkSpec, hidden_size: int, forget_bias=None) -> None:
        super().__init__()
        self.task = task
        self.rnn = spec.recurrent(
            task.input_size, hidden_size, forget_bias=forget_bias, batch_first=True
        )
        self.head = nn.Linear(hidden_size, task.output_size)

    def forward(self, x: Tensor) -> Tensor:
        output, _ = self.rnn(x)
        return self.head(self.task.readout(output))


@dataclass
class MemoryResult:
    """One network trained on one task at one length."""

    task: str
    network: str
    length: int
    steps: int
    seconds: float
    loss: float
    baseline: float
    accuracy: float | None
    settings: dict
    #: (step, seconds, held-out loss) at each evaluation
    history: list[tuple[int, float, float]] = field(default_factory=list)
    #: the update whose loss or gradient was not finite, where the run stopped (None: it did not)
    diverged: int | None = None

    @property
    def ratio(self) -> float:
        """Held-out loss as a fraction of the trivial baseline's."""
        return self.loss / self.baseline

    @property
    def solved(self) -> bool:
        return self.ratio <= SOLVED

    @property
    def beats_baseline(self) -> bool:
        return self.ratio < BEATEN

    @property
    def verdict(self) -> str:
        if self.solved:
            return "solved"
        if self.diverged is not None:
            return f"diverged at step {self.diverged}"
        return "beats baseline" if self.beats_baseline else "no better"

    def to_json(self) -> dict:
        return asdict(self) | {
            "ratio": self.ratio,
            "solved": self.solved,
            "beats_baseline": self.beats_baseline,
            "verdict": self.verdict,
        }


class MemoryRun(Loop):
    """One network trained on one task at one length, on the shared loop: fresh random batches,
    a constant learning rate (AdamW without weight decay is Adam), the held-out set scored every
    ``eval_every`` updates (one pass; and once before training), finished once solved or once
    a held-out loss at a pass's end is not finite (``blown_up`` then names that step)."""

    FINAL_LR = 1.0  # no decay: the rate the memory-task papers use, throughout

    def __init__(
        self,
        task,
        spec: NetworkSpec,
        length: int,
        settings: RunSettings,
        *,
        hidden_size: int,
        forget_bias: float | None,
        eval_every: int,
        steps: int | None,
        test_size: int,
        progress: bool,
    ) -> None:
        self.task, self.length, self.eval_every = task, length, eval_every
        super().__init__(
            settings,
            lambda: MemoryNet(task, spec, hidden_size, forget_bias),
            eval_every,
            total_steps=steps,
            echo=lambda line: None,
            progress=progress,
        )
        self.generator = torch.Generator().manual_seed(settings.seed)
        test = task.batch(test_size, length, torch.Generator().manual_seed(10_000 + settings.seed))
        self.test_x, self.test_y = (t.to(self.device) for t in test)
        self.evaluation()  # the untrained network's score, at step 0

    @property
    def loss(self) -> float:
        """The held-out loss at the last evaluation."""
        return self.records[-1]["loss"]

    def batches(self):
        for _ in range(self.eval_every):
            yield self.task.batch(self.settings.batch_size, self.length, self.generator)

    def batch_loss(self, batch) -> Tensor:
        x, y = (t.to(self.device) for t in batch)
        return self.task.loss(self.model(x), y)

    def evaluate(self, final: bool = False) -> tuple[float, float | None]:
        with evaluating(self.model):
            prediction = self.model(self.test_x)
            loss = float(self.task.loss(prediction, self.test_y))
        return loss, self.task.accuracy(prediction, self.test_y)

    def scores(self, report: tuple[float, float | None]) -> dict[str, float]:
        return {"loss": report[0]}

    @property
    def blown_up(self) -> int | None:
        """The first step that ended a pass with a held-out loss that is not finite."""
        for record in self.records:
            step = record["step"]
            if step > 0 and step % self.eval_every == 0 and not math.isfinite(record["loss"]):
                return step
        return None

    def finished(self) -> bool:
        return self.blown_up is not None or self.loss / self.task.baseline <= SOLVED

    def progress_line(self, loss: float, seconds: float) -> str:
        task = self.task
        return f"{task.name} T={self.length} loss {self.loss:.4f} baseline {task.baseline:.3f}"


RUN_BUDGET = 60.0  # seconds of one network's training
SWEEP_BUDGET = 600.0  # seconds of a whole sweep
LENGTH = 100  # T, when none is asked for
LENGTHS = (10, 25, 50, 100, 200)  # a sweep's ladder
TEST_SIZE = 1000  # held-out sequences
EVAL_EVERY = 50  # updates between held-out scores


@task_settings()
class MemorySettings(NetworkSettings):
    """How each network is trained on a memory task: Adam (AdamW without weight decay) at a
    constant rate, the gradient norm clipped, for a budget or ``steps`` updates."""

    batch_size: int = setting(64, "sequences per batch", POSITIVE_INT, group="memory")
    lr: float = setting(1e-3, "Adam's learning rate", POSITIVE, group="memory")
    clip: float = setting(1.0, "gradient-norm clip", NON_NEGATIVE, group="memory")
    steps: int | None = setting(
        None, "stop each run after N updates", POSITIVE_INT, group="memory", shown=""
    )


def train_memory(
    task_name: str,
    spec: NetworkSpec,
    length: int,
    settings: MemorySettings | None = None,
    *,
    budget: float = RUN_BUDGET,
    progress: bool = False,
    **given,
) -> MemoryResult:
    """Train ``spec`` on the task at ``length`` until ``budget`` seconds (or ``steps`` updates)
    are spent or it is solved; return its held-out score."""
    s = settings or MemorySettings(**given)
    task = make_task(task_name)
    require_memory(  # the training graph of a batch and the outputs of the test set
        (s.batch_size * GRAPH_BYTES_PER_UNIT_STEP + TEST_SIZE * 4) * length * s.hidden_size,
        f"the {task_name} task at length {length:,} with {s.hidden_size} hidden units",
    )
    run_settings = RunSettings(
        batch_size=s.batch_size,
        lr=s.lr,
        weight_decay=0.0,
        warmup=1,
        clip=s.clip,
        budget=None if s.steps is not None else budget,
        seed=s.seed,
        precision="float32",
    )
    run = MemoryRun(
        task,
        spec,
        length,
        run_settings,
        hidden_size=s.hidden_size,
        forget_bias=s.forget_bias,
        eval_every=EVAL_EVERY,
        steps=s.steps,
        test_size=TEST_SIZE,
        progress=progress,
    )
    diverged = None
    try:
        run.fit()
    except Diverged as error:  # stopped before the update: the weights are the last finite ones
        diverged = error.step
    if run.records[-1]["step"] != run.step:
        run.evaluation()
    recorded = {
        "hidden_size": s.hidden_size,
        "batch_size": s.batch_size,
        "optimizer": "adam",
        "lr": s.lr,
        "clip": s.clip,
        "forget_bias": s.forget_bias if spec.cell == "lstm" else None,
        "test_size": TEST_SIZE,
        "seed": s.seed,
    }
    return MemoryResult(
        task.name,
        spec.name,
        length,
        run.step,
        run.elapsed,
        run.loss,
        task.baseline,
        run.report[1],
        recorded,
        [(r["step"], r["elapsed"], r["loss"]) for r in run.records],
        diverged or run.blown_up,
    )


def sweep(
    task_name: str,
    specs: list[NetworkSpec],
    lengths: list[int],
    budget: float = SWEEP_BUDGET,
    report=None,
    settings: MemorySettings | None = None,
    *,
    progress: bool = False,
    **given,
) -> list[MemoryResult]:
    """Every network over the ladder of ``lengths`` (shortest first) within ``budget`` seconds in
    all. Each run gets an equal share of the time still left; a network that fails to solve a
    length is not tried at longer ones, so its share goes to the others. ``report`` is called
    with each result as it comes."""
    lengths = sorted(set(lengths))
    failed: set[str] = set()
    results: list[MemoryResult] = []
    deadline = time.perf_counter() + budget
    for index, length in enumerate(lengths):
        for position, spec in enumerate(specs):
            if spec.name in failed:
                continue
            alive = [s for s in specs if s.name not in failed]
            here = sum(1 for s in specs[position:] if s.name not in failed)
            runs_left = here + (len(lengths) - index - 1) * len(alive)
            share = max(deadline - time.perf_counter(), 0.0) / runs_left
            result = train_memory(
                task_name, spec, length, settings=settings, budget=share, progress=progress, **given
            )
            results.append(result)
            if report is not None:
                report(result)
            if not result.solved:
                failed.add(spec.name)
    return results


def longest_solved(results: list[MemoryResult]) -> dict[str, int | None]:
    """For each network, the longest length it solved (None if none)."""
    best: dict[str, int | None] = {}
    for result in results:
        best.setdefault(result.network, None)
        if result.solved:
            best[result.network] = max(best[result.network] or 0, result.length)
    return best


def format_results(results: list[MemoryResult]) -> str:
    """A Markdown table of runs."""
    lines = [
        "| task | network | T | steps | seconds | held-out loss | baseline | loss/baseline "
        "| accuracy | verdict |",
        "|" + " --- |" * 10,
    ]
    for r in results:
        accuracy = "" if r.accuracy is None else f"{r.accuracy:.1%}"
        lines.append(
            f"| {r.task} | {r.network} | {r.length} | {r.steps} | {r.seconds:.1f} | "
            f"{r.loss:.4g} | {r.baseline:.4f} | {r.ratio:.3g} | {accuracy} | {r.verdict} |"
        )
    return "\n".join(lines)


def write_report(results: list[MemoryResult], out: str | Path, settings: dict) -> list[Path]:
    """``memory.json`` (settings, every run with its evaluation history, the longest length
    each network solved) and ``memory.png`` in directory ``out``: held-out loss over the
    baseline against length when several lengths ran, else against training steps."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "settings": settings,
        "solved_below": SOLVED,
        "beats_baseline_below": BEATEN,
        "longest_solved": longest_solved(results),
        "runs": [r.to_json() for r in results],
    }
    write_json(out / "memory.json", data)
    task = results[0].task
    networks = list(dict.fromkeys(r.network for r in results))
    hline = (SOLVED, f"solved (<= {SOLVED:g})")
    if len({r.length for r in results}) > 1:
        series = {
            n: (
                [r.length for r in results if r.network == n],
                [r.ratio for r in results if r.network == n],
            )
            for n in networks
        }
        plot = line_plot(
            out / "memory.png",
            series,
            title=f"{task} task: held-out loss / trivial baseline, by sequence length",
            xlabel="length T",
            ylabel="loss / baseline (log scale)",
            hline=hline,
        )
    else:
        series = {
            r.network: (
                [s for s, _, _ in r.history],
                [loss / r.baseline for _, _, loss in r.history],
            )
            for r in results
        }
        plot = line_plot(
            out / "memory.png",
            series,
            title=f"{task} task, T={results[0].length}: held-out loss / trivial baseline",
            xlabel="training step",
            ylabel="loss / baseline (log scale)",
            hline=hline,
        )
    return [out / "memory.json", plot]
