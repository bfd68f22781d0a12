package dev.tagseal.vectors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * JSON Schema (SPEC.md §4): properties, items / prefixItems, $ref (local
 * pointers and registered references), allOf (each branch), oneOf (the first
 * branch the value validates against), anyOf (every such branch), and
 * additionalProperties values under the enclosing tags. Full names are "$"
 * plus ".name" per property level. Branch selection uses a small validator
 * (type, required, properties, additionalProperties false, combinators): the
 * part of JSON Schema the vectors' oneOf/anyOf need.
 */
final class JsonSchemaFormat implements Format {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  /** A schema node and the document its local $refs resolve against. */
  private record At(JsonNode node, JsonNode doc) {}

  private final JsonNode root;
  private final Map<String, JsonNode> references = new HashMap<>();
  private final Rules rules;

  JsonSchemaFormat(JsonNode schemas, Rules rules) throws VectorError {
    Map<String, String> nameOf = new HashMap<>();
    schemas.forEach(s -> s.path("references").forEach(r -> nameOf.put(r.path("subject").asText(), r.path("name").asText())));
    JsonNode last = null;
    for (JsonNode s : schemas) {
      last = parse(s.path("schema").asText(), "ErrInvalidSchema");
      references.put(nameOf.getOrDefault(s.path("subject").asText(), ""), last);
    }
    this.root = last;
    this.rules = rules;
  }

  private static JsonNode parse(String text, String errorClass) throws VectorError {
    try {
      return MAPPER.readTree(text);
    } catch (JsonProcessingException e) {
      throw new VectorError(errorClass, "not a JSON document");
    }
  }

  @Override
  public Object decode(byte[] body) throws VectorError {
    return parse(new String(body, StandardCharsets.UTF_8), "ErrMalformedPayload");
  }

  @Override
  public byte[] encode(Object value) throws VectorError {
    try {
      return MAPPER.writeValueAsBytes(value);
    } catch (JsonProcessingException e) {
      throw new VectorError("ErrEncode", "cannot write JSON", e);
    }
  }

  @Override
  public Object fromPlaintext(String json) throws VectorError {
    return parse(json, "ErrEncode");
  }

  @Override
  public String toPlaintext(Object value) {
    return value.toString();
  }

  /** Keywords whose subschemas the walk never applies to a value (SPEC.md §4). */
  private static final java.util.Set<String> UNWALKED = java.util.Set.of(
      "not", "propertyNames", "unevaluatedProperties", "unevaluatedItems", "contentSchema");

  /** A selected tag under a keyword the walk does not follow refuses the schema. */
  @Override
  public void checkPlaceable() throws VectorError {
    for (JsonNode doc : references.values()) {
      checkPlaceable(doc, "$", false);
    }
  }

  private void checkPlaceable(JsonNode s, String path, boolean unwalked) throws VectorError {
    if (s.isArray()) {
      for (JsonNode item : s) {
        checkPlaceable(item, path, unwalked);
      }
      return;
    }
    if (!s.isObject()) {
      return;
    }
    if (unwalked && s.has("confluent:tags")) {
      List<String> tags = new ArrayList<>();
      s.path("confluent:tags").forEach(t -> tags.add(t.asText()));
      if (rules.selects(tags)) {
        throw new VectorError("ErrUnplaceableTag", path + ": confluent:tags where no value is walked");
      }
    }
    Iterator<Map.Entry<String, JsonNode>> it = s.fields();
    while (it.hasNext()) {
      Map.Entry<String, JsonNode> e = it.next();
      boolean under = unwalked || UNWALKED.contains(e.getKey());
      checkPlaceable(e.getValue(), under && UNWALKED.contains(e.getKey()) ? path + "/" + e.getKey() : path, under);
    }
  }

  @Override
  public Object transform(Object value, Leaf leaf, boolean write) throws VectorError {
    return walk(new At(root, root), (JsonNode) value, "$", List.of(), leaf);
  }

