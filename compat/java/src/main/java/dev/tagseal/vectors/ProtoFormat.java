package dev.tagseal.vectors;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.DescriptorProtos.DescriptorProto;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.DescriptorProtos.FileDescriptorSet;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.DescriptorValidationException;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Protobuf (SPEC.md §4): every field of the message, nested and imported
 * messages, repeated fields, oneof members and map values. Inline tags are
 * the confluent.field_meta option (extension 1088 of FieldOptions, Meta field
 * 3), read from the descriptor protos. On write, an unset tagged singular
 * string outside any oneof is written as the encryption of "".
 */
final class ProtoFormat implements Format {
  private static final int FIELD_META = 1088;
  private static final int META_TAGS = 3;

  private final Descriptor message;
  private final Map<String, List<String>> inlineTags = new HashMap<>();
  /** confluent.message_meta tags by message full name. */
  private final Map<String, List<String>> messageTags = new HashMap<>();
  /** Fields by message full name. */
  private final Map<String, List<String>> messageFields = new HashMap<>();
  private final Rules rules;

  /** Builds the files of the vector's descriptor set and selects the message at indexes. */
  ProtoFormat(String descriptorSet, int[] indexes, Rules rules) throws VectorError {
    this.rules = rules;
    Map<String, FileDescriptor> built = new HashMap<>();
    FileDescriptor root = null;
    try {
      for (FileDescriptorProto f : FileDescriptorSet.parseFrom(Base64.getDecoder().decode(descriptorSet)).getFileList()) {
        List<FileDescriptor> deps = new ArrayList<>();
        f.getDependencyList().forEach(d -> deps.add(built.get(d)));
        root = FileDescriptor.buildFrom(f, deps.toArray(new FileDescriptor[0]));
        built.put(f.getName(), root);
        String pkg = f.getPackage().isEmpty() ? "" : f.getPackage() + ".";
        for (DescriptorProto m : f.getMessageTypeList()) {
          collectTags(pkg + m.getName(), m);
        }
      }
    } catch (IOException | DescriptorValidationException e) {
      throw new VectorError("ErrInvalidSchema", "descriptor set", e);
    }
    if (indexes.length == 0 || indexes[0] < 0 || indexes[0] >= root.getMessageTypes().size()) {
      throw new VectorError("ErrMalformedPayload", "message index out of range");
    }
    Descriptor d = root.getMessageTypes().get(indexes[0]);
    for (int i = 1; i < indexes.length; i++) {
      if (indexes[i] < 0 || indexes[i] >= d.getNestedTypes().size()) {
        throw new VectorError("ErrMalformedPayload", "message index out of range");
      }
      d = d.getNestedTypes().get(indexes[i]);
    }
    this.message = d;
  }

