"""Text conditioning: the T5 encoder and MusicGen's text-to-music model (text encoder,
projection to the decoder width, music decoder)."""
