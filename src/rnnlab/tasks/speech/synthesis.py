"""Speech from text without a download: eSpeak NG, the library and voices that the
``espeakng-loader`` wheel ships, bound with ``ctypes``.

eSpeak NG is a formant synthesiser: a voice is an accent (how words become phonemes, ``en-us``)
and a variant (the speaker: pitch range, formant scaling, breathiness, ``+f3``). Synthesis is
synchronous: ``espeak_Synth`` calls back with blocks of 16-bit samples at 22,050 Hz until the
text is spoken. The library keeps one global state, so one :class:`Synthesizer` per process
holds it (:func:`synthesizer`).
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import numpy as np

#: eSpeak NG's constants (speak_lib.h)
_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS: espeak_Synth returns when the text is spoken
_RATE, _PITCH, _RANGE = 1, 3, 4  # espeak_PARAMETER
_POS_CHARACTER, _CHARS_UTF8 = 1, 1
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

#: the English accents eSpeak NG speaks (en-Shaw, Shavian script, is left out)
ACCENTS = (
    "en",
    "en-us",
    "en-029",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-gb-x-rp",
    "en-us-nyc",
)
#: variants left out by default: the whispering ones have no voiced sound at all
UNVOICED = ("whisper", "whisperf")
RATES = (80, 450)  # words per minute eSpeak NG accepts
PITCHES = (0, 99)


class Synthesizer:
    """Speaks text in a voice: ``speak(text, "en-us+f3", rate=170, pitch=50)`` returns int16
    samples at :attr:`sample_rate`."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise ValueError(
                "making speech needs the espeakng-loader package: pip install espeakng-loader"
            ) from None
        self.data = Path(espeakng_loader.get_data_path())
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.sample_rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, str(self.data).encode(), 0)
        if self.sample_rate <= 0:
            raise ValueError(f"eSpeak NG could not start with its data in {self.data}")
        self._blocks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._receive)  # kept: the library holds only a pointer
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib
        self._voice: str | None = None

    def _receive(self, samples, count: int, events) -> int:
        if count > 0:
            self._blocks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        return 0  # go on

    def variants(self) -> list[str]:
        """The speaker variants installed, by file name (``f3``, ``klatt2``, ...), sorted."""
        folder = self.data / "voices" / "!v"
        return sorted(p.name for p in folder.iterdir() if p.is_file() and " " not in p.name)

    def speak(self, text: str, voice: str, rate: int = 175, pitch: int = 50) -> np.ndarray:
        """``text`` spoken by ``voice`` (``accent`` or ``accent+variant``) at ``rate`` words
        per minute and base ``pitch`` (0-99): int16 samples at :attr:`sample_rate`."""
        if voice != self._voice:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"eSpeak NG has no voice {voice!r}")
            self._voice = voice
        self._lib.espeak_SetParameter(_RATE, int(np.clip(rate, *RATES)), 0)
        self._lib.espeak_SetParameter(_PITCH, int(np.clip(pitch, *PITCHES)), 0)
        data = text.encode("utf-8")
        self._blocks = []
        status = self._lib.espeak_Synth(
            data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        self._lib.espeak_Synchronize()
        if status != 0:
            raise ValueError(f"eSpeak NG could not speak {text!r} (error {status})")
        blocks, self._blocks = self._blocks, []
        return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int16)


@functools.cache
def synthesizer() -> Synthesizer:
    """The process's one :class:`Synthesizer` (eSpeak NG keeps global state)."""
    return Synthesizer()
