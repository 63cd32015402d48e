"""The baseline charlm is measured against: a straightforward seed-style PyTorch implementation.

This is how the reference experiment is usually written, kept here in full so anyone can read
what "baseline" means in benchmarks/results/: a Dataset of windows behind a DataLoader (shuffled,
batch 128), one-hot encoding inside forward(), nn.LSTM/nn.GRU, a linear layer on the last time
step (many-to-one), cross entropy, Adam 1e-3. It shares nothing with charlm except the corpus.
"""

from __future__ import annotations

import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


class WindowDataset(Dataset):
    def __init__(self, encoded: torch.Tensor, starts: torch.Tensor, seq_len: int = 20):
        self.encoded, self.starts, self.seq_len = encoded, starts, seq_len

    def __len__(self):
        return len(self.starts)

    def __getitem__(self, i):
        s = int(self.starts[i])
        return self.encoded[s : s + self.seq_len], self.encoded[s + self.seq_len]


class BaselineRNN(nn.Module):
    def __init__(self, cell: str, vocab_size: int, hidden_size: int = 128, num_layers: int = 2):
        super().__init__()
        self.vocab_size = vocab_size
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn_cls(vocab_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, x):
        x = F.one_hot(x, self.vocab_size).float()
        out, _ = self.rnn(x)
        return self.fc(out[:, -1, :])


def make_loader(encoded, starts, batch_size=128, seed=0, seq_len=20):
    g = torch.Generator().manual_seed(seed)
    return DataLoader(
        WindowDataset(encoded, starts, seq_len), batch_size=batch_size, shuffle=True, generator=g
    )


def train_steps(model, loader, n_steps, device="cpu", lr=1e-3, time_limit=None):
    """Train for n_steps (or until time_limit seconds); return per-step losses and seconds."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    crit = nn.CrossEntropyLoss()
    model.train()
    losses, times = [], []
    start = time.perf_counter()
    while len(losses) < n_steps:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            loss = crit(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            times.append(time.perf_counter() - start)
            if len(losses) >= n_steps or (time_limit and times[-1] > time_limit):
                return losses, times
    return losses, times


@torch.no_grad()
def evaluate(model, encoded, starts, device="cpu", batch_size=1024, seq_len=20):
    model.eval()
    total, correct, n = 0.0, 0, 0
    for x, y in DataLoader(WindowDataset(encoded, starts, seq_len), batch_size=batch_size):
        x, y = x.to(device), y.to(device)
        logits = model(x)
        total += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(-1) == y).sum().item()
        n += len(y)
    model.train()
    return total / n, correct / n