  private JsonNode walk(At at, JsonNode value, String path, List<Rules.Rule> applying, Leaf leaf) throws VectorError {
    at = resolve(at);
    JsonNode s = at.node();
    if (value.isObject()) {
      ObjectNode obj = (ObjectNode) value;
      JsonNode props = s.path("properties");
      for (Iterator<String> it = obj.fieldNames(); it.hasNext(); ) {
        String name = it.next();
        JsonNode prop = props.get(name);
        if (prop != null) {
          String child = path + "." + name;
          obj.set(name, walk(new At(prop, at.doc()), obj.get(name), child, rules.forField(child, tagsOf(new At(prop, at.doc()))), leaf));
        } else if (s.path("additionalProperties").isObject()) {
          obj.set(name, walk(new At(s.get("additionalProperties"), at.doc()), obj.get(name), path, applying, leaf));
        }
      }
    } else if (value.isArray()) {
      ArrayNode arr = (ArrayNode) value;
      JsonNode prefix = s.has("prefixItems") ? s.get("prefixItems") : s.path("items").isArray() ? s.get("items") : null;
      for (int i = 0; i < arr.size(); i++) {
        JsonNode item = prefix != null && i < prefix.size() ? prefix.get(i) : s.path("items").isObject() ? s.get("items") : null;
        if (item != null) {
          arr.set(i, walk(new At(item, at.doc()), arr.get(i), path, applying, leaf));
        }
      }
    } else if (value.isTextual() && !applying.isEmpty()) {
      value = TextNode.valueOf((String) leaf.apply(path, applying, value.asText()));
    } else if (!value.isNull() && !value.isContainerNode() && !applying.isEmpty()) {
      throw new VectorError("ErrUnsupportedTaggedType", path + ": tagged " + value.getNodeType() + " cannot carry ciphertext");
    }
    for (JsonNode branch : s.path("allOf")) {
      value = walk(new At(branch, at.doc()), value, path, applying, leaf);
    }
    for (JsonNode branch : s.path("anyOf")) {
      if (validates(new At(branch, at.doc()), value)) {
        value = walk(new At(branch, at.doc()), value, path, applying, leaf);
      }
    }
    for (JsonNode branch : s.path("oneOf")) {
      if (validates(new At(branch, at.doc()), value)) {
        value = walk(new At(branch, at.doc()), value, path, applying, leaf);
        break;
      }
    }
    return value;
  }

  /** Follows $ref until a schema without one. */
  private At resolve(At at) throws VectorError {
    for (int hops = 0; at.node().has("$ref"); hops++) {
      if (hops > 32) {
        throw new VectorError("ErrInvalidSchema", "$ref cycle");
      }
      at = follow(at);
    }
    return at;
  }

  /** The schema one $ref points to: a local pointer, or a registered reference by name. */
  private At follow(At at) throws VectorError {
    String ref = at.node().get("$ref").asText();
    int hash = ref.indexOf('#');
    JsonNode doc = at.doc();
    if (hash != 0) {
      doc = references.get(hash < 0 ? ref : ref.substring(0, hash));
      if (doc == null) {
        throw new VectorError("ErrInvalidSchema", "unknown reference " + ref);
      }
    }
    JsonNode target = doc.at(hash < 0 ? "" : ref.substring(hash + 1));
    if (target.isMissingNode()) {
      throw new VectorError("ErrInvalidSchema", "unresolvable $ref " + ref);
    }
    return new At(target, doc);
  }

  /** confluent:tags of a property schema and of the $ref chain under it. */
  private List<String> tagsOf(At at) throws VectorError {
    List<String> tags = new ArrayList<>();
    for (int hops = 0; hops <= 32; hops++) {
      at.node().path("confluent:tags").forEach(t -> tags.add(t.asText()));
      if (!at.node().has("$ref")) {
        break;
      }
      at = follow(at);
    }
    return tags;
  }

  /** The small validator that picks oneOf/anyOf branches. */
  private boolean validates(At at, JsonNode v) throws VectorError {
    at = resolve(at);
    JsonNode s = at.node();
    if (s.has("type") && !typeMatches(s.get("type"), v)) {
      return false;
    }
    if (v.isObject()) {
      for (JsonNode req : s.path("required")) {
        if (!v.has(req.asText())) {
          return false;
        }
      }
      for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        JsonNode prop = s.path("properties").get(e.getKey());
        if (prop == null && s.path("additionalProperties").isBoolean() && !s.get("additionalProperties").asBoolean()) {
          return false;
        }
        if (prop != null && !validates(new At(prop, at.doc()), e.getValue())) {
          return false;
        }
      }
    }
    for (JsonNode b : s.path("allOf")) {
      if (!validates(new At(b, at.doc()), v)) {
        return false;
      }
    }
    if (s.has("anyOf") || s.has("oneOf")) {
      int matched = 0;
      for (JsonNode b : s.has("anyOf") ? s.get("anyOf") : s.get("oneOf")) {
        matched += validates(new At(b, at.doc()), v) ? 1 : 0;
      }
      if (matched == 0 || (s.has("oneOf") && matched != 1)) {
        return false;
      }
    }
    return true;
  }

  private static boolean typeMatches(JsonNode type, JsonNode v) {
    if (type.isArray()) {
      for (JsonNode t : type) {
        if (typeMatches(t, v)) {
          return true;
        }
      }
      return false;
    }
    return switch (type.asText()) {
      case "object" -> v.isObject();
      case "array" -> v.isArray();
      case "string" -> v.isTextual();
      case "integer" -> v.isIntegralNumber();
      case "number" -> v.isNumber();
      case "boolean" -> v.isBoolean();
      case "null" -> v.isNull();
      default -> true;
    };
  }
}
