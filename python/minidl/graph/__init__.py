"""The autograd machinery: graph nodes (``node``), the backward engine (``engine``) and the
grad mode switches (``grad_mode``). Below ``minidl.tensor``: nothing here imports a Tensor at
module level. The public face is ``minidl.autograd``."""
