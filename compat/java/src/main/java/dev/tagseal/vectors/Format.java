package dev.tagseal.vectors;

import java.util.List;

/** What the port needs from a schema format: codec, plaintext, and the walk over tagged values. */
interface Format {
  /** Receives each tagged string (String) or bytes (byte[]) value with the rules that apply. */
  interface Leaf {
    Object apply(String path, List<Rules.Rule> rules, Object value) throws VectorError;
  }

  /** Decodes a record body (after the frame). Malformed bytes are ErrMalformedPayload. */
  Object decode(byte[] body) throws VectorError;

  byte[] encode(Object value) throws VectorError;

  /** Parses a vector's plaintext JSON into the format's value. */
  Object fromPlaintext(String json) throws VectorError;

  /**
   * Refuses the schema (ErrUnplaceableTag) when a rule selects a tag at a
   * position the walk does not reach (SPEC.md §3, fail closed).
   */
  void checkPlaceable() throws VectorError;

  /** Rewrites, in place where it can, every tagged value; returns the value. */
  Object transform(Object value, Leaf leaf, boolean write) throws VectorError;

  /** A value as the vector's plaintext JSON text (SPEC §9 conventions). */
  String toPlaintext(Object value) throws VectorError;
}
