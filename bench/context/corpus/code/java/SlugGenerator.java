package com.example.web;

import java.text.Normalizer;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/** URL slugs for album titles: "Été à Montréal!" -> "ete-a-montreal". */
public final class SlugGenerator {

    private static final Pattern COMBINING_MARKS = Pattern.compile("\\p{M}+");
    private static final Pattern NOT_SLUG = Pattern.compile("[^a-z0-9]+");
    private static final int MAX_LENGTH = 60;

    private SlugGenerator() {}

    public static String slugify(String title) {
        // NFD splits "é" into "e" and a combining accent, which is then dropped.
        String ascii = COMBINING_MARKS.matcher(Normalizer.normalize(title, Normalizer.Form.NFD)).replaceAll("");
        String slug = NOT_SLUG.matcher(ascii.toLowerCase(Locale.ROOT)).replaceAll("-");
        slug = slug.replaceAll("^-+|-+$", "");
        if (slug.length() > MAX_LENGTH) slug = slug.substring(0, MAX_LENGTH).replaceAll("-+$", "");
        return slug.isEmpty() ? "untitled" : slug;
    }

    /** Appends -2, -3, ... until the slug is not taken. */
    public static String unique(String slug, Set<String> taken) {
        if (!taken.contains(slug)) return slug;
        for (int n = 2; ; n++) {
            String candidate = slug + "-" + n;
            if (!taken.contains(candidate)) return candidate;
        }
    }
}
