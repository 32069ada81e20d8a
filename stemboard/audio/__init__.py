"""Audio for the runtime, numpy and pedalboard only (never torch), one topic a module.

- :mod:`stemboard.audio.layout`: pedalboard's array layouts to planar ``[channels, samples]``
  float32 and back, channel counts, finite checks.
- :mod:`stemboard.audio.resampling`: exact-length, time-aligned, block-size independent
  resampling.
- :mod:`stemboard.audio.reading`: audio files read in blocks, checked on the way.
- :mod:`stemboard.audio.writing`: output formats and the atomic, clip-aware file writer.

Nothing is imported here, so ``import stemboard.audio.layout`` does not load pedalboard.
"""
