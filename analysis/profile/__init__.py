"""Profiles: where each cell's server spent its time (py-spy's stacks and the kernel's clock,
record/profile.py), as top frames, layers, differences and flame graphs (README, "Profiles")."""
