"""Separation quality: the torchaudio tutorial's evaluation (BSS Eval SDR and spectrograms),
the MDX challenge SDR and SI-SDR, for arrays and for folders of stems.

Example::

    from stemboard.evaluation import evaluate_folders, plot_spectrograms

    result = evaluate_folders("musdb/test/song", "out/song", segment=(150.0, 155.0))
    print(result.table())
    plot_spectrograms(result, "plots")

Only numpy at run time; matplotlib is imported when a picture is drawn.
"""

from stemboard.evaluation.bss_eval import FILTER_LENGTH, bss_eval_sources
from stemboard.evaluation.folders import (
    METRICS,
    EvaluationResult,
    StemFiles,
    evaluate_folders,
    read_window,
)
from stemboard.evaluation.metrics import (
    StemScores,
    mdx_sdr,
    score_stem,
    si_sdr,
    tutorial_sdr,
)
from stemboard.evaluation.spectrogram_plots import (
    plot_spectrograms,
    spectrogram_db,
    spectrogram_hop,
)

__all__ = [
    "FILTER_LENGTH",
    "METRICS",
    "EvaluationResult",
    "StemFiles",
    "StemScores",
    "bss_eval_sources",
    "evaluate_folders",
    "mdx_sdr",
    "plot_spectrograms",
    "read_window",
    "score_stem",
    "si_sdr",
    "spectrogram_db",
    "spectrogram_hop",
    "tutorial_sdr",
]
