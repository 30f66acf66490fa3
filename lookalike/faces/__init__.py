"""Face analysis: decode photos, detect, align, embed, judge quality, compare."""
