"""Peak memory of the sliding windows of 100 series of 5000 days: views, not copies.

The neural models train on windows of ``window + max_horizon`` consecutive standardised
returns (:func:`forecast.models.networks.make_windows`, a strided view of the returns) and
forecast from ``sliding_window_view`` rows. For 100 series of 5000 days (4999 float32
returns each, window 30 + 5 horizons = width 35), every variant runs in a fresh process
and holds the windows of all 100 series at once; reported:

- the extra peak memory over the returns themselves (peak RSS from ``getrusage``, and for
  numpy the exact figure from ``tracemalloc``);
- whether each window array shares the returns' memory (the storage pointer).

Variants: ``make_windows`` (torch ``unfold``) and ``sliding_window_view`` (numpy), both views;
the same made contiguous (a copy each), for contrast; one training batch of 64 rows, the only
copy training makes at a time; and the global nets' panel
(:class:`~forecast.models.networks.PanelWindows`: all series' features end to end, a window
being a start index into one ``unfold`` view).

``--global-fit`` then fits a global LSTM on all the series (one epoch, early stopping off,
optionally with ``--channels`` covariate columns) in a fresh process and reports the whole
process's peak RSS, torch and all: the figure to hold against the 2 GB target.

    python benchmarks/window_memory.py [--series 100] [--days 5000] [--global-fit]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
import tracemalloc

WIDTH = 35  # window 30 + max_horizon 5


def measure(variant: str, n_series: int, days: int) -> dict:
    """Run one variant in this (fresh) process; return its memory figures."""
    import numpy as np
    import torch

    from forecast.models.networks import make_windows

    rng = np.random.default_rng(0)
    returns = [rng.standard_normal(days - 1).astype(np.float32) for _ in range(n_series)]
    tensors = [torch.from_numpy(r) for r in returns]
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, after the data
    tracemalloc.start()
    if variant == "torch view":
        held = [make_windows(z, WIDTH) for z in tensors]
        shared = all(w.data_ptr() == z.data_ptr() for w, z in zip(held, tensors, strict=True))
    elif variant == "torch copy":
        held = [make_windows(z, WIDTH).contiguous() for z in tensors]
        shared = any(w.data_ptr() == z.data_ptr() for w, z in zip(held, tensors, strict=True))
    elif variant == "numpy view":
        held = [np.lib.stride_tricks.sliding_window_view(r, WIDTH) for r in returns]
        shared = all(np.shares_memory(w, r) for w, r in zip(held, returns, strict=True))
    elif variant == "numpy copy":
        held = [np.lib.stride_tricks.sliding_window_view(r, WIDTH).copy() for r in returns]
        shared = any(np.shares_memory(w, r) for w, r in zip(held, returns, strict=True))
    elif variant == "global panel":
        from forecast.models.networks import PanelWindows
        from forecast.models.panel import build_panel

        panel = build_panel([r[:, None] for r in returns], WIDTH, 0.1)  # (N, 1) features
        features = torch.from_numpy(panel.features)
        windows = PanelWindows(
            features, torch.from_numpy(panel.starts), torch.from_numpy(panel.series), 30, 5
        )
        held = [windows.view]
        shared = windows.view.data_ptr() == features.data_ptr()
    elif variant == "one batch of 64":
        windows = make_windows(tensors[0], WIDTH)
        held = [windows[torch.randperm(len(windows))[:64]]]  # what train_net indexes
        shared = held[0].data_ptr() == tensors[0].data_ptr()
    else:
        raise ValueError(f"unknown variant {variant!r}")
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    logical = sum(w.numel() if hasattr(w, "numel") else w.size for w in held) * 4
    return {
        "variant": variant,
        "windows MB": logical / 2**20,
        "extra RSS MB": (peak_rss - base_rss) / 1024,
        "traced MB": traced / 2**20,
        "shares memory": shared,
        "returns MB": sum(r.nbytes for r in returns) / 2**20,
    }


def global_fit(n_series: int, days: int, channels: int) -> dict:
    """Fit a global LSTM on ``n_series`` synthetic series (one epoch); memory and time."""
    import numpy as np
    import pandas as pd

    from forecast.models import get_model

    rng = np.random.default_rng(0)
    index = pd.bdate_range("2000-01-03", periods=days)
    panel = {
        f"S{i}": pd.Series(100 * np.exp(np.cumsum(0.01 * rng.standard_normal(days))), index)
        for i in range(n_series)
    }
    exog = None
    if channels:
        exog = {k: rng.standard_normal((days, channels)) for k in panel}
    name = "global_lstm+x" if channels else "global_lstm"
    model = get_model(name, epochs=1, patience=None, batch_size=64, seed=0)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    model.fit(panel, exog)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"before MB": base / 1024, "peak MB": peak / 1024, "seconds": seconds,
            "windows": n_series * (days - 1 - WIDTH + 1)}  # fmt: skip


def _child(variant: str, n_series: int, days: int, queue) -> None:
    queue.put(measure(variant, n_series, days))


def _fit_child(n_series: int, days: int, channels: int, queue) -> None:
    queue.put(global_fit(n_series, days, channels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--days", type=int, default=5000)
    parser.add_argument("--global-fit", action="store_true", help="also fit a global LSTM")
    parser.add_argument("--channels", type=int, default=0, help="covariate columns (fit)")
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")  # a fresh process: its own peak RSS
    rows = []
    variants = ("torch view", "numpy view", "torch copy", "numpy copy", "one batch of 64",
                "global panel")  # fmt: skip
    for variant in variants:
        queue = ctx.Queue()
        child = ctx.Process(target=_child, args=(variant, args.series, args.days, queue))
        child.start()
        rows.append(queue.get(timeout=300))
        child.join()
    print(
        f"{args.series} series x {args.days} days, width {WIDTH}; returns "
        f"{rows[0]['returns MB']:.1f} MB (float32)"
    )
    print(f"{'variant':<16} {'windows MB':>10} {'extra RSS MB':>12} {'traced MB':>10}  shares")
    for r in rows:
        traced = f"{r['traced MB']:10.2f}" if "numpy" in r["variant"] else f"{'-':>10}"
        print(
            f"{r['variant']:<16} {r['windows MB']:10.3f} {r['extra RSS MB']:12.1f} {traced}  "
            f"{'yes' if r['shares memory'] else 'no'}"
        )
    print("windows MB: the size the windows would have as copies; traced: numpy only")
    if args.global_fit:
        queue = ctx.Queue()
        child = ctx.Process(target=_fit_child, args=(args.series, args.days, args.channels, queue))
        child.start()
        fit = queue.get(timeout=3600)
        child.join()
        print(
            f"global LSTM fit, {args.series} series x {args.days} days, {args.channels} covariate "
            f"columns, {fit['windows']} windows, 1 epoch: {fit['seconds']:.0f} s; process peak "
            f"RSS {fit['peak MB']:.0f} MB ({fit['before MB']:.0f} MB before the fit, with the "
            "data and torch loaded); target < 2048 MB"
        )


if __name__ == "__main__":
    main()
