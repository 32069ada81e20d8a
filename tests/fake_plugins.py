"""A stand-in for an external VST3/AU plugin, so that tests never load native plugin code."""


class FakeParameter:
    type = float


class FakeExternalPlugin:
    """Stands in for what pedalboard.load_plugin returns: parameters are attributes."""

    def __init__(self):
        self.parameters = {"threshold_db": FakeParameter(), "mix": FakeParameter()}
        self.threshold_db = 0.0
        self.mix = 1.0
