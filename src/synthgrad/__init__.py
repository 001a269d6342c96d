"""synthgrad: synthetic gradients and their learning dynamics, the package behind the book.

Three layers; a module imports only from its own layer and the ones listed before it:

- core: ``data`` (the Dataset type, seeded synthetic problems), ``mnist`` (MNIST from the
  verified IDX files), ``models`` (seed-batched networks), ``sg`` (synthetic-gradient
  modules), ``rules`` (learning rules, built by name with ``rules.make_rule``; the signal each
  layer receives), ``losses``, ``train`` (the training loop);
- per-chapter science: ``critical`` (exact SG fixed points, ch. 2), ``optima`` (optima
  computed independently of training, and distances to them), ``convergence`` (SG learning
  against known optima, ch. 3), ``implied`` (the loss an SG implies, ch. 4),
  ``representations`` (RDMs, weight norms, probes, ch. 5), ``compare`` (learning rules side
  by side: the identities of ch. 6), ``analysis`` (summaries of runs over seeds, tidy tables);
- book tooling: ``params`` (parameter checks), ``parallel`` (a chapter's runs in worker
  processes), ``plots``, ``chapters`` (each chapter's
  parameters, quick settings and ledger record: ``chapters.setup`` starts every chapter),
  ``ledger`` (claims; ``ledger.finish`` ends every chapter), ``widgets``, ``sweep`` (runs as
  tasks for any executor), ``store`` (the paper-scale results store: ``make paper``),
  ``environment`` (versions).

Benchmarks are a script outside the package: ``python benchmarks/bench.py``.
"""

__version__ = "0.1.0"
