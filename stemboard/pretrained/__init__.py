"""Pretrained models without torch: reading official checkpoint files, fetching them, binding
them to shipped graphs."""
