"""The ground floor: checkpoint I/O, the output writer and guards, the input boundary, locks, AMP, distributed
helpers, fault points. Import from the submodules (this package imports nothing, so the torch-free reader can use
the torch-free ones)."""
