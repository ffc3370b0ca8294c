package com.example.search;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** Suggests the closest known names to a misspelled one ("did you mean ...?"). */
public final class FuzzyMatcher {

    private final List<String> names;

    public FuzzyMatcher(List<String> names) {
        this.names = List.copyOf(names);
    }

    /**
     * Levenshtein distance: the fewest single-character insertions, deletions and substitutions turning a
     * into b. Two rows of the dynamic-programming table are enough, so memory is O(min(|a|, |b|)).
     */
    static int editDistance(String a, String b) {
        if (a.length() < b.length()) return editDistance(b, a);
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) previous[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitution = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitution, Math.min(previous[j] + 1, current[j - 1] + 1));
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }

    /** Up to `limit` names within a distance of a third of the query's length, closest first. */
    public List<String> suggest(String query, int limit) {
        String q = query.toLowerCase();
        int maxDistance = Math.max(1, q.length() / 3);
        List<String> candidates = new ArrayList<>();
        for (String name : names) {
            if (editDistance(q, name.toLowerCase()) <= maxDistance) candidates.add(name);
        }
        candidates.sort(Comparator.comparingInt((String n) -> editDistance(q, n.toLowerCase())).thenComparing(n -> n));
        return candidates.subList(0, Math.min(limit, candidates.size()));
    }
}
