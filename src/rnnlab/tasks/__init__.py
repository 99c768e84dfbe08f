"""The tasks, one folder each, every one a slice on the shared spine: its data reading, its model,
its training slice (settings, batches, loss, evaluation, report, the ``TrainingTask`` that
:func:`rnnlab.training.run.run_training` runs) and the functions that use a checkpoint; the
command line (:mod:`rnnlab.cli`) only parses and prints. ``language``: next-symbol prediction and
generation (TBPTT, and the transformer it is measured against); ``classify``: many-to-one;
``translate``: an encoder-decoder with attention; ``chat``: conversation modelling on the
translator; ``speech``: a CTC recogniser; ``conditional``: one-to-many generation from a label;
``forecast``: numeric series, direct or autoregressive, with intervals."""
