"""Time ``LSTMForecaster.fit`` against a bare PyTorch loop doing the same work.

Both train on the same windows of the embedded S&P 500 series (window 30, 5 targets,
standardised log-returns), with the same network (``nn.LSTM`` hidden 32 and a linear head),
the same initial weights, batches (64, the same shuffles), optimiser (Adam 1e-3, MSE,
gradient clipping at 1.0), epochs and thread count, and early stopping off. Trained
through torch operations (``FORECAST_KERNELS=0``) the forecaster lands on bit-identical
weights, which the script checks: the difference in time is its overhead (data preparation,
wrappers), nothing else. Trained through the C loops (the default where a compiler is
found) it computes the same steps to float32 rounding, faster; the script prints the
largest weight difference. Runs alternate, and the best of ``--repeat`` runs of each is
compared, so that a busy neighbour on the machine skews all alike. The bare loop at torch's
default thread count is shown too, for the thread choice.

    python benchmarks/train_speed.py [--series data/prices/GSPC.csv] [--epochs 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import forecast
from forecast.data.series import embedded_dir
from forecast.models.neural import LSTMForecaster

WINDOW, HIDDEN, HORIZON, BATCH, LR, CLIP, SEED = 30, 32, 5, 64, 1e-3, 1.0, 0


def bare_loop(prices: np.ndarray, epochs: int) -> tuple[nn.Module, nn.Module]:
    """The whole job in plain PyTorch: windows, network, Adam, clipping."""
    r = np.diff(np.log(prices))
    z = torch.from_numpy(((r - r.mean()) / r.std()).astype(np.float32))
    windows = z.unfold(0, WINDOW + HORIZON, 1)  # (n, window + horizon), a view
    torch.manual_seed(SEED)
    rnn = nn.LSTM(1, HIDDEN, batch_first=True)
    head = nn.Linear(HIDDEN, HORIZON)
    params = [*rnn.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=LR)
    order = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        for idx in torch.randperm(len(windows), generator=order).split(BATCH):
            batch = windows[idx]
            out, _ = rnn(batch[:, :WINDOW, None])
            loss = F.mse_loss(head(out[:, -1]), batch[:, WINDOW:])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, CLIP)
            optimizer.step()
    return rnn, head


def timed(fn, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default=str(embedded_dir() / "GSPC.csv"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    series = forecast.load_prices(args.series)
    prices = series.to_numpy()
    model = LSTMForecaster(
        window=WINDOW,
        hidden_size=HIDDEN,
        max_horizon=HORIZON,
        batch_size=BATCH,
        lr=LR,
        grad_clip=CLIP,
        epochs=args.epochs,
        patience=None,
        seed=SEED,
    )
    n_windows = len(prices) - 1 - WINDOW - HORIZON + 1
    steps = args.epochs * -(-n_windows // BATCH)
    default_threads = torch.get_num_threads()
    print(
        f"series {series.name}: {len(prices)} prices, {n_windows} windows; LSTM hidden {HIDDEN}, "
        f"window {WINDOW}, batch {BATCH}, {args.epochs} epochs = {steps} steps; "
        f"load average {os.getloadavg()[0]:.1f}"
    )

    runs: dict[str, list] = {"compiled": [], "torch ops": [], "bare": []}
    for _ in range(args.repeat):
        for switch in ("1", "0"):
            os.environ["FORECAST_KERNELS"] = switch
            fitted = timed(model.fit, series)
            runs["compiled" if switch == "1" else "torch ops"].append(fitted)
            if switch == "1":
                compiled_nets = [p.detach().clone() for p in model.nets_[0].parameters()]
        os.environ.pop("FORECAST_KERNELS")
        torch.set_num_threads(1)  # the forecaster's setting (see networks.torch_settings)
        runs["bare"].append(timed(bare_loop, prices, args.epochs))
        torch.set_num_threads(default_threads)
    torch.set_num_threads(default_threads)
    many = timed(bare_loop, prices, args.epochs)

    rnn, head = runs["bare"][-1][2]
    reference = [*rnn.parameters(), *head.parameters()]
    same = all(  # the last fit of the forecaster was through torch operations
        torch.equal(a, b) for a, b in zip(reference, model.nets_[0].parameters(), strict=True)
    )
    gap = max((a - b).abs().max().item() for a, b in zip(reference, compiled_nets, strict=True))
    best = {k: min(v, key=lambda run: run[0]) for k, v in runs.items()}
    for label, (wall, cpu, _) in (
        ("LSTMForecaster.fit, C loops", best["compiled"]),
        ("LSTMForecaster.fit, torch ops", best["torch ops"]),
        ("bare PyTorch loop (1 thread)", best["bare"]),
        (f"bare PyTorch loop ({default_threads} threads)", many),
    ):
        print(f"{label:<34} {wall:7.2f} s wall {cpu:7.2f} s cpu  {wall / steps * 1e3:5.2f} ms/step")
    print(f"torch ops: identical weights to the bare loop: {same}")
    print(f"C loops: largest weight difference from the bare loop: {gap:.2e}")
    print(
        f"ratio fit (torch ops) / bare loop: {best['torch ops'][0] / best['bare'][0]:.3f} "
        f"(wall), {best['torch ops'][1] / best['bare'][1]:.3f} (cpu); target <= 1.25; "
        f"C loops / bare loop: {best['compiled'][0] / best['bare'][0]:.3f} (wall)"
    )


if __name__ == "__main__":
    main()
