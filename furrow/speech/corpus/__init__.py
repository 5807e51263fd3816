"""The labelled speech corpus: offline TTS engines with exact phone timings.

Engines (each ``synthesize(text, voice, rate, pitch) -> (audio, rate, segments)``):
espeak (libespeak-ng via ctypes), flite, festival, piper_voice (Piper + the CC0
Joe voice). ``build`` writes the corpus, ``dataset`` reads it, ``augment``
degrades audio for training, ``text`` writes the sentences.
"""
