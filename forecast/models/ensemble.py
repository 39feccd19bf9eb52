"""What every net ensemble shares: its training loop, seeds, early-stopping split and files.

The price nets (:mod:`~forecast.models.neural`, :mod:`~forecast.models.lecture`,
:mod:`~forecast.models.global_nets`) and the volatility nets
(:mod:`~forecast.models.volatility.neural`) train ``n_models`` nets the same way: net ``k``
draws its initial weights, dropout masks and window order from the seed ``seed + k`` in a
private RNG stream (the caller's global torch RNG is left alone), the most recent 10% of the
windows validate for early stopping, and the nets are saved as one state_dict file.
:class:`NetEnsemble` holds that code once, for a model class to mix in before its base.

Like the models, this module imports torch only inside the methods that fit, save or load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import torch
    from torch import nn

#: share of the training windows, the most recent ones, held out for early stopping
VALIDATION_FRACTION = 0.1


class NetEnsemble:
    """Mixin of the net models: training of the ensemble, warm-up, weights file.

    The class mixing it in has the parameters ``epochs``, ``batch_size``, ``lr``,
    ``patience``, ``grad_clip``, ``n_models``, ``seed`` and those named in
    ``_shape_params``, and a ``_net_config()`` (the default :meth:`_new_net` builds a
    :class:`~forecast.models.networks.RecurrentNet` from it) and a ``_check_params()``.
    """

    stochastic: ClassVar[bool] = True
    _weights_attributes: ClassVar[tuple[str, ...]] = ("nets_",)
    #: the parameters that fix the shapes of the saved weights (named when they do not fit)
    _shape_params: ClassVar[tuple[str, ...]] = (
        "hidden_size",
        "num_layers",
        "max_horizon",
        "n_models",
    )

    @classmethod
    def warm_up(cls) -> None:
        import forecast.models.networks  # noqa: F401  (torch)

    def _train_nets(
        self,
        windows: object,
        split: Callable | None = None,
        n_val: int | None = None,
        previous: list[nn.Module] | None = None,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ) -> tuple[list[nn.Module], list[int], list[float | None]]:
        """Train the ensemble on ``windows``: the nets, their epochs and validation losses.

        The last ``n_val`` windows validate (default: the last 10%; none without early
        stopping). ``previous``: the nets a warm start continues from (else new ones from
        :meth:`_new_net`); ``loss``: default the mean squared error.
        """
        import torch
        from torch.nn import functional as F

        from forecast.models.networks import TrainConfig, torch_settings, train_net

        if self.patience is None:
            n_val = 0
        elif n_val is None:
            n_val = max(1, round(VALIDATION_FRACTION * len(windows)))
        train = TrainConfig(
            int(self.epochs),
            int(self.batch_size),
            float(self.lr),
            self.patience,
            None if self.grad_clip is None else float(self.grad_clip),
        )
        loss = F.mse_loss if loss is None else loss
        nets, epochs, losses = [], [], []
        with torch_settings():
            for k in range(self.n_models):
                # a private RNG stream per net: the caller's global torch RNG is left alone
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(self.seed + k)  # initial weights and dropout masks
                    net = previous[k] if previous else self._new_net()
                    order = torch.Generator().manual_seed(self.seed + k)
                    n_epochs, val_loss = train_net(
                        net, windows, n_val, train, order, bool(previous), loss, split
                    )
                nets.append(net)
                epochs.append(n_epochs)
                losses.append(val_loss)
        return nets, epochs, losses

    def _new_net(self) -> nn.Module:
        """A new network with freshly drawn weights (from torch's global RNG)."""
        from forecast.models.networks import RecurrentNet

        return RecurrentNet(self._net_config())

    # ---- saving and loading -------------------------------------------------------------
    def _weights_bytes(self) -> bytes:
        from forecast.models.networks import nets_state_bytes

        return nets_state_bytes(self.nets_)

    def _restore_weights(self, data: bytes, source: str) -> None:
        from forecast.models.networks import load_nets_state

        self._check_params()
        shape = ", ".join(f"{k}={getattr(self, k)}" for k in self._shape_params)
        self.nets_ = load_nets_state(
            data, source, self._new_net, self.n_models, f"{self.name} with {shape}"
        )
