package dev.coolfusion.djl.model;

/**
 * What a state handle stands for: a prefix of a {@link KvStore}, optionally followed by one row of a {@link
 * KvSegment} not yet written into a store, and the next-token log-probabilities after its last token.
 *
 * <p>Only the owning model touches these fields, under its lock. Materializing a segment changes the representation,
 * never the content.
 */
final class ModelState {
    final String id;
    KvStore store;
    int storeLength;
    KvSegment segment;
    int segmentRow;
    int segmentLength;
    final float[] logProbs;
    boolean committed;

    ModelState(String id, KvStore store, int storeLength, float[] logProbs) {
        this.id = id;
        this.store = store;
        this.storeLength = storeLength;
        this.logProbs = logProbs;
        store.users.add(this);
    }

    int length() {
        return storeLength + segmentLength;
    }

    void attachSegment(KvSegment segment, int row, int length) {
        this.segment = segment;
        this.segmentRow = row;
        this.segmentLength = length;
        segment.users.add(this);
    }
}
