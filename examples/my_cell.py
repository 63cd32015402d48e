"""A user's own recurrent cell, trained and compared by charlm with nothing of charlm edited:

    python -m charlm report --profile smoke -p "models=['lstm','examples/my_cell.py:MyCell']"

What charlm asks of a model: an nn.Module whose constructor takes `vocab_size` (and whatever
else it declares, filled by name from the run's parameters: `hidden_size` here), and whose
forward maps (batch, time) character ids to (batch, time, vocab_size) logits, or to
(logits, state).

MyCell is a minimal gated unit (Zhou et al. 2016): one gate f does the GRU's two jobs,
    f = sigmoid(W_f x + U_f h),  h~ = tanh(W_h x + U_h (f * h)),  h = (1 - f) h + f h~.
"""

import torch
import torch.nn as nn


class MyCell(nn.Module):
    def __init__(self, vocab_size: int, hidden_size: int = 128):
        super().__init__()
        self.hidden_size = hidden_size
        self.embed = nn.Embedding(vocab_size, 2 * hidden_size)  # W_f x and W_h x, as a lookup
        self.u_f = nn.Linear(hidden_size, hidden_size, bias=False)
        self.u_h = nn.Linear(hidden_size, hidden_size, bias=False)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, state=None):
        wf, wh = self.embed(x).chunk(2, dim=-1)  # (B, T, H) each
        h = x.new_zeros(x.shape[0], self.hidden_size, dtype=wf.dtype) if state is None else state
        out = []
        for t in range(x.shape[1]):
            f = torch.sigmoid(wf[:, t] + self.u_f(h))
            h = (1 - f) * h + f * torch.tanh(wh[:, t] + self.u_h(f * h))
            out.append(h)
        return self.head(torch.stack(out, dim=1)), h
