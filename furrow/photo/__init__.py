"""A head from a photo: landmarks, model fitting, albedo texture and detail from the image."""

from .image import Photo, PhotoError, load_photo
from .landmarks import FaceLandmarks, detect_landmarks

__all__ = ["FaceLandmarks", "Photo", "PhotoError", "detect_landmarks", "load_photo"]
