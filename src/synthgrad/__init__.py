"""synthgrad: synthetic gradients and their learning dynamics, the package behind the book.

Modules: ``data`` (synthetic problems, MNIST), ``models`` (seed-batched networks), ``sg``
(synthetic-gradient modules), ``rules`` (learning rules), ``train`` (the training loop),
``analysis``, ``plots``, ``params`` (chapter parameter validation), ``ledger`` (claims).
"""

__version__ = "0.1.0"
