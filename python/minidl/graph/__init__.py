"""The autograd machinery: graph nodes (``node``), the backward engine (``engine``) and the
grad mode switches (``grad_mode``). Below ``minidl.tensor``: nothing here imports a Tensor or
anything above it (the engine sums gradient arrays with ``ops.array``, a leaf module); the nodes
see tensors only as objects handed to them, and the engine gets ``Tensor._wrap`` as an argument.
The public face is ``minidl.autograd``."""
