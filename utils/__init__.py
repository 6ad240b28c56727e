"""vitbook: the helpers the ViT Book's chapters import (installed from the utils/ folder).

Modules, by role:
    data        Fashion-MNIST as tensors, from wherever it already is
    device      device choice, seeding, the quick setting (VITBOOK_QUICK)
    checks      check_shape / check_close with errors that read well
    patches     patchify and PatchEmbedding (chapter 1)
    tokens      the <cls> token and position embeddings (chapter 2)
    attention   scaled dot-product and multi-head attention (chapter 3)
    blocks      the MLP and the encoder block (chapter 4)
    vit         the whole ViT, its configurations, parameter and FLOP tables (chapter 5)
    train       device-resident data, recipes, the trainer, checkpoints (chapter 6)
    pretrained  the shipped trained models and their records; build a model from its config
    runs        recorded runs: one command each, results as JSON with their provenance
    experiments the book's recorded runs (`python -m vitbook.runs --list`)
    transfer_runs chapter 9's recorded runs: higher resolution, new classes from few labels
    analysis    attention maps, rollout, position similarity, attention distance (chapter 7)
    baselines   an MLP and a small ResNet, with their FLOPs (chapters 6 and 8)
    stem        the convolutional stem of Xiao et al. 2021 (chapter 8)
    bias        translation and locality: what a CNN is given and a ViT learns (chapter 8)
    transfer    a trained ViT at a new image size; timm's weights in the book's ViT (chapter 9)
    plotting    labelled image grids, patch and attention overlays, training curves
    exercises   checks that students call on their answers
    book        Colab badges and install cells, derived from _config.yml; running chapters
    classroom   student copies of the chapters
    sphinx_fix  a Sphinx extension that removes duplicated inline scripts
"""

from .plotting import use_book_style

use_book_style()  # one figure style for every chapter: text readable on the page
