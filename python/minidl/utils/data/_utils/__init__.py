"""The DataLoader's machinery, split as PyTorch's ``torch.utils.data._utils``: ``collate``
(samples -> batches), ``fetch`` (indices -> a batch, in whichever process runs it),
``worker`` (the worker process's loop and ``get_worker_info``) and ``rng`` (the random
draws samplers and workers make)."""
