"""Read a song, take the vocals out, put reverb on the drums, write the result.

python examples/karaoke_and_reverb.py song.wav out.wav [model]     (model: default demo)
"""

import sys

from pedalboard import Compressor, Pedalboard, Reverb
from pedalboard.io import AudioFile

from stemboard import Channel, SeparatorNode, StemGraph, read_audio

source, target = sys.argv[1], sys.argv[2]
model = sys.argv[3] if len(sys.argv) > 3 else "demo"  # or hdemucs_high_musdb_plus, once fetched

audio, sample_rate = read_audio(source)  # read in blocks: exact for every format, MP3 included

graph = StemGraph(
    SeparatorNode(model),
    stems={
        "vocals": Channel(mute=True),
        "drums": Pedalboard([Compressor(threshold_db=-18, ratio=3), Reverb(room_size=0.3)]),
    },
)
mix = graph(audio, sample_rate)

with AudioFile(target, "w", sample_rate, mix.shape[0]) as f:
    f.write(mix)
