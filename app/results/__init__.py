"""The results panel: every product tensor as numbers, images, glimpse windows, patch mosaics."""
