// Requests arrive as raw bytes (gRPC "raw" callback methods) so the server, not gRPC, decides what a bad one
// gets. The proto's ids are `string` fields, which protobuf requires to be valid UTF-8: parsed by gRPC, a
// non-UTF-8 id became INTERNAL (or UNIMPLEMENTED) with an empty message. Parsed here, it becomes
// INVALID_ARGUMENT naming the field and index ("events[3].user_id: not valid UTF-8"), as the contract says.
#pragma once

#include <string>

#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/status.h"

namespace gpt4rec::server {

// Parses `buffer` into `message`. OK, or INVALID_ARGUMENT naming the first string field that is not valid UTF-8
// (path like "events[3].item_id"), or INVALID_ARGUMENT "malformed request" for bytes that are no such message.
grpc::Status ParseRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message* message);

// The message's wire form as a ByteBuffer (for a raw method's response).
void SerializeReply(const google::protobuf::Message& message, grpc::ByteBuffer* buffer);

// The path of the first string field (recursively, through sub-messages) whose bytes are not valid UTF-8, or
// "" when there is none. `wire` is the serialized message of type `descriptor`.
std::string FirstInvalidUtf8Field(const std::string& wire, const google::protobuf::Descriptor* descriptor);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool IsValidUtf8(const std::string& s);

}  // namespace gpt4rec::server
