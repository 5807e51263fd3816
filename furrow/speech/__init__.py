"""Speech -> face animation: phones, visemes, the audio model, alignment, the corpus."""
