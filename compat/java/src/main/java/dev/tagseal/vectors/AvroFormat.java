package dev.tagseal.vectors;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.io.JsonEncoder;

/**
 * Avro (SPEC.md §4): every occurrence of a tagged field is walked, through
 * records, arrays, maps and unions, including named types used again and
 * recursive types; a tag reaches the string/bytes values below its field.
 */
final class AvroFormat implements Format {
  private final Schema schema;
  private final Rules rules;

  /** Parses the record's schema after its references (dependencies first). */
  AvroFormat(JsonNode schemas, Rules rules) {
    Schema.Parser parser = new Schema.Parser();
    Schema last = null;
    for (JsonNode s : schemas) {
      last = parser.parse(s.path("schema").asText());
    }
    this.schema = last;
    this.rules = rules;
  }

  @Override
  public Object decode(byte[] body) throws VectorError {
    try {
      return new GenericDatumReader<>(schema).read(null, DecoderFactory.get().binaryDecoder(body, null));
    } catch (IOException | AvroRuntimeException | IndexOutOfBoundsException | NegativeArraySizeException e) {
      throw new VectorError("ErrMalformedPayload", "body is not valid for the Avro schema");
    }
  }

  @Override
  public byte[] encode(Object value) throws VectorError {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    BinaryEncoder enc = EncoderFactory.get().binaryEncoder(out, null);
    try {
      new GenericDatumWriter<>(schema).write(value, enc);
      enc.flush();
    } catch (IOException | AvroRuntimeException e) {
      throw new VectorError("ErrEncode", "value does not fit the Avro schema", e);
    }
    return out.toByteArray();
  }

  @Override
  public Object fromPlaintext(String json) throws VectorError {
    try {
      return new GenericDatumReader<>(schema).read(null, DecoderFactory.get().jsonDecoder(schema, json));
    } catch (IOException | AvroRuntimeException e) {
      throw new VectorError("ErrEncode", "plaintext is not Avro JSON for the schema", e);
    }
  }

  /** Avro's JSON encoding: unions as {"branch": value}, bytes as ISO-8859-1 text. */
  @Override
  public String toPlaintext(Object value) throws VectorError {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      JsonEncoder enc = EncoderFactory.get().jsonEncoder(schema, out);
      new GenericDatumWriter<Object>(schema).write(value, enc);
      enc.flush();
      return out.toString(java.nio.charset.StandardCharsets.UTF_8);
    } catch (IOException | AvroRuntimeException e) {
      throw new VectorError("ErrEncode", "value does not fit the Avro schema", e);
    }
  }

  /** A type-level "confluent:tags" (on a schema, not a field) is not walked. */
  @Override
  public void checkPlaceable() throws VectorError {
    checkPlaceable(schema, "", new java.util.HashSet<>());
  }

  private void checkPlaceable(Schema s, String path, java.util.Set<String> seen) throws VectorError {
    if (s.getObjectProp("confluent:tags") instanceof List<?> tags
        && rules.selects(tags.stream().map(String::valueOf).toList())) {
      throw new VectorError("ErrUnplaceableTag", (path.isEmpty() ? s.getFullName() : path) + ": type-level confluent:tags");
    }
    switch (s.getType()) {
      case RECORD -> {
        if (seen.add(s.getFullName())) {
          for (Schema.Field f : s.getFields()) {
            checkPlaceable(f.schema(), s.getFullName() + "." + f.name(), seen);
          }
        }
      }
      case ARRAY -> checkPlaceable(s.getElementType(), path, seen);
      case MAP -> checkPlaceable(s.getValueType(), path, seen);
      case UNION -> {
        for (Schema t : s.getTypes()) {
          checkPlaceable(t, path, seen);
        }
      }
      default -> { }
    }
  }

  @Override
  public Object transform(Object value, Leaf leaf, boolean write) throws VectorError {
    return walk(schema, value, List.of(), "", leaf);
  }

  private void walkRecord(Schema s, GenericRecord rec, Leaf leaf) throws VectorError {
    for (Schema.Field f : s.getFields()) {
      String path = s.getFullName() + "." + f.name();
      List<Rules.Rule> applying = rules.forField(path, inlineTags(f));
      rec.put(f.pos(), walk(f.schema(), rec.get(f.pos()), applying, path, leaf));
    }
  }

  @SuppressWarnings("unchecked")
  private Object walk(Schema s, Object v, List<Rules.Rule> applying, String path, Leaf leaf) throws VectorError {
    if (v == null) {
      return null;
    }
    switch (s.getType()) {
      case RECORD -> walkRecord(s, (GenericRecord) v, leaf);
      case ARRAY -> {
        List<Object> list = (List<Object>) v;
        for (int i = 0; i < list.size(); i++) {
          list.set(i, walk(s.getElementType(), list.get(i), applying, path, leaf));
        }
      }
      case MAP -> {
        for (Map.Entry<Object, Object> e : ((Map<Object, Object>) v).entrySet()) {
          e.setValue(walk(s.getValueType(), e.getValue(), applying, path, leaf));
        }
      }
      case UNION -> {
        return walk(s.getTypes().get(GenericData.get().resolveUnion(s, v)), v, applying, path, leaf);
      }
      case STRING -> {
        return applying.isEmpty() ? v : leaf.apply(path, applying, v.toString());
      }
      case BYTES -> {
        if (applying.isEmpty()) {
          return v;
        }
        ByteBuffer buf = ((ByteBuffer) v).duplicate();
        byte[] b = new byte[buf.remaining()];
        buf.get(b);
        return ByteBuffer.wrap((byte[]) leaf.apply(path, applying, b));
      }
      default -> {
        if (!applying.isEmpty()) {
          throw new VectorError("ErrUnsupportedTaggedType", path + ": tagged " + s.getType() + " cannot carry ciphertext");
        }
      }
    }
    return v;
  }

  private static List<String> inlineTags(Schema.Field f) {
    List<String> out = new ArrayList<>();
    if (f.getObjectProp("confluent:tags") instanceof List<?> tags) {
      tags.forEach(t -> out.add(String.valueOf(t)));
    }
    return out;
  }
}
