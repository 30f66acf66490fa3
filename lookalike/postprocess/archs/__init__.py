"""Network definitions whose parameter names match the published checkpoints.

Written here rather than taken from basicsr/gfpgan (which pin old torchvision
APIs) or spandrel (which imports torchvision, and no CPU torchvision wheel for
our torch is on PyPI). Importing this package needs torch.
"""
