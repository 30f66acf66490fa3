"""Face detector and encoder backends behind one small interface."""
