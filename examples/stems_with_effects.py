"""Split a song into stems, give each its own pedalboard, and write every stem to a file.

python examples/stems_with_effects.py song.wav out_dir [model]     (model: default demo)
"""

import sys
from pathlib import Path

from pedalboard import Chorus, Delay, Distortion, HighpassFilter, Pedalboard, Reverb
from pedalboard.io import AudioFile

from stemboard import SeparatorNode, read_audio

source, out_dir = sys.argv[1], Path(sys.argv[2])
model = sys.argv[3] if len(sys.argv) > 3 else "demo"  # or hdemucs_high_musdb_plus, once fetched

audio, sample_rate = read_audio(source)

effects = {
    "drums": Pedalboard([HighpassFilter(cutoff_frequency_hz=40)]),
    "bass": Pedalboard([Distortion(drive_db=6)]),
    "other": Pedalboard([Chorus()]),
    "vocals": Pedalboard([Delay(delay_seconds=0.25, mix=0.2), Reverb(room_size=0.5)]),
}

out_dir.mkdir(parents=True, exist_ok=True)
for name, stem in SeparatorNode(model).separate(audio, sample_rate).items():
    processed = effects[name](stem, sample_rate)
    with AudioFile(str(out_dir / f"{name}.wav"), "w", sample_rate, processed.shape[0]) as f:
        f.write(processed)