  /** The tags of a confluent.*_meta option (extension 1088, Meta field 3). */
  private static List<String> metaTags(com.google.protobuf.UnknownFieldSet options) throws IOException {
    List<String> tags = new ArrayList<>();
    for (ByteString meta : options.getField(FIELD_META).getLengthDelimitedList()) {
      CodedInputStream in = meta.newCodedInput();
      for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
        if (tag >>> 3 == META_TAGS) {
          tags.add(in.readString());
        } else {
          in.skipField(tag);
        }
      }
    }
    return tags;
  }

  private void collectTags(String fullName, DescriptorProto m) throws IOException {
    List<String> fields = new ArrayList<>();
    for (FieldDescriptorProto f : m.getFieldList()) {
      inlineTags.put(fullName + "." + f.getName(), metaTags(f.getOptions().getUnknownFields()));
      fields.add(fullName + "." + f.getName());
    }
    messageFields.put(fullName, fields);
    messageTags.put(fullName, metaTags(m.getOptions().getUnknownFields()));
    for (DescriptorProto nested : m.getNestedTypeList()) {
      collectTags(fullName + "." + nested.getName(), nested);
    }
  }

  @Override
  public Object decode(byte[] body) throws VectorError {
    try {
      return DynamicMessage.parseFrom(message, body);
    } catch (InvalidProtocolBufferException e) {
      throw new VectorError("ErrMalformedPayload", "body is not a " + message.getFullName());
    }
  }

  @Override
  public byte[] encode(Object value) {
    return ((DynamicMessage) value).toByteArray();
  }

  @Override
  public Object fromPlaintext(String json) throws VectorError {
    DynamicMessage.Builder b = DynamicMessage.newBuilder(message);
    try {
      JsonFormat.parser().merge(json, b);
    } catch (InvalidProtocolBufferException e) {
      throw new VectorError("ErrEncode", "plaintext is not proto3 JSON for " + message.getFullName(), e);
    }
    return b.build();
  }

  /** proto3 JSON. */
  @Override
  public String toPlaintext(Object value) throws VectorError {
    try {
      return JsonFormat.printer().print((DynamicMessage) value);
    } catch (InvalidProtocolBufferException e) {
      throw new VectorError("ErrEncode", "cannot print " + message.getFullName() + " as proto3 JSON", e);
    }
  }

  /**
   * A message_meta tag a rule selects is refused unless that rule already
   * covers every field of the message (SPEC.md §4).
   */
  @Override
  public void checkPlaceable() throws VectorError {
    for (Map.Entry<String, List<String>> e : messageTags.entrySet()) {
      for (Rules.Rule r : rules.fieldRules) {
        if (r.tags().stream().noneMatch(e.getValue()::contains)) {
          continue;
        }
        for (String field : messageFields.get(e.getKey())) {
          if (!rules.forField(field, inlineTags.getOrDefault(field, List.of())).contains(r)) {
            throw new VectorError("ErrUnplaceableTag", e.getKey() + ": message_meta tags where rule " + r.name() + " does not cover " + field);
          }
        }
      }
    }
  }

  @Override
  public Object transform(Object value, Leaf leaf, boolean write) throws VectorError {
    return walk((DynamicMessage) value, leaf, write);
  }

  private DynamicMessage walk(DynamicMessage m, Leaf leaf, boolean write) throws VectorError {
    DynamicMessage.Builder b = m.toBuilder();
    for (FieldDescriptor fd : m.getDescriptorForType().getFields()) {
      List<Rules.Rule> applying = rules.forField(fd.getFullName(), inlineTags.getOrDefault(fd.getFullName(), List.of()));
      if (fd.isMapField()) {
        FieldDescriptor valueField = fd.getMessageType().findFieldByName("value");
        List<Object> entries = new ArrayList<>();
        for (Object e : (List<?>) m.getField(fd)) {
          DynamicMessage entry = (DynamicMessage) e;
          entries.add(entry.toBuilder().setField(valueField, value(fd, valueField, entry.getField(valueField), applying, leaf, write)).build());
        }
        b.setField(fd, entries);
      } else if (fd.isRepeated()) {
        List<Object> items = new ArrayList<>();
        for (Object item : (List<?>) m.getField(fd)) {
          items.add(value(fd, fd, item, applying, leaf, write));
        }
        b.setField(fd, items);
      } else if (m.hasField(fd)) {
        b.setField(fd, value(fd, fd, m.getField(fd), applying, leaf, write));
      } else if (write && !applying.isEmpty() && fd.getJavaType() == FieldDescriptor.JavaType.STRING && fd.getRealContainingOneof() == null) {
        b.setField(fd, leaf.apply(fd.getFullName(), applying, ""));
      }
    }
    return b.build();
  }

  /** One value of field (typed by valueField: the field itself, or a map's value). */
  private Object value(FieldDescriptor field, FieldDescriptor valueField, Object v, List<Rules.Rule> applying, Leaf leaf, boolean write)
      throws VectorError {
    switch (valueField.getJavaType()) {
      case MESSAGE:
        return walk((DynamicMessage) v, leaf, write);
      case STRING:
        return applying.isEmpty() ? v : leaf.apply(field.getFullName(), applying, (String) v);
      case BYTE_STRING:
        return applying.isEmpty() ? v : ByteString.copyFrom((byte[]) leaf.apply(field.getFullName(), applying, ((ByteString) v).toByteArray()));
      default:
        if (!applying.isEmpty()) {
          throw new VectorError("ErrUnsupportedTaggedType", field.getFullName() + ": tagged " + valueField.getJavaType() + " cannot carry ciphertext");
        }
        return v;
    }
  }
}
