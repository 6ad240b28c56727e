"""vitbook: the helpers the ViT Book's chapters import (installed from the utils/ folder).

Modules, by role:
    data      Fashion-MNIST as tensors, from wherever it already is
    device    device choice, seeding, the quick setting (VITBOOK_QUICK)
    checks    check_shape / check_close with errors that read well
    patches   patchify and PatchEmbedding (chapter 1)
    plotting  labelled image grids and patch overlays
    exercises checks that students call on their answers
    book      Colab badges and install cells, derived from _config.yml
"""
