"""Colour grading: film looks as tone curves and 3D LUTs kept as data, applied in linear light."""
