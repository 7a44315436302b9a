"""The seed's MLP in PyTorch: eager (torch-cpu/-gpu) and torch.compile (torch-compile-cpu/-gpu). torch is
imported only when one of these trainers is built (:func:`impl.torch_mlp.runtime.load`)."""
