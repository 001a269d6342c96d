"""synthgrad: synthetic gradients and their learning dynamics, the package behind the book.

Four layers; a module imports only from its own layer and the ones listed before it
(:data:`LAYERS`; tested):

- **core**: ``data`` (the Dataset type, seeded synthetic problems, chapter 8's sequence tasks and text corpora, MNIST from the verified IDX
  files), ``models`` (seed-batched networks), ``sg`` (synthetic-gradient modules), ``rules``
  (learning rules, built by name with ``rules.make_rule``; the signal each layer receives),
  ``losses``, ``train`` (the one training loop), ``blocks`` (a grid of learning rates as one
  run: blocks of seeds), ``graphs`` (a step replayed from a CUDA graph), ``optima`` (optima computed independently of training), ``recurrent`` (an LSTM by truncated BPTT, with DNI's
  synthetic gradient on its state, ch. 8), ``bp_lambda`` (the same SG learned from
  lambda-returns, ch. 8), ``curricula`` (ch. 8's curricula as stored runs), ``language``
  (ch. 8's language models as stored runs);
- **science**, the measurements of one research question each: ``critical`` (exact SG fixed
  points, ch. 2), ``convergence`` (SG learning against known optima, ch. 3), ``shallow`` (ch. 3's shallow
  models as single runs: the SG's exact fixed point, update errors, the phase diagram), ``implied`` (the
  loss an SG implies, ch. 4), ``representations`` (RDMs, weight norms, probes, ch. 5),
  ``compare`` (learning rules side by side, ch. 6), ``decoupled`` (stages in processes on
  ``torch.distributed``, ch. 7), ``analysis`` (summaries of runs over seeds, tidy tables);
- **tooling**: ``params`` (parameter checks), ``stats`` (paired comparisons over seeds by a
  t-interval), ``verdict`` (``judge``, the one verdict engine), ``ledger``
  (claims, their tables and JSON), ``plots``, ``widgets``, ``parallel`` (the one worker pool), ``sweep`` (runs
  as tasks for any executor), ``provenance`` (the hash of the code a stored run ran),
  ``registration`` (plans committed before their runs), ``runfile`` (a stored run's file, and the cache of decoded runs), ``store`` (the paper-scale results store: its manifests, provenance and run status), ``making`` (making its runs: what ``make paper`` does), ``reexpress`` (its provenance carried over a change of code that changes no number, after a check), ``environment`` (versions), ``served_files``
  (what each field of the files the site serves holds), ``verdict_changes``
  (the recorded changes of verdict, and a build's unrecorded ones), ``build_status`` (the
  site's "How this site was built" page);
- **chapters**: ``chapters`` (one module per chapter: ``book/05_representations.ipynb`` and
  ``synthgrad.chapters.representations``), ``paper`` (``make paper``: the store's grids,
  collected from the chapters).

Glossary (one name per concept):

- *run*: one training of one configuration over several seeds at once; its record is a
  :class:`~synthgrad.train.History` (per-step and per-evaluation metrics, per seed), and its
  wall time is ``history.settings["seconds"]``.
- *rule*: a learning rule (``backprop``, ``sg_middle``, ``fa``...): what each layer receives
  in place of its true gradient. *method*: a rule with its options as a chapter names it on the
  page (``"SG middle, cDNI"``).
- *control*: the network whose layers below the SG never learn (frozen at initialisation); the
  claims that SG training "works" are stated as a margin over it. On every page it is
  ``analysis.CONTROL`` ("control: frozen below the SG"), or ``analysis.CONTROL_EVERY`` with an
  SG after every hidden layer.
- *timed run* (chapter 7): a run on stages in processes, recorded as a
  :class:`~synthgrad.decoupled.Result` (wall clock, compute and waiting per stage, the SGs'
  staleness, and a trace of held-out accuracy against seconds); its *schedule* is how the
  stages run (``backprop``, ``gpipe``, ``1f1b``, ``dni``, ``dni_sync``).
- *steps to*: ``analysis.steps_to`` (a training metric's running mean reaching a threshold);
  ``Result.steps_to_accuracy`` and ``Result.seconds_to_accuracy`` (held-out accuracy).
- *hidden*: the list of hidden-layer widths; *depth*: its length; *width*: each one's size.
- *batch_size*: examples per step.
- *verdict*: a claim's decision (:func:`synthgrad.ledger.judge`): holds, holds in part, does
  not hold; *regime*: where it holds (a depth, an error size...).
- *store*: the paper-scale runs (``store/``), made by ``make paper``.

Benchmarks are a script outside the package: ``python benchmarks/bench.py``.
"""

__version__ = "0.1.0"

LAYERS = {  # layer -> its modules (a package's name covers its modules)
    "core": (
        "data", "models", "sg", "rules", "losses", "train", "blocks", "graphs", "optima",
        "recurrent", "bp_lambda", "curricula", "language",
    ),
    "science": (
        "critical", "convergence", "shallow", "implied", "representations", "compare",
        "decoupled", "analysis",
    ),
    "tooling": (
        "params", "stats", "verdict", "ledger", "plots", "widgets", "parallel", "sweep", "provenance", "registration", "runfile", "store", "making", "reexpress",
        "environment", "served_files", "verdict_changes", "build_status",
    ),
    "chapters": ("chapters", "paper"),
}  # fmt: skip
