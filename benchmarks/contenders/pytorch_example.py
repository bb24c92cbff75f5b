"""The VAE of pytorch/examples (vae/main.py), written the same way: eager PyTorch.

An `nn.Module` with five `nn.Linear` layers (fc1, fc21, fc22, fc3, fc4), ReLU
hidden units and a sigmoid decoder output; the loss is
`F.binary_cross_entropy(..., reduction="sum")` plus the summed KL; one
`optimizer.zero_grad()`, `loss.backward()`, `optimizer.step()` per minibatch of
128, and `loss.item()` accumulated for the epoch's report. The one change: the
example's `DataLoader` over torchvision's MNIST is replaced by slices of one
in-memory tensor in a fresh random order each epoch, as every contender here
reads the same in-memory array (a `DataLoader` would collate 128 single
examples per step, and the benchmark would partly measure that).

With `options["compile"]`, the model is wrapped by `torch.compile(model)`, the
one line a reader adds to try PyTorch 2's compiler.
"""

import torch
import torch.nn.functional as F
from torch import nn, optim

from benchmarks.common import RECIPE


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        d, h, j = RECIPE["input_dim"], RECIPE["hidden_units"], RECIPE["latent_dim"]
        self.fc1 = nn.Linear(d, h)
        self.fc21 = nn.Linear(h, j)  # μ
        self.fc22 = nn.Linear(h, j)  # log σ²
        self.fc3 = nn.Linear(j, h)
        self.fc4 = nn.Linear(h, d)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, RECIPE["input_dim"]))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    """Summed binary cross-entropy plus the summed KL divergence (Appendix B of the paper)."""
    bce = F.binary_cross_entropy(recon_x, x.view(-1, RECIPE["input_dim"]), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def train(x_train, clock, options):
    torch.manual_seed(options.get("seed", 0))
    model = VAE()
    optimizer = optim.Adam(model.parameters(), lr=RECIPE["learning_rate"])
    step = torch.compile(model) if options.get("compile") else model
    data = torch.from_numpy(x_train)
    batch_size = RECIPE["batch_size"]

    def get_weights():  # nn.Linear stores W as (out, in)
        layers = [model.fc1, model.fc21, model.fc22, model.fc3, model.fc4]
        return [a for layer in layers
                for a in (layer.weight.detach().numpy().T, layer.bias.detach().numpy())]

    for _ in range(clock.planned_epochs):
        clock.begin()
        model.train()
        train_loss = 0.0
        order = torch.randperm(len(data))
        for start in range(0, len(data), batch_size):
            batch = data[order[start:start + batch_size]]
            optimizer.zero_grad()
            recon_batch, mu, logvar = step(batch)
            loss = loss_function(recon_batch, batch, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        if clock.end(get_weights):
            break
    return {"torch_compile": bool(options.get("compile")), "threads": torch.get_num_threads()}
