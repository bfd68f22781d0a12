package dev.tagseal.vectors;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;

/**
 * The SPEC's read and write paths for one vector: framing (SPEC.md §1),
 * rules, field and payload encryption, over the vector's schemas and keys.
 */
final class Port {
  private final JsonNode vector;
  private final JsonNode record;
  private final Keys keys;

  Port(JsonNode vector) {
    this.vector = vector;
    JsonNode schemas = vector.path("schemas");
    this.record = schemas.get(schemas.size() - 1);
    this.keys = new Keys(vector);
  }

  /** The record's format, reading (write false) or writing, for Protobuf message indexes. */
  Format format(boolean write, int[] indexes) throws VectorError {
    Rules rules = new Rules(record, write);
    Format f = switch (vector.path("format").asText()) {
      case "AVRO" -> new AvroFormat(vector.path("schemas"), rules);
      case "JSON" -> new JsonSchemaFormat(vector.path("schemas"), rules);
      case "PROTOBUF" -> new ProtoFormat(vector.path("protoDescriptorSet").asText(), indexes, rules);
      default -> throw new VectorError("ErrUnsupportedFormat", vector.path("format").asText());
    };
    f.checkPlaceable();
    return f;
  }

  /** The vector's plaintext as a value of the format. */
  Object plaintext() throws VectorError {
    return format(true, vectorIndexes()).fromPlaintext(vector.path("plaintext").toString());
  }

  /** A value read from a record as plaintext JSON text, in the vector's conventions. */
  String toPlaintext(Object got) throws VectorError {
    return format(true, vectorIndexes()).toPlaintext(got);
  }

  /** Reads a serialized record: frame, payload decryption, decode, field decryption. */
  Object read(byte[] payload) throws VectorError {
    if (payload.length == 0) {
      throw new VectorError("ErrShortPayload", "empty payload");
    }
    if (payload[0] != 0) {
      throw new VectorError("ErrUnknownMagicByte", String.format("magic byte 0x%02x", payload[0]));
    }
    if (payload.length < 5) {
      throw new VectorError("ErrShortPayload", "payload shorter than its frame");
    }
    int id = ByteBuffer.wrap(payload, 1, 4).getInt();
    if (id != record.path("id").asInt()) {
      throw new VectorError("ErrSchemaNotFound", "schema id " + id);
    }
    int[] pos = {5};
    int[] indexes = vector.path("format").asText().equals("PROTOBUF") ? readIndexes(payload, pos) : new int[0];
    Format f = format(false, indexes);
    byte[] body = Arrays.copyOfRange(payload, pos[0], payload.length);
    List<Rules.Rule> payloadRules = new Rules(record, false).payloadRules;
    for (int i = payloadRules.size() - 1; i >= 0; i--) {
      body = keys.open(payloadRules.get(i), body, "payload");
    }
    return f.transform(f.decode(body), this::open, false);
  }

  /** Writes value: field encryption, encode, payload encryption, frame. */
  byte[] write(Object value) throws VectorError {
    int[] indexes = vectorIndexes();
    Format f = format(true, indexes);
    byte[] body = f.encode(f.transform(value, this::seal, true));
    for (Rules.Rule r : new Rules(record, true).payloadRules) {
      body = keys.seal(r, body);
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(0);
    out.writeBytes(ByteBuffer.allocate(4).putInt(record.path("id").asInt()).array());
    if (vector.path("format").asText().equals("PROTOBUF")) {
      writeIndexes(out, indexes);
    }
    out.writeBytes(body);
    return out.toByteArray();
  }

  private Object seal(String path, List<Rules.Rule> rules, Object value) throws VectorError {
    for (Rules.Rule r : rules) {
      value = value instanceof String s ? keys.sealString(r, s) : keys.seal(r, (byte[]) value);
    }
    return value;
  }

  private Object open(String path, List<Rules.Rule> rules, Object value) throws VectorError {
    for (int i = rules.size() - 1; i >= 0; i--) {
      Rules.Rule r = rules.get(i);
      value = value instanceof String s ? keys.openString(r, s, path) : keys.open(r, (byte[]) value, path);
    }
    return value;
  }

  private int[] vectorIndexes() {
    JsonNode idx = vector.path("messageIndexes");
    int[] out = new int[idx.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = idx.get(i).asInt();
    }
    return out;
  }

  /** Message indexes: a zig-zag varint count, then that many; count 0 means [0]. */
  private static int[] readIndexes(byte[] p, int[] pos) throws VectorError {
    int n = (int) readZigZag(p, pos);
    if (n == 0) {
      return new int[] {0};
    }
    if (n < 0 || n > p.length) {
      throw new VectorError("ErrMalformedPayload", "bad message index count");
    }
    int[] out = new int[n];
    for (int i = 0; i < n; i++) {
      out[i] = (int) readZigZag(p, pos);
    }
    return out;
  }

  private static long readZigZag(byte[] p, int[] pos) throws VectorError {
    long v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos[0] >= p.length) {
        throw new VectorError("ErrMalformedPayload", "truncated message indexes");
      }
      byte b = p[pos[0]++];
      v |= (long) (b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        return (v >>> 1) ^ -(v & 1);
      }
    }
    throw new VectorError("ErrMalformedPayload", "varint too long");
  }

  private static void writeIndexes(ByteArrayOutputStream out, int[] indexes) {
    if (indexes.length == 1 && indexes[0] == 0) {
      out.write(0);
      return;
    }
    writeZigZag(out, indexes.length);
    for (int i : indexes) {
      writeZigZag(out, i);
    }
  }

  private static void writeZigZag(ByteArrayOutputStream out, long v) {
    long z = (v << 1) ^ (v >> 63);
    while ((z & ~0x7fL) != 0) {
      out.write((int) ((z & 0x7f) | 0x80));
      z >>>= 7;
    }
    out.write((int) z);
  }
}
