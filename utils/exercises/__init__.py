"""Checks that students call on their exercise answers, one module a part of the book:
`model` (chapters 1-5), `training` (chapters 6-10), `small_data` (chapter 11).

Each check runs the answer on known inputs and either prints a short "correct" line or
raises ExerciseError with a message that says what is wrong and what was expected. An
unfinished answer (`NotImplementedError`, `None`, an error inside it) gets a message too,
never a traceback from inside the check (`vitbook.answers`).
"""

from ..answers import ExerciseError
from .model import check_count_parameters, check_layer_norm, check_masked_attention, check_sincos_1d, check_unpatchify
from .small_data import check_mask_diagonal, check_mixup, check_sequence_pool, check_token_count
from .training import (
    check_attention_entropy,
    check_lr_schedule,
    check_receptive_field,
    check_resample_positions,
    check_shard,
)

__all__ = [
    "ExerciseError",
    "check_attention_entropy",
    "check_count_parameters",
    "check_layer_norm",
    "check_lr_schedule",
    "check_mask_diagonal",
    "check_masked_attention",
    "check_mixup",
    "check_receptive_field",
    "check_resample_positions",
    "check_sequence_pool",
    "check_shard",
    "check_sincos_1d",
    "check_token_count",
    "check_unpatchify",
]
