#!/usr/bin/python3
"""The peer for `gpt4rec-bench train`: the same GPT4Rec model and full-graph BPR epoch written in PyTorch Python
(Debian's python3-torch 1.13), the way one would write it there: Â as a sparse COO tensor with torch.sparse.mm,
edge gathers with F.embedding, the edge->node sum as a sparse incidence product, torch.softmax, torch.optim.Adam.

Run with the system interpreter: /usr/bin/python3 bench/pytorch_reference.py [--users ... --batch ...]
Use the configuration printed by the C++ benchmark (same users/items/edges/dim/views/layers/batch/negatives/
threads). Last stdout line: one JSON object {"bench":"train_pytorch","full_epoch_s":...,...}.
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F


def make_graph(users, items, edges, seed):
    """Distinct edges, users uniform, item popularity ~ cube of a uniform (as in train_bench.cc)."""
    rng = np.random.default_rng(seed)
    keys = np.empty(0, dtype=np.int64)
    while keys.size < edges:
        need = int((edges - keys.size) * 1.3) + 16
        u = rng.integers(0, users, need)
        i = (rng.random(need) ** 3 * items).astype(np.int64)
        keys = np.unique(np.concatenate([keys, u * items + i]))
    keys = rng.permutation(keys)[:edges]
    return keys // items, keys % items


class Gpt4Rec(torch.nn.Module):
    def __init__(self, users, items, u, i, d, K, L, M, layers):
        super().__init__()
        self.U, self.I, self.N, self.d, self.K, self.dk, self.layers = users, items, users + items, d, K, d // K, layers
        dk = self.dk
        self.user = torch.nn.Parameter(torch.randn(users, d) * 0.1)
        self.item = torch.nn.Parameter(torch.randn(items, d) * 0.1)
        self.W = torch.nn.Parameter(torch.eye(d))
        self.c = torch.nn.Parameter(torch.zeros(d))
        self.P = torch.nn.Parameter(torch.randn(K, L, dk) * 0.01)
        self.A = torch.nn.Parameter(torch.randn(K, dk, L) / dk ** 0.5)
        self.b = torch.nn.Parameter(torch.zeros(K, L))
        self.S = torch.nn.Parameter(torch.randn(K, M, dk) * 0.01)
        self.Gu = torch.nn.Parameter(torch.randn(K, dk, M) / dk ** 0.5)
        self.Gi = torch.nn.Parameter(torch.randn(K, dk, M) / dk ** 0.5)
        self.gb = torch.nn.Parameter(torch.zeros(K, M))
        self.v = torch.nn.Parameter(torch.zeros(K, dk))
        u = torch.as_tensor(u)
        i = torch.as_tensor(i) + users
        deg = torch.bincount(torch.cat([u, i]), minlength=self.N).float()
        inv = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
        val = inv[u] * inv[i]
        E = u.numel()
        self.eu, self.ei, self.M = u, i, M
        self.adj = torch.sparse_coo_tensor(torch.stack([torch.cat([u, i]), torch.cat([i, u])]),
                                           torch.cat([val, val]), (self.N, self.N)).coalesce()
        # Â-weighted node x edge incidence: (inc @ w)[n] = sum over edges e at n of Â_e w[e].
        eid = torch.arange(E)
        self.inc = torch.sparse_coo_tensor(torch.stack([torch.cat([u, i]), torch.cat([eid, eid])]),
                                           torch.cat([val, val]), (self.N, E)).coalesce()

    def forward(self):
        N, K, dk = self.N, self.K, self.dk
        x = torch.cat([self.user, self.item])
        xv = torch.addmm(self.c, x, self.W.t()).view(N, K, dk)
        alpha = torch.softmax(torch.einsum("nkd,kdl->nkl", xv, self.A) + self.b, -1)
        xv = xv + torch.einsum("nkl,kld->nkd", alpha, self.P)
        lu = torch.einsum("nkd,kdm->nkm", xv[:self.U], self.Gu) + self.gb
        li = torch.einsum("nkd,kdm->nkm", xv[self.U:], self.Gi)
        node_logits = torch.cat([lu, li]).reshape(N, -1)
        logits = F.embedding(self.eu, node_logits) + F.embedding(self.ei, node_logits)
        beta = torch.softmax(logits.view(-1, K, self.M), -1).view(-1, K * self.M)
        T = torch.sparse.mm(self.inc, beta).view(N, K, self.M)
        ts = torch.einsum("nkm,kmd->nkd", T, self.S).reshape(N, -1)
        h = xv.reshape(N, -1)
        acc = h
        for _ in range(self.layers):
            h = torch.sparse.mm(self.adj, h) + ts
            acc = acc + h
        hv = (acc / (self.layers + 1)).view(N, K, dk)
        gamma = torch.softmax((hv * self.v).sum(-1), -1)
        return (hv * gamma.unsqueeze(-1)).reshape(N, -1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=100000)
    p.add_argument("--items", type=int, default=20000)
    p.add_argument("--edges", type=int, default=2000000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--views", type=int, default=4)
    p.add_argument("--node-prompts", type=int, default=8)
    p.add_argument("--structure-prompts", type=int, default=4)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=65536)
    p.add_argument("--negatives", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="0 = all cores")
    p.add_argument("--max-steps", type=int, default=0,
                   help="stop the epoch after this many steps and scale to the full epoch (0 = whole epoch)")
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    import os
    threads = a.threads or os.cpu_count()
    torch.set_num_threads(threads)
    torch.manual_seed(a.seed)
    u, i = make_graph(a.users, a.items, a.edges, a.seed)
    model = Gpt4Rec(a.users, a.items, u, i, a.dim, a.views, a.node_prompts, a.structure_prompts, a.layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    pos_u = torch.as_tensor(u)
    pos_i = torch.as_tensor(i)
    # User rows sorted for the rejection test of sampled negatives.
    keys = np.sort(u * a.items + i)
    P = pos_u.numel()
    steps = (P + a.batch - 1) // a.batch
    run_steps = min(steps, a.max_steps) if a.max_steps > 0 else steps
    t0 = time.perf_counter()
    c0 = time.process_time()
    perm = torch.randperm(P)
    rng = np.random.default_rng(a.seed)
    for s in range(run_steps):
        idx = perm[s * a.batch:(s + 1) * a.batch]
        bu, bi = pos_u[idx], pos_i[idx]
        B = bu.numel()
        bun = np.repeat(bu.numpy(), a.negatives)
        neg = rng.integers(0, a.items, B * a.negatives)
        for _ in range(64):  # vectorised rejection: redraw the ones the user has interacted with
            k = bun * a.items + neg
            pos = np.searchsorted(keys, k)
            hit = (pos < keys.size) & (keys[np.minimum(pos, keys.size - 1)] == k)
            if not hit.any():
                break
            neg[hit] = rng.integers(0, a.items, int(hit.sum()))
        z = model()
        zu = z[bu]
        zi = z[bi + a.users]
        zj = z[torch.as_tensor(neg) + a.users].view(B, a.negatives, -1)
        ps = (zu * zi).sum(-1, keepdim=True)
        ns = (zu.unsqueeze(1) * zj).sum(-1)
        loss = -F.logsigmoid(ps - ns).mean() + 1e-4 * (zu.pow(2).sum() + zi.pow(2).sum() + zj.pow(2).sum() / a.negatives) / (2 * B)
        opt.zero_grad()
        loss.backward()
        opt.step()
        print(f"  step {s + 1}/{run_steps}: loss {loss.item():.4f}, {time.perf_counter() - t0:.1f}s", flush=True,
              file=__import__("sys").stderr)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    full_epoch_s = elapsed * steps / run_steps
    print(json.dumps({"bench": "train_pytorch", "edges": a.edges, "full_epoch_s": full_epoch_s,
                      "epoch_cpu_s": cpu * steps / run_steps, "steps_run": run_steps, "steps_per_epoch": steps, "users": a.users, "items": a.items,
                      "dim": a.dim, "views": a.views, "layers": a.layers, "batch": a.batch,
                      "negatives": a.negatives, "threads": threads, "node_prompts": a.node_prompts,
                      "structure_prompts": a.structure_prompts, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
