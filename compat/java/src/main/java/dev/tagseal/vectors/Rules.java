package dev.tagseal.vectors;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A schema's encryption rules (SPEC.md §2-3): which rules run in a direction,
 * and which of them apply to a field given its full name and inline tags.
 *
 * <p>Covers what the vectors use: ENCRYPT domain rules with tags, one
 * ENCRYPT_PAYLOAD encoding rule, modes, disabled rules, parameters with the
 * metadata.properties fallback. Not ported: same-tag precedence and
 * onFailure NONE (every vector rule fails with ERROR).
 */
final class Rules {
  /** One ENCRYPT or ENCRYPT_PAYLOAD rule. */
  record Rule(String name, Set<String> tags, String kek, String algorithm, int expiryDays) {
    boolean rotates() {
      return expiryDays > 0;
    }
  }

  final List<Rule> fieldRules = new ArrayList<>();
  final List<Rule> payloadRules = new ArrayList<>();
  private final Map<Pattern, List<String>> metadataTags = new java.util.LinkedHashMap<>();

  /** Rules of schema (a vector's schema entry) that run when writing (or reading). */
  Rules(JsonNode schema, boolean write) {
    JsonNode props = schema.path("metadata").path("properties");
    schema.path("metadata").path("tags").fields().forEachRemaining(e -> {
      List<String> tags = new ArrayList<>();
      e.getValue().forEach(t -> tags.add(t.asText()));
      metadataTags.put(wildcard(e.getKey()), tags);
    });
    JsonNode ruleSet = schema.path("ruleSet");
    add(ruleSet.path("domainRules"), "ENCRYPT", props, write, fieldRules);
    add(ruleSet.path("encodingRules"), "ENCRYPT_PAYLOAD", props, write, payloadRules);
  }

  private static void add(JsonNode rules, String type, JsonNode props, boolean write, List<Rule> out) {
    for (JsonNode r : rules) {
      String mode = r.path("mode").asText();
      boolean runs = write ? mode.equals("WRITE") || mode.equals("WRITEREAD") : mode.equals("READ") || mode.equals("WRITEREAD");
      if (!type.equals(r.path("type").asText()) || !r.path("kind").asText().equals("TRANSFORM") || r.path("disabled").asBoolean() || !runs) {
        continue;
      }
      Set<String> tags = new HashSet<>();
      r.path("tags").forEach(t -> tags.add(t.asText()));
      String expiry = param(r, props, "encrypt.dek.expiry.days", "0");
      out.add(new Rule(r.path("name").asText(), tags, param(r, props, "encrypt.kek.name", ""),
          param(r, props, "encrypt.dek.algorithm", "AES256_GCM"), Integer.parseInt(expiry)));
    }
  }

  private static String param(JsonNode rule, JsonNode props, String name, String fallback) {
    JsonNode v = rule.path("params").path(name);
    if (v.isMissingNode()) {
      v = props.path(name);
    }
    return v.isMissingNode() ? fallback : v.asText();
  }

  /** The field rules that apply to a field, in declaration order. */
  /** Whether a field rule names one of the tags (an unplaceable tag matters only then). */
  boolean selects(Collection<String> tags) {
    return fieldRules.stream().anyMatch(r -> r.tags().stream().anyMatch(tags::contains));
  }

  List<Rule> forField(String fullName, Collection<String> inlineTags) {
    Set<String> tags = new HashSet<>(inlineTags);
    metadataTags.forEach((pattern, t) -> {
      if (pattern.matcher(fullName).matches()) {
        tags.addAll(t);
      }
    });
    List<Rule> out = new ArrayList<>();
    for (Rule r : fieldRules) {
      if (r.tags().isEmpty() || r.tags().stream().anyMatch(tags::contains)) {
        out.add(r);
      }
    }
    return out;
  }

  /** A metadata.tags pattern: ? one non-dot character, * a run without dots, ** any run. */
  static Pattern wildcard(String glob) {
    glob = glob.replace("**.*", "**");
    StringBuilder re = new StringBuilder();
    for (int i = 0; i < glob.length(); i++) {
      char c = glob.charAt(i);
      if (c == '*' && i + 1 < glob.length() && glob.charAt(i + 1) == '*') {
        re.append(".*");
        i++;
      } else if (c == '*') {
        re.append("[^.]*");
      } else if (c == '?') {
        re.append("[^.]");
      } else {
        re.append(Pattern.quote(String.valueOf(c)));
      }
    }
    return Pattern.compile(re.toString());
  }
}
