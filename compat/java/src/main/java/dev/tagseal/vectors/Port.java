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

  /**
   * Reads a serialized record: frame (SPEC.md §1: schema id or GUID, in the
   * value or, when header is not null, in the __value_schema_id header),
   * payload decryption, decode, field decryption.
   */
  Object read(byte[] payload, byte[] header) throws VectorError {
    byte[] frame = header != null ? header : payload;
    if (frame.length == 0) {
      throw new VectorError("ErrShortPayload", "empty payload");
    }
    int[] pos = {0};
    switch (frame[0]) {
      case 0 -> {
        if (frame.length < 5) {
          throw new VectorError("ErrShortPayload", "payload shorter than its frame");
        }
        int id = ByteBuffer.wrap(frame, 1, 4).getInt();
        if (id != record.path("id").asInt()) {
          throw new VectorError("ErrSchemaNotFound", "schema id " + id);
        }
        pos[0] = 5;
      }
      case 1 -> {
        if (frame.length < 17) {
          throw new VectorError("ErrShortPayload", "payload shorter than its GUID frame");
        }
        if (!Arrays.equals(Arrays.copyOfRange(frame, 1, 17), recordGuid())) {
          throw new VectorError("ErrSchemaNotFound", "schema GUID not registered");
        }
        pos[0] = 17;
      }
      default -> throw new VectorError("ErrUnknownMagicByte", String.format("magic byte 0x%02x", frame[0]));
    }
    int[] indexes = vector.path("format").asText().equals("PROTOBUF") ? readIndexes(frame, pos) : new int[0];
    Format f = format(false, indexes);
    byte[] body = header != null ? payload : Arrays.copyOfRange(payload, pos[0], payload.length);
    List<Rules.Rule> payloadRules = new Rules(record, false).payloadRules;
    for (int i = payloadRules.size() - 1; i >= 0; i--) {
      body = keys.open(payloadRules.get(i), body, "payload");
    }
    return f.transform(f.decode(body), this::open, false);
  }

  /** A written record: its value, and the __value_schema_id header (null unless guid-header). */
  record Written(byte[] value, byte[] header) {}

  /** Writes value: field encryption, encode, payload encryption, frame in the vector's framing. */
  Written write(Object value) throws VectorError {
    int[] indexes = vectorIndexes();
    Format f = format(true, indexes);
    byte[] body = f.encode(f.transform(value, this::seal, true));
    for (Rules.Rule r : new Rules(record, true).payloadRules) {
      body = keys.seal(r, body);
    }
    String framing = vector.path("framing").asText("id");
    ByteArrayOutputStream frame = new ByteArrayOutputStream();
    if (framing.equals("id") || framing.isEmpty()) {
      frame.write(0);
      frame.writeBytes(ByteBuffer.allocate(4).putInt(record.path("id").asInt()).array());
    } else {
      frame.write(1);
      frame.writeBytes(recordGuid());
    }
    if (vector.path("format").asText().equals("PROTOBUF")) {
      writeIndexes(frame, indexes);
    }
    if (framing.equals("guid-header")) {
      return new Written(body, frame.toByteArray());
    }
    frame.writeBytes(body);
    return new Written(frame.toByteArray(), null);
  }

  /** The record schema's GUID in RFC 4122 byte order. */
  private byte[] recordGuid() throws VectorError {
    try {
      java.util.UUID u = java.util.UUID.fromString(record.path("guid").asText());
      return ByteBuffer.allocate(16).putLong(u.getMostSignificantBits()).putLong(u.getLeastSignificantBits()).array();
    } catch (IllegalArgumentException e) {
      throw new VectorError("ErrSchemaNotFound", "the record schema has no GUID");
    }
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
