"""The autograd machinery: graph nodes (``node``), the backward engine (``engine``) and the
grad mode switches (``grad_mode``). Below ``minidl.tensor``: nothing here imports a Tensor
(only the leaf modules ``_C``, ``dtypes`` and ``ops.array``); the nodes see tensors only as
objects handed to them, and the engine gets ``Tensor._wrap`` as an argument. The public face is
``minidl.autograd``."""
