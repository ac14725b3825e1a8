"""The torch networks behind the detectors. Small on purpose: they run on CPU next to the service."""

from __future__ import annotations

import torch
from torch import nn

from enricher.anomaly.vocab import PAD


class NextKeyLSTM(nn.Module):
    """DeepLog: a stacked LSTM over the last ``h`` template ids predicts the next one."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.lstm = nn.LSTM(
            embed_dim, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        """``context`` (batch, h) of token ids -> next-token logits (batch, vocab)."""
        output, _ = self.lstm(self.embed(context))
        return self.head(output[:, -1])


class NextKeyTransformer(nn.Module):
    """Transformer-encoder variant: attends over the whole window, reads the prediction at its end."""

    def __init__(self, vocab_size: int, window: int, d_model: int, heads: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=PAD)
        self.position = nn.Parameter(torch.zeros(1, window, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=2 * d_model, dropout=dropout, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        # Contexts are left-padded and always end with a real token, so the last position is never masked.
        hidden = self.encoder(self.embed(context) + self.position, src_key_padding_mask=context == PAD)
        return self.head(hidden[:, -1])


class LstmAutoencoder(nn.Module):
    """Encodes a window of events (key embedding + numeric features) into a small code and rebuilds it.

    The rebuilt window is scored as key cross-entropy per position plus the squared error of the numeric
    features, so the learned key embedding cannot collapse to make reconstruction trivially easy.
    """

    def __init__(self, vocab_size: int, n_features: int, embed_dim: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.encoder = nn.LSTM(embed_dim + n_features, hidden, batch_first=True)
        self.to_latent = nn.Linear(hidden, latent)
        self.decoder = nn.LSTM(latent, hidden, batch_first=True)
        self.key_head = nn.Linear(hidden, vocab_size)
        self.feature_head = nn.Linear(hidden, n_features)

    def forward(self, keys: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, (state, _) = self.encoder(torch.cat([self.embed(keys), features], dim=-1))
        code = torch.tanh(self.to_latent(state[-1]))
        decoded, _ = self.decoder(code.unsqueeze(1).expand(-1, keys.shape[1], -1))
        return self.key_head(decoded), self.feature_head(decoded)

    @staticmethod
    def errors(
        keys: torch.Tensor, features: torch.Tensor, key_logits: torch.Tensor, feature_out: torch.Tensor,
        reduce: str = "mean",
    ) -> torch.Tensor:
        """Reconstruction error per window (batch,): mean (training) or max (scoring) over positions."""
        key_loss = nn.functional.cross_entropy(key_logits.transpose(1, 2), keys, reduction="none")
        per_position = key_loss + ((feature_out - features) ** 2).sum(-1)
        return per_position.max(-1).values if reduce == "max" else per_position.mean(-1)


class CountVAE(nn.Module):
    """Variational autoencoder over (log-scaled) event-count vectors."""

    def __init__(self, n_inputs: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_inputs, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, n_inputs))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_var = self.encoder(x).chunk(2, dim=-1)
        # Not training: z is the mean, so the same input always gets the same score.
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var) if self.training else mean
        return self.decoder(z), mean, log_var

    @staticmethod
    def reconstruction_error(x: torch.Tensor, rebuilt: torch.Tensor) -> torch.Tensor:
        return ((rebuilt - x) ** 2).sum(-1)

    @staticmethod
    def kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        return -0.5 * (1 + log_var - mean**2 - log_var.exp()).sum(-1)
