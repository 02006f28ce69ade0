package dev.coolfusion.core;

import java.util.List;

/** A distinct candidate segment and the sources (by index) that proposed it. */
record Candidate(String text, boolean endOfSequence, List<Integer> proposers) {}
