"""Time ``LSTMForecaster.fit`` against a bare PyTorch loop doing the same work.

Both train on the same windows of the embedded S&P 500 series (window 30, 5 targets,
standardised log-returns), with the same network (``nn.LSTM`` hidden 32 and a linear head),
the same initial weights, batches (64, the same shuffles), optimiser (Adam 1e-3, MSE,
gradient clipping at 1.0), epochs and thread count, and early stopping off. They land on
bit-identical weights, which the script checks: the difference in time is the forecaster's
overhead (data preparation, wrappers), nothing else. Runs alternate, and the best of
``--repeat`` runs of each is compared, so that a busy neighbour on the machine skews both
alike. The bare loop at torch's default thread count is shown too, for the thread choice.

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
    parser.add_argument("--series", default=str(forecast.data.series.embedded_dir() / "GSPC.csv"))
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

    ours, bare = [], []
    for _ in range(args.repeat):
        ours.append(timed(model.fit, series))
        torch.set_num_threads(1)  # the forecaster's setting (see networks.torch_settings)
        bare.append(timed(bare_loop, prices, args.epochs))
        torch.set_num_threads(default_threads)
    torch.set_num_threads(default_threads)
    many = timed(bare_loop, prices, args.epochs)

    rnn, head = bare[-1][2]
    fitted = model.nets_[0]
    same = all(
        torch.equal(a, b)
        for a, b in zip([*rnn.parameters(), *head.parameters()], fitted.parameters(), strict=True)
    )
    best_ours, best_bare = (min(runs, key=lambda run: run[0]) for runs in (ours, bare))
    for label, (wall, cpu, _) in (
        ("LSTMForecaster.fit (1 thread)", best_ours),
        ("bare PyTorch loop (1 thread)", best_bare),
        (f"bare PyTorch loop ({default_threads} threads)", many),
    ):
        print(f"{label:<34} {wall:7.2f} s wall {cpu:7.2f} s cpu  {wall / steps * 1e3:5.2f} ms/step")
    print(f"identical weights after training: {same}")
    print(
        f"ratio fit / bare loop: {best_ours[0] / best_bare[0]:.3f} (wall), "
        f"{best_ours[1] / best_bare[1]:.3f} (cpu); target <= 1.25"
    )


if __name__ == "__main__":
    main()
