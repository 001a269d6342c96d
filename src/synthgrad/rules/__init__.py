"""Learning rules: how the gradient signal reaching each layer is made.

A rule is an ``nn.Module`` (its own trainable parts, e.g. SG modules, are its parameters) with
one method, :meth:`LearningRule.backward`, which fills ``.grad`` of the model's (and its own)
parameters for one minibatch and returns per-seed metrics. The training loop only calls that,
so backprop, synthetic gradients, Feedback Alignment, DFA and Kickback are interchangeable.

Every rule gives each hidden layer a *gradient signal* for its output ``h_k``: the true
gradient (backprop) or a proxy for it. :func:`received` records that signal for any rule,
:func:`true_gradients` computes the true one, :func:`alignment` compares the two, and
:func:`tracking_error` measures how far an SG is from the true gradient. :class:`FrozenBelow`
is the control every SG claim must beat: layers below the SG that never learn.

Modules: ``base`` (the interface, :class:`Backprop`), ``synthetic`` (SG rules),
``feedback`` (FA, DFA, Kickback and their SG forms), ``signals`` (diagnostics of any rule),
``registry`` (:func:`make_rule`: rules by name). Everything public is re-exported here.
"""

from .base import Backprop, LearningRule
from .feedback import (
    DirectFeedbackAlignment,
    ErrorSG,
    FeedbackAlignment,
    Kickback,
    KickbackSG,
    feedback_maps,
    kickback_error,
    output_error,
)
from .registry import SG_RULES, make_rule, sg_positions
from .signals import (
    alignment,
    received,
    relative_difference,
    tracking_error,
    true_gradients,
    updates,
)
from .synthetic import ControlledError, FrozenBelow, SGSignals, SyntheticGradients

__all__ = [
    "SG_RULES",
    "Backprop",
    "ControlledError",
    "DirectFeedbackAlignment",
    "ErrorSG",
    "FeedbackAlignment",
    "FrozenBelow",
    "Kickback",
    "KickbackSG",
    "LearningRule",
    "SGSignals",
    "SyntheticGradients",
    "alignment",
    "feedback_maps",
    "kickback_error",
    "make_rule",
    "output_error",
    "received",
    "relative_difference",
    "sg_positions",
    "tracking_error",
    "true_gradients",
    "updates",
]
