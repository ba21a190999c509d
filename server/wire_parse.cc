#include "server/wire_parse.h"

#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace gpt4rec::server {
namespace {
using google::protobuf::FieldDescriptor;
using google::protobuf::internal::WireFormatLite;

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  size_t total = 0;
  for (const auto& s : slices) total += s.size();
  out.reserve(total);
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

// Walks the wire format field by field; `prefix` is the path of the message being walked ("" at the top).
// Returns false when the bytes do not parse as wire format at all.
bool Walk(const std::string& wire, const google::protobuf::Descriptor* descriptor, const std::string& prefix,
          std::string* found) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(wire.data()),
                                            static_cast<int>(wire.size()));
  std::map<int, int> seen;  // field number -> occurrences so far (the index of a repeated field)
  for (;;) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return true;
    const int number = WireFormatLite::GetTagFieldNumber(tag);
    const FieldDescriptor* field = descriptor->FindFieldByNumber(number);
    if (field == nullptr || WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED ||
        (field->type() != FieldDescriptor::TYPE_STRING && field->type() != FieldDescriptor::TYPE_MESSAGE)) {
      if (!WireFormatLite::SkipField(&in, tag)) return false;
      continue;
    }
    const int index = seen[number]++;
    uint32_t length = 0;
    std::string bytes;
    if (!in.ReadVarint32(&length) || !in.ReadString(&bytes, static_cast<int>(length))) return false;
    std::string path = prefix.empty() ? field->name() : absl::StrCat(prefix, ".", field->name());
    if (field->is_repeated()) absl::StrAppend(&path, "[", index, "]");
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      if (!IsValidUtf8(bytes)) {
        *found = path;
        return true;
      }
    } else {
      if (!Walk(bytes, field->message_type(), path, found)) return false;
      if (!found->empty()) return true;
    }
  }
}

}  // namespace

bool IsValidUtf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (int j = 1; j < len; ++j) {
      if ((p[i + j] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + j] & 0x3F);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

std::string FirstInvalidUtf8Field(const std::string& wire, const google::protobuf::Descriptor* descriptor) {
  std::string found;
  Walk(wire, descriptor, "", &found);
  return found;
}

grpc::Status ParseRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) {
  const std::string wire = Flatten(buffer);
  if (message->ParseFromString(wire)) return grpc::Status::OK;
  const std::string field = FirstInvalidUtf8Field(wire, message->GetDescriptor());
  if (!field.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat(field, ": not valid UTF-8 (ids are protobuf strings: UTF-8 text)"));
  }
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      absl::StrCat("malformed request: not a ", message->GetDescriptor()->full_name()));
}

void SerializeReply(const google::protobuf::Message& message, grpc::ByteBuffer* buffer) {
  const std::string wire = message.SerializeAsString();
  grpc::Slice slice(wire);
  *buffer = grpc::ByteBuffer(&slice, 1);
}

}  // namespace gpt4rec::server
