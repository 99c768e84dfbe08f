"""The tasks, one folder each, every one a slice on the shared spine: its data reading, its model,
its training slice (settings, batches, loss, evaluation, report) and, in :mod:`rnnlab.cli`, its
commands. ``language``: next-symbol prediction and generation (TBPTT); ``classify``: many-to-one;
``translate``: an encoder-decoder with attention; ``conditional``: one-to-many generation from a
label; ``forecast``: numeric series, direct or autoregressive, with intervals."""
