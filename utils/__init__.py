"""vitbook: the helpers the ViT Book's chapters import (installed from the utils/ folder).

Modules, by role, each importing only from those above it (tests/test_code.py):

The chapters' helpers
    data        Fashion-MNIST as tensors, from wherever it already is
    device      device choice, seeding, the quick setting (VITBOOK_QUICK)
    checks      check_shape / check_close with errors that read well
    plotting    labelled image grids, patch and attention overlays, training curves

The model, one module a chapter
    patches     patchify and PatchEmbedding (chapter 1)
    tokens      the <cls> token and position embeddings (chapter 2)
    attention   scaled dot-product and multi-head attention (chapter 3)
    blocks      the MLP and the encoder block (chapter 4)
    vit         the whole ViT, its configurations, parameter and FLOP tables (chapter 5)
    analysis    attention maps, rollout, position similarity, attention distance (chapter 7)
    baselines   an MLP and a small ResNet, with their FLOPs (chapters 6 and 8)
    stem        the convolutional stem of Xiao et al. 2021 (chapter 8)
    bias        translation and locality: what a CNN is given and a ViT learns (chapter 8)
    transfer    a trained ViT at a new image size; timm's weights in the book's ViT (chapter 9)
    timm_layout what in a timm ViT differs from the book's layout (chapter 9)
    distributed process groups and each rank's share of a batch (chapter 10)
    locality    Locality Self-Attention (LSA) and CCT's sequence pooling for small data (chapter 11)
    tokenizers  shifted patches (SPT) and CCT's convolutional tokenizer for small data (chapter 11)
    compact     a ViT with chapter 11's levers chosen by name, and its costs (chapter 11)
    deit        DeiT's distillation token (chapter 11)

The machinery
    train/      the trainer of chapter 6: recipes, data on the device, the loop and its pieces
    pretrained  the shipped trained models and their records; build a model from its config
    ddp_train   the worker torchrun starts, and `launch` (chapter 10)
    runs/       recorded runs: the mechanism (results as JSON with their provenance) and
                its command line, `python -m vitbook.runs`
    experiments/ the book's recorded runs, one module a chapter (chapter06, chapter08, ...)
    answers     how a check reads a student's answer, and the errors it gives
    exercises/  checks that students call on their answers, one module a part of the book
    book        Colab badges and install cells, derived from _config.yml; running chapters
    classroom   student copies of the chapters
    sphinx_fix  a Sphinx extension that removes duplicated inline scripts
"""

from .plotting import use_book_style

use_book_style()  # one figure style for every chapter: text readable on the page
