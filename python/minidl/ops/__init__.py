"""Differentiable tensor operations (each one a forward that calls ``minidl._C`` and a
backward node beside it). ``array`` holds the array-level kernel calls they share."""
